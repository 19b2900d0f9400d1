package redact

import (
	"strings"
	"testing"
)

func TestCmdline(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"/usr/sbin/nginx -g daemon off;", "/usr/sbin/nginx -g daemon off;"},
		{"app --password=hunter2 --port=80", "app --password=*** --port=80"},
		{"app --db-password hunter2 --verbose", "app --db-password *** --verbose"},
		{"app --token abc.def.ghi", "app --token ***"},
		{"app -token=abc", "app -token=***"},
		{"env PGPASSWORD=s3cr3t psql", "env PGPASSWORD=*** psql"},
		{"app --api-key=XYZ", "app --api-key=***"},
		{"app --apikey XYZ", "app --apikey ***"},
		{"app --client_secret 'a b c'", "app --client_secret ***"},
		{"app secret=abc other=1", "app secret=*** other=1"},
		{"worker --dsn postgres://bob:pa55@db:5432/app", "worker --dsn postgres://bob:***@db:5432/app"},
		{"curl https://user:pw@example.com/x", "curl https://user:***@example.com/x"},
		{"curl -H Authorization: Bearer eyJhbGciOi", "curl -H Authorization: Bearer ***"},
		{"mysql -u root -pTopSecret db", "mysql -u root -p*** db"},
		{"/usr/bin/mysqldump -u root -pTopSecret db", "/usr/bin/mysqldump -u root -p*** db"},
		{"python3 serve.py --port 8080", "python3 serve.py --port 8080"},
		{"sshd: bob [priv]", "sshd: bob [priv]"},
		{"java -Djavax.net.ssl.keyStorePassword=changeit -jar a.jar", "java -Djavax.net.ssl.keyStorePassword=*** -jar a.jar"},
	}
	for _, tt := range tests {
		if got := Cmdline(tt.in); got != tt.want {
			t.Errorf("Cmdline(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCmdlineNeverLeaks(t *testing.T) {
	const secret = "Zq9secretvalue"
	for _, f := range []string{"--password=%s", "--password %s", "--token=%s", "--token %s", "PASSWORD=%s", "--secret %s", "https://u:%s@h/", "-p%s"} {
		in := "mysql " + strings.Replace(f, "%s", secret, 1)
		if got := Cmdline(in); strings.Contains(got, secret) {
			t.Errorf("Cmdline(%q) = %q still contains the secret", in, got)
		}
	}
}
