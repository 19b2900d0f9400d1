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

// Tokens with a published format, long enough to be taken for one.
const (
	ghToken    = "ghp_R2d2C3poBb8Luke0Leia1Han2Solo3Yoda4"
	vaultToken = "hvs.CAESIJx7Qm1tZ2Vyb3dzX2ZvcmV2ZXIuGh4KHGh2cy5h"
	legacyTok  = "s.Xq3Lm9Pw2Rt8Yk4Zc7Vb1Nd6"
)

// TestCmdlinePrograms covers, program by program, secrets passed as an
// operand or after an option that only that program gives a secret
// meaning, and the look-alikes that must stay.
func TestCmdlinePrograms(t *testing.T) {
	type tc struct {
		argv []string // NUL-joined as on Linux; nil to skip
		win  string   // the same command as a Windows string; "" to skip
		want string
	}
	tests := map[string][]tc{
		"docker": {
			{[]string{"docker", "login", "-u", "bob", "-p", "hunter25"}, "docker login -u bob -p hunter25", "docker login -u bob -p ***"},
			{[]string{"/usr/bin/docker", "--config", "/etc/d", "login", "-u", "bob", "-phunter25", "reg.example.com"}, "", "/usr/bin/docker --config /etc/d login -u bob -p*** reg.example.com"},
			{[]string{"docker", "login", "--username", "bob", "--password", "hunter25"}, "", "docker login --username bob --password ***"},
			{[]string{"docker", "login", "--password=hunter25", "-u=bob"}, "", "docker login --password=*** -u=bob"},
			{[]string{"docker", "login", "-u", "bob", "--password-stdin", "reg.example.com"}, "", "docker login -u bob --password-stdin reg.example.com"},
			{[]string{"docker", "run", "-p", "8080:80", "-e", "A=b", "nginx"}, "", "docker run -p 8080:80 -e A=b nginx"},
		},
		"podman nerdctl buildah": {
			{[]string{"podman", "login", "-u", "bob", "-p", "hunter25", "quay.io"}, "", "podman login -u bob -p *** quay.io"},
			{[]string{"podman", "run", "-p", "80:80", "img"}, "", "podman run -p 80:80 img"},
			{[]string{"nerdctl", "login", "-p", "hunter25", "-u", "bob"}, "", "nerdctl login -p *** -u bob"},
			{[]string{"buildah", "login", "--password", "hunter25", "reg"}, "", "buildah login --password *** reg"},
		},
		"helm oras skopeo": {
			{[]string{"helm", "registry", "login", "reg", "-u", "bob", "-p", "hunter25"}, "", "helm registry login reg -u bob -p ***"},
			{[]string{"helm", "repo", "add", "r", "https://c.example.com", "--username", "bob", "--password", "hunter25"}, "", "helm repo add r https://c.example.com --username bob --password ***"},
			{[]string{"oras", "login", "-u", "bob", "-p", "hunter25", "reg"}, "", "oras login -u bob -p *** reg"},
			{[]string{"skopeo", "login", "-u", "bob", "-p", "hunter25", "reg"}, "", "skopeo login -u bob -p *** reg"},
			{[]string{"skopeo", "copy", "--src-creds", "bob:hunter25", "docker://a", "dir:/b"}, "", "skopeo copy --src-creds *** docker://a dir:/b"},
		},
		"vault": {
			{[]string{"vault", "login", legacyTok}, "vault login " + legacyTok, "vault login ***"},
			{[]string{"vault", "login", "-no-print", "-address", "https://v:8200", "opaque-token-value"}, "", "vault login -no-print -address https://v:8200 ***"},
			{[]string{"vault", "login", "-method=userpass", "username=bob", "password=hunter25"}, "", "vault login -method=userpass username=bob password=***"},
			{[]string{"vault", "login", "-method", "userpass", "username=bob"}, "", "vault login -method userpass username=bob"},
			{[]string{"vault", "login", "-"}, "", "vault login -"},
			{[]string{"vault", "kv", "get", "-mount=secret", "app"}, "", "vault kv get -mount=secret app"},
			{[]string{"app", "--vault-header", vaultToken}, "", "app --vault-header hvs.***"},
			{[]string{"app", legacyTok + ",x"}, "", "app s.***,x"},
			{[]string{"python3", "s.py", "s.abcdefghijklmnopqrstuvwx", "a.s.Xq3Lm9Pw2Rt8Yk4Zc7Vb1Nd6"}, "", "python3 s.py s.abcdefghijklmnopqrstuvwx a.s.Xq3Lm9Pw2Rt8Yk4Zc7Vb1Nd6"},
		},
		"private keys": {
			{[]string{"az", "x", "--private-key-data", "QkFTRTY0a2V5"}, "", "az x --private-key-data ***"},
			{[]string{"app", "--private-key=LS0tLS1CRUdJTg", "--client-key-data=QUJD", "--ssh-key-base64", "QUJD"}, "", "app --private-key=*** --client-key-data=*** --ssh-key-base64 ***"},
			{[]string{"app", "--tls-private-key-file=/k", "--private-key-id", "abc", "--key-data-dir", "/d"}, "", "app --tls-private-key-file=/k --private-key-id abc --key-data-dir /d"},
		},
		"aws": {
			{[]string{"aws", "configure", "set", "aws_secret_access_key", "wJalrXUtnFEMI"}, "", "aws configure set aws_secret_access_key ***"},
			{[]string{"aws", "configure", "set", "profile.dev.aws_session_token", "FwoGZX", "--profile", "dev"}, "", "aws configure set profile.dev.aws_session_token *** --profile dev"},
			{[]string{"aws", "configure", "set", "region", "eu-west-1"}, "", "aws configure set region eu-west-1"},
			{[]string{"aws", "configure", "set", "aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"}, "", "aws configure set aws_access_key_id AKIA***"},
			{[]string{"app", "--secret-access-key", "wJalrXUtnFEMI"}, "", "app --secret-access-key ***"},
		},
		"npm": {
			{[]string{"npm", "config", "set", "//registry.npmjs.org/:_authToken", "abc123"}, "", "npm config set //registry.npmjs.org/:_authToken ***"},
			{[]string{"npm", "config", "set", "//r.example.com/:_authToken=abc123"}, "", "npm config set //r.example.com/:_authToken=***"},
			{[]string{"npm", "config", "set", "color", "false"}, "", "npm config set color false"},
		},
		"kubectl": {
			{[]string{"kubectl", "--token", "abc", "get", "pods"}, "kubectl --token abc get pods", "kubectl --token *** get pods"},
			{[]string{"kubectl", "--server=https://k:6443", "--token=abc", "get", "pods"}, "", "kubectl --server=https://k:6443 --token=*** get pods"},
			{[]string{"kubectl", "config", "set-credentials", "bob", "--token=abc", "--password", "pw"}, "", "kubectl config set-credentials bob --token=*** --password ***"},
		},
		"curl": {
			{[]string{"curl", "-u", "bob:hunter25", "https://x"}, "curl -u bob:hunter25 https://x", "curl -u bob:*** https://x"},
			{[]string{"curl", "--user", "bob:hunter25", "https://x"}, "", "curl --user bob:*** https://x"},
		},
		"sshpass": {
			{[]string{"sshpass", "-p", "hunter25", "ssh", "h"}, "", "sshpass -p *** ssh h"},
		},
		"mysql": {
			{[]string{"mysql", "--password=hunter25", "-pX", "db"}, "", "mysql --password=*** -p*** db"},
		},
		"redis-cli": {
			{[]string{"redis-cli", "-a", "hunter25", "--pass", "x", "-u", "redis://:pw@h:6379"}, "", "redis-cli -a *** --pass *** -u redis://:***@h:6379"},
		},
		"htpasswd": {
			{[]string{"htpasswd", "-b", "/etc/htpasswd", "bob", "hunter25"}, "", "htpasswd -b /etc/htpasswd bob ***"},
		},
		"openssl": {
			{[]string{"openssl", "pkcs12", "-export", "-passin", "pass:a", "-passout", "pass:b"}, "", "openssl pkcs12 -export -passin pass:*** -passout pass:***"},
			{[]string{"openssl", "enc", "-aes-256-cbc", "-k", "hunter25"}, "", "openssl enc -aes-256-cbc -k ***"},
		},
		"net": {
			{nil, `net user bob P@ssw0rd /add`, `net user bob *** /add`},
			{nil, `C:\Windows\System32\net.exe use Z: \\srv\share P@ssw0rd /user:dom\bob`, `C:\Windows\System32\net.exe use Z: \\srv\share *** /user:dom\bob`},
			{nil, `net use \\srv\share * /user:bob`, `net use \\srv\share * /user:bob`},
			{nil, `net user bob`, `net user bob`},
			{nil, `net start spooler`, `net start spooler`},
		},
		"psexec": {
			{nil, `PsExec64.exe \\h -u bob -p P@ssw0rd cmd /c dir`, `PsExec64.exe \\h -u bob -p *** cmd /c dir`},
		},
		"tokens anywhere": {
			{[]string{"app", "--label=" + ghToken}, "", "app --label=ghp_***"},
			{[]string{"gh", "api", "-H", "X-Custom: " + ghToken}, "", "gh api -H X-Custom: ghp_***"},
			{[]string{"sh", "-c", "export GH=github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz; run"}, "", "sh -c export GH=github_pat_***; run"},
			{[]string{"app", "glpat-abcdefghij0123456789"}, "", "app glpat-***"},
			{[]string{"notify", "xoxb-1234-5678-abcdefghij", "xoxp-1234-5678-abcdefghij"}, "", "notify xoxb-*** xoxp-***"},
			{[]string{"app", "--id", "AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE"}, "", "app --id AKIA*** ASIA***"},
			{[]string{"app", "ghp_short", "xoxb-1", "AKIAIOSFODNN7EXAMPLEX", "ASIAN-FOOD", "sghp_R2d2C3poBb8Luke0Leia1Han2Solo3Yoda4"}, "", "app ghp_short xoxb-1 AKIAIOSFODNN7EXAMPLEX ASIAN-FOOD sghp_R2d2C3poBb8Luke0Leia1Han2Solo3Yoda4"},
		},
	}
	for prog, cases := range tests {
		t.Run(prog, func(t *testing.T) {
			for _, tt := range cases {
				if tt.argv != nil {
					if got := Cmdline(argv(tt.argv...)); got != tt.want {
						t.Errorf("Cmdline(%q) = %q, want %q", argv(tt.argv...), got, tt.want)
					}
				}
				if tt.win != "" {
					if got := Cmdline(tt.win); got != tt.want {
						t.Errorf("Cmdline(%q) = %q, want %q", tt.win, got, tt.want)
					}
				}
			}
		})
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
		"private-key-data": true, "client-key-data": true, "sshKeyBase64": true,
		"password-stdin": false, "key-data-dir": false, "private-key-file": false, "private-key-id": false,
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
		{argv: []string{"docker", "login", "-u", "bob", "-p", "%s"}},
		{argv: []string{"podman", "login", "-p%s", "quay.io"}},
		{argv: []string{"helm", "registry", "login", "-p", "%s", "reg"}},
		{argv: []string{"vault", "login", "%s"}},
		{argv: []string{"az", "--private-key-data", "%s"}},
		{argv: []string{"aws", "configure", "set", "aws_secret_access_key", "%s"}},
		{argv: []string{"npm", "config", "set", "//r/:_authToken", "%s"}},
		{argv: []string{"kubectl", "--token", "%s", "get", "pods"}},
		{win: `net user bob "%s" /add`},
		{win: `net use Z: \\srv\share "%s"`},
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
