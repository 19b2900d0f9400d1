package redact

import (
	"fmt"
	"strings"
	"testing"
)

// argv joins arguments as /proc/PID/cmdline does.
func argv(a ...string) string { return strings.Join(a, "\x00") }

func TestCmdline(t *testing.T) {
	tests := []struct {
		name string
		argv []string // NUL-joined as on Linux; nil to skip
		win  string   // the same command as a Windows string; "" to skip
		want string
	}{
		{"empty", nil, "", ""},
		{"multi-word value", []string{"app", "--password", "correct horse battery staple"}, `app --password "correct horse battery staple"`, "app --password ***"},
		{"assignment with blank", []string{"app", "--db-password=a b"}, `app "--db-password=a b"`, "app --db-password=***"},
		{"env with blank", []string{"env", "PGPASSWORD=two words", "psql"}, `env "PGPASSWORD=two words" psql`, "env PGPASSWORD=*** psql"},
		{"value starting with dash", []string{"app", "--password", "-Xyz", "--token", "-abc"}, "app --password -Xyz --token -abc", "app --password *** --token ***"},
		{"single dash option", []string{"app", "-password", "x", "-token=y"}, "app -password x -token=y", "app -password *** -token=***"},
		{"secret words", []string{"app", "--api-key", "a", "--secret", "b", "--client-secret", "c", "--auth", "d", "--credentials", "e", "--passphrase", "f"}, "", "app --api-key *** --secret *** --client-secret *** --auth *** --credentials *** --passphrase ***"},
		{"pw jwt bearer", []string{"app", "--pw", "a", "--jwt", "b", "--bearer", "c"}, "app --pw a --jwt b --bearer c", "app --pw *** --jwt *** --bearer ***"},
		{"key names", []string{"app", "--key", "a", "--access-key", "b", "--secret-key", "c", "--private-key", "d", "-Djavax.net.ssl.keyStorePassword=e"}, "", "app --key *** --access-key *** --secret-key *** --private-key *** -Djavax.net.ssl.keyStorePassword=***"},
		{"colon assignment", []string{"app", "token:abc", "/password:x"}, "app token:abc /password:x", "app token:*** /password:***"},
		{"env secrets", []string{"env", "MYSQL_PWD=a", "AWS_SECRET_ACCESS_KEY=b", "GITHUB_TOKEN=c", "app"}, "", "env MYSQL_PWD=*** AWS_SECRET_ACCESS_KEY=*** GITHUB_TOKEN=*** app"},
		{"curl -u", []string{"curl", "-u", "admin:pw", "https://x"}, "curl -u admin:pw https://x", "curl -u admin:*** https://x"},
		{"curl --user", []string{"curl", "--user", "admin:pw"}, "curl --user admin:pw", "curl --user admin:***"},
		{"curl attached and clustered", []string{"curl", "-uadmin:pw", "-su", "bob:pw2", "--user=carl:pw3"}, "", "curl -uadmin:*** -su bob:*** --user=carl:***"},
		{"curl api key as user", []string{"curl", "-u", "sk_live_abc:", "https://api"}, "", "curl -u ***: https://api"},
		{"curl user only prompts", []string{"curl", "-u", "admin", "https://x"}, "", "curl -u admin https://x"},
		{"url password", []string{"worker", "--dsn", "postgres://bob:pa55@db:5432/app"}, "", "worker --dsn postgres://bob:***@db:5432/app"},
		{"url token only", []string{"git", "clone", "https://ghp_xxx@github.com/o/r.git"}, "git clone https://ghp_xxx@github.com/o/r.git", "git clone https://***@github.com/o/r.git"},
		{"url ssh user kept", []string{"git", "clone", "ssh://git@github.com/o/r.git"}, "", "git clone ssh://git@github.com/o/r.git"},
		{"url without host", []string{"app", "https://a@/x"}, "", "app https://a@/x"},
		{"go mysql dsn", []string{"mysqld_exporter", "--dsn=bob:pw@tcp(db:3306)/x"}, "", "mysqld_exporter --dsn=bob:***@tcp(db:3306)/x"},
		{"authorization header", []string{"curl", "-H", "Authorization: Bearer eyJabc", "https://x"}, `curl -H "Authorization: Bearer eyJabc" https://x`, "curl -H Authorization: Bearer *** https://x"},
		{"authorization split", nil, "curl -H Authorization: Basic dXNlcg== https://x", "curl -H Authorization: Basic *** https://x"},
		{"api key header", []string{"curl", "-H", "X-Api-Key: abc"}, "", "curl -H X-Api-Key: ***"},
		{"json keys", []string{"java", `-Dspring.application.json={"db":{"password":"x","user":"u"}}`, "-jar", "a.jar"}, `java "-Dspring.application.json={\"db\":{\"password\":\"x\",\"user\":\"u\"}}" -jar a.jar`, `java -Dspring.application.json={"db":{"password":"***","user":"u"}} -jar a.jar`},
		{"json object value", []string{"app", `--config={"credentials": {"u": "a", "p": "b"}, "x": 1}`}, "", `app --config={"credentials": ***, "x": 1}`},
		{"mysql attached", []string{"mysql", "-u", "root", "-pTopSecret", "db"}, "mysql -u root -pTopSecret db", "mysql -u root -p*** db"},
		{"mysql prompt", []string{"/usr/bin/mysqldump", "-u", "root", "-p", "db"}, "", "/usr/bin/mysqldump -u root -p db"},
		{"mysql long", []string{"mariadb", "--password=a b", "db"}, "", "mariadb --password=*** db"},
		{"mysql after sudo", []string{"sudo", "-u", "bob", "mysql", "-pX"}, "", "sudo -u bob mysql -p***"},
		{"windows mysql exe", nil, `"C:\Program Files\MySQL\bin\mysql.exe" -uroot -pX`, `C:\Program Files\MySQL\bin\mysql.exe -uroot -p***`},
		{"sshpass", []string{"sshpass", "-p", "X", "ssh", "-p", "2222", "host"}, "sshpass -p X ssh -p 2222 host", "sshpass -p *** ssh -p 2222 host"},
		{"sshpass attached", []string{"sshpass", "-P", "assword", "-pX", "ssh", "host"}, "", "sshpass -P assword -p*** ssh host"},
		{"redis-cli", []string{"redis-cli", "-h", "r", "-a", "X", "ping"}, "redis-cli -h r -a X ping", "redis-cli -h r -a *** ping"},
		{"redis-server", []string{"redis-server", "--requirepass", "X", "--masterauth", "Y"}, "", "redis-server --requirepass *** --masterauth ***"},
		{"openssl -k", []string{"openssl", "enc", "-aes256", "-k", "X"}, "openssl enc -aes256 -k X", "openssl enc -aes256 -k ***"},
		{"openssl pass args", []string{"openssl", "pkcs12", "-passin", "pass:X", "-passout", "file:/p", "-pass", "env:V", "-password", "raw"}, "", "openssl pkcs12 -passin pass:*** -passout file:/p -pass env:V -password ***"},
		{"htpasswd", []string{"htpasswd", "-b", "/etc/nginx/htpasswd", "user", "X"}, "htpasswd -b /etc/nginx/htpasswd user X", "htpasswd -b /etc/nginx/htpasswd user ***"},
		{"htpasswd -nb", []string{"htpasswd", "-nbB", "user", "X"}, "", "htpasswd -nbB user ***"},
		{"htpasswd cost", []string{"htpasswd", "-bBC", "10", "f", "user", "X"}, "", "htpasswd -bBC 10 f user ***"},
		{"htpasswd prompt", []string{"htpasswd", "-c", "f", "user"}, "", "htpasswd -c f user"},
		{"ldap", []string{"ldapsearch", "-x", "-D", "cn=admin", "-w", "X"}, "", "ldapsearch -x -D cn=admin -w ***"},
		{"smbclient", []string{"smbclient", "//h/s", "-U", "bob%X"}, "", "smbclient //h/s -U bob%***"},
		{"java property", []string{"java", "-Ddb.password=x", "-Dkey=y", "-Dapp.name=z"}, "", "java -Ddb.password=*** -Dkey=*** -Dapp.name=z"},
		{"shell script", []string{"sh", "-c", "mysql -u root -p'a b' db && curl -u u:p x"}, "", "sh -c mysql -u root -p*** db && curl -u u:*** x"},
		{"shell script flag", []string{"bash", "-c", "exec app --token 'a b' --port 80"}, "", "bash -c exec app --token *** --port 80"},
		{"shell quoted in quoted", []string{"ssh", "h", `su -c 'mysql -pX'`}, "", `ssh h su -c 'mysql -p***'`},
		{"query string", []string{"curl", "https://h/p?access_token=abc&x=1"}, "", "curl https://h/p?access_token=***"},
		{"windows backslashes", nil, `app "a\\\"b" c\\d "e f\\" --token=x`, `app a\"b c\\d e f\ --token=***`},

		// Left untouched.
		{"nginx", []string{"nginx", "-g", "daemon off;"}, "", "nginx -g daemon off;"},
		{"nginx title", nil, "nginx: master process /usr/sbin/nginx -g daemon off;", "nginx: master process /usr/sbin/nginx -g daemon off;"},
		{"keyboard", []string{"app", "--keyboard-layout", "us"}, "app --keyboard-layout us", "app --keyboard-layout us"},
		{"not key words", []string{"app", "--monkey", "a", "--hotkey", "b", "--passes", "3", "--authors", "c", "--key-size", "2048", "--auth-mode", "d", "--tokenizer", "e"}, "", "app --monkey a --hotkey b --passes 3 --authors c --key-size 2048 --auth-mode d --tokenizer e"},
		{"port", []string{"python3", "serve.py", "--port", "8080"}, "python3 serve.py --port 8080", "python3 serve.py --port 8080"},
		{"sshd title", nil, "sshd: bob [priv]", "sshd: bob [priv]"},
		{"python module", []string{"python3", "-m", "http.server"}, "python3 -m http.server", "python3 -m http.server"},
		{"dockerd", []string{"/usr/bin/dockerd", "-H", "fd://"}, "/usr/bin/dockerd -H fd://", "/usr/bin/dockerd -H fd://"},
		{"scp style git", []string{"git", "clone", "git@github.com:o/r.git"}, "git clone git@github.com:o/r.git", "git clone git@github.com:o/r.git"},
		{"sshd option", []string{"/usr/sbin/sshd", "-D", "-o", "AuthorizedKeysFile=.ssh/authorized_keys"}, "", "/usr/sbin/sshd -D -o AuthorizedKeysFile=.ssh/authorized_keys"},
		{"volume path", []string{"docker", "run", "-v", "/run/secrets:/run/secrets", "img"}, "", "docker run -v /run/secrets:/run/secrets img"},
		{"kube", []string{"kube-apiserver", "--authorization-mode=Node,RBAC", "--service-account-key-file=/k"}, "", "kube-apiserver --authorization-mode=Node,RBAC --service-account-key-file=/k"},
		{"kernel thread", nil, "[kworker/0:1-events]", "[kworker/0:1-events]"},
		{"image digest", []string{"docker", "run", "nginx:1.25@sha256:abc"}, "", "docker run nginx:1.25@sha256:abc"},
	}
	for _, tt := range tests {
		if tt.argv != nil {
			in := argv(tt.argv...)
			if got := Cmdline(in); got != tt.want {
				t.Errorf("%s: Cmdline(%q) = %q, want %q", tt.name, in, got, tt.want)
			}
		}
		if tt.win != "" || tt.argv == nil {
			if got := Cmdline(tt.win); got != tt.want {
				t.Errorf("%s: Cmdline(%q) = %q, want %q", tt.name, tt.win, got, tt.want)
			}
		}
	}
}

func TestSplitWindows(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"  app  a\tb  ", []string{"app", "a", "b"}},
		{`"C:\Program Files\a.exe" x`, []string{`C:\Program Files\a.exe`, "x"}},
		{`"C:\dir\" x`, []string{`C:\dir\`, "x"}}, // backslashes are literal in the program name
		{`app "b c" d`, []string{"app", "b c", "d"}},
		{`app a\\"b c" d`, []string{"app", `a\b c`, "d"}}, // 2n backslashes: n, and the quote groups
		{`app a\\\"b c`, []string{"app", `a\"b`, "c"}},    // 2n+1: n and a literal quote
		{`app a\\b`, []string{"app", `a\\b`}},             // not before a quote: literal
		{`app "" x`, []string{"app", "", "x"}},
		{`app "a""b c"`, []string{"app", `a"b c`}},
		{`app "open`, []string{"app", "open"}},
	}
	for _, tt := range tests {
		got := splitWindows(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitWindows(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "db-password": true, "PGPASSWORD": true, "MYSQL_PWD": true, "keyStorePassword": true,
		"AWS_SECRET_ACCESS_KEY": true, "apiKey": true, "APIKey": true, "api_key": true, "key": true, "client_secret": true,
		"token2": true, "secrets": true, "credentials": true, "requirepass": true, "storepass": true, "pass": true,
		"Authorization": true, "Proxy-Authorization": true, "basic-auth": true, "session-cookie": true,
		"keyboard-layout": false, "monkey": false, "hotkey": false, "passes": false, "authors": false,
		"key-file": false, "bypass": false, "port": false, "secretary": false, "tokenizer": false, "": false,
	} {
		if got := secretName(name); got != want {
			t.Errorf("secretName(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestCmdlineNeverLeaks checks, for each shape a secret takes on a command
// line, that neither the secret nor any of its words survives.
func TestCmdlineNeverLeaks(t *testing.T) {
	shapes := []struct {
		argv []string // %s is replaced by the secret
		win  string
	}{
		{argv: []string{"app", "--password", "%s"}},
		{argv: []string{"app", "--password=%s"}},
		{argv: []string{"app", "-password", "%s"}},
		{argv: []string{"app", "--db-password", "%s"}},
		{argv: []string{"app", "--api-key", "%s"}},
		{argv: []string{"app", "--token", "-%s"}},
		{argv: []string{"app", "--client_secret=%s"}},
		{argv: []string{"app", "--pw", "%s"}},
		{argv: []string{"app", "--jwt", "%s"}},
		{argv: []string{"app", "--bearer", "%s"}},
		{argv: []string{"env", "PGPASSWORD=%s", "psql"}},
		{argv: []string{"env", "MYSQL_PWD=%s", "mysql"}},
		{argv: []string{"env", "AWS_SECRET_ACCESS_KEY=%s", "aws"}},
		{argv: []string{"psql", "postgres://bob:%s@db/app"}},
		{argv: []string{"git", "clone", "https://%s@github.com/o/r"}},
		{argv: []string{"curl", "-H", "Authorization: Bearer %s"}},
		{argv: []string{"curl", "-u", "admin:%s"}},
		{argv: []string{"curl", "--user", "admin:%s"}},
		{argv: []string{"mysql", "-u", "root", "-p%s"}},
		{argv: []string{"java", `-Dspring.application.json={"db":{"password":"%s"}}`}},
		{argv: []string{"java", "-Ddb.password=%s"}},
		{argv: []string{"sshpass", "-p", "%s", "ssh", "h"}},
		{argv: []string{"redis-cli", "-a", "%s"}},
		{argv: []string{"openssl", "enc", "-k", "%s"}},
		{argv: []string{"openssl", "enc", "-pass", "pass:%s"}},
		{argv: []string{"htpasswd", "-b", "/etc/htpasswd", "user", "%s"}},
		{argv: []string{"sh", "-c", "mysql -u root -p'%s' db"}},
		{argv: []string{"bash", "-c", "curl -u admin:'%s' https://x"}},
		{argv: []string{"kubectl", "create", "secret", "generic", "s", "--from-literal=password=%s"}},
		{argv: []string{"app", "--config", `{"token": "%s"}`}},
		{win: `app.exe --password "%s"`},
		{win: `app.exe "/password:%s"`},
		{win: `"C:\Program Files\curl.exe" -u "admin:%s" https://x`},
	}
	secrets := []string{"Zq9xK2vLw7", "Pf3-Hm8 Rt1Yc6", "Wd4 Nb7 Qs2Jx5"}
	for _, sh := range shapes {
		for _, secret := range secrets {
			var in string
			if sh.argv != nil {
				a := make([]string, len(sh.argv))
				for i, s := range sh.argv {
					a[i] = strings.ReplaceAll(s, "%s", secret)
				}
				in = argv(a...)
			} else {
				in = strings.ReplaceAll(sh.win, "%s", secret)
			}
			got := Cmdline(in)
			for _, w := range append(strings.Fields(secret), secret) {
				if strings.Contains(got, w) {
					t.Errorf("Cmdline(%q) = %q leaks %q", in, got, w)
				}
			}
		}
	}
}

func FuzzCmdline(f *testing.F) {
	for _, s := range []string{
		argv("app", "--password", "a b"),
		argv("curl", "-u", "a:b", "https://t@h/"),
		`"C:\x y\a.exe" "a\\\"b" --token=x`,
		argv("sh", "-c", `mysql -p'x' && htpasswd -nb u "p"`),
		`{"password":"x","a":[{"token":1}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := Cmdline(s); strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("Cmdline(%q) = %q contains a NUL", s, got)
		}
	})
}

// benchCmdlines builds about 300 command lines shaped like those on a busy
// Linux host: daemons, language runtimes with long class paths, containers,
// shells, and a minority carrying secrets.
func benchCmdlines() []string {
	classpath := make([]string, 120)
	for i := range classpath {
		classpath[i] = fmt.Sprintf("/opt/app/lib/dependency-%d.jar", i)
	}
	templates := [][]string{
		{"/usr/lib/systemd/systemd", "--switched-root", "--system", "--deserialize", "31"},
		{"/usr/sbin/sshd", "-D", "-o", "AuthorizedKeysFile=.ssh/authorized_keys"},
		{"/usr/bin/containerd"},
		{"/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"},
		{"nginx: worker process"},
		{"postgres: bob app 10.0.0.%d(5432) idle"},
		{"/usr/bin/python3", "-m", "gunicorn", "app:app", "--workers", "%d", "--bind", "0.0.0.0:8000"},
		{"/usr/bin/java", "-Xmx2g", "-Dapp.name=svc%d", "-Djavax.net.ssl.keyStorePassword=changeit", "-cp", strings.Join(classpath, ":"), "com.example.Main"},
		{"/usr/bin/node", "/srv/app/server.js", "--port", "30%02d"},
		{"kube-apiserver", "--advertise-address=10.0.0.%d", "--authorization-mode=Node,RBAC", "--client-ca-file=/etc/kubernetes/pki/ca.crt", "--etcd-servers=https://127.0.0.1:2379", "--service-account-key-file=/etc/kubernetes/pki/sa.pub", "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key"},
		{"/opt/google/chrome/chrome", "--type=renderer", "--field-trial-handle=3,i,%d,262144", "--enable-features=A,B,C", "--lang=en-US"},
		{"mysqld_exporter", "--config.my-cnf=/etc/.my.cnf", "--web.listen-address=:91%02d"},
		{"bash", "-c", "while true; do curl -s -u admin:hunter%d https://h/health; sleep 5; done"},
		{"app", "--db-password", "s3cret%d", "--dsn", "postgres://bob:pw@db:5432/app", "--log-level", "info"},
		{"redis-server *:63%02d"},
	}
	var out []string
	for i := 0; len(out) < 300; i++ {
		tpl := templates[i%len(templates)]
		a := make([]string, len(tpl))
		for j, s := range tpl {
			if strings.Contains(s, "%") {
				s = fmt.Sprintf(s, i)
			}
			a[j] = s
		}
		if i%10 == 0 {
			out = append(out, strings.Join(a, " ")) // a rewritten title or a Windows string
		} else {
			out = append(out, argv(a...))
		}
	}
	return out
}

func BenchmarkCmdline(b *testing.B) {
	lines := benchCmdlines()
	var bytes int64
	for _, l := range lines {
		bytes += int64(len(l))
	}
	b.SetBytes(bytes / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		Cmdline(lines[i%len(lines)])
	}
}
