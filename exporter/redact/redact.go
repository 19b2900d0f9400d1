// Package redact hides secrets in process command lines before they leave
// the host. Command lines routinely carry passwords (mysql -p..., --token,
// DSNs with credentials), and snapshots are archived for months.
package redact

import "strings"

// Mask replaces every redacted value, so readers of a snapshot can tell a
// hidden value from an empty one.
const Mask = "***"

// maxDepth bounds how far Cmdline looks into arguments that are themselves
// command lines (sh -c "...", ssh host "..."), so hostile input cannot make
// it recurse without end.
const maxDepth = 3

// maxName bounds how far back a name=value rule looks for the name, which
// keeps the scan linear on arguments such as long class paths.
const maxName = 128

// Cmdline returns the command line s with secret values replaced by Mask,
// keeping option names so an operator still sees which option was set.
//
// s holds NUL-separated arguments when the OS provides argv (Linux
// /proc/PID/cmdline with trailing NULs trimmed); without a NUL it is read as
// one Windows-style string and split the way CommandLineToArgvW does. Rules
// work per argument, so a multi-word value or one starting with '-' is
// hidden whole. The result joins the arguments with single spaces, the form
// snapshots display, and never contains a NUL.
func Cmdline(s string) string {
	if s == "" {
		return ""
	}
	var args []string
	if strings.IndexByte(s, 0) >= 0 {
		args = strings.Split(s, "\x00")
	} else {
		args = splitWindows(s)
	}
	redactArgs(args, 0)
	return strings.Join(args, " ")
}

// pending says what to do with the argument that follows an option whose
// value is a secret.
type pending uint8

const (
	keepNext         pending = iota
	maskNext                 // the whole argument is the secret
	maskNextAuth             // an HTTP auth scheme (Bearer, Basic...) may come first and stays visible
	maskNextPassword         // user:password (curl -u): the user stays visible
	maskNextPercent          // user%password (smbclient -U)
	maskNextPassArg          // OpenSSL pass phrase argument: only pass:x holds the secret
	skipNext                 // a harmless option value that must not be read as an operand
)

// redactArgs redacts args in place. Program rules run first, then the
// generic option, name=value, URL and JSON rules.
func redactArgs(args []string, depth int) {
	var st progState
	next := keepNext
	for i, a := range args {
		if next != keepNext {
			args[i], next = applyPending(next, a)
			continue
		}
		if st.prog != progNone {
			if out, n, ok := st.option(a); ok {
				args[i], next = out, n
				continue
			}
		}
		if p := programOf(a); p != progNone {
			if p != st.prog {
				st = progState{prog: p}
			}
			continue
		}
		args[i], next = redactArg(a, depth)
	}
}

func applyPending(p pending, a string) (string, pending) {
	switch p {
	case maskNextAuth:
		if n, alone := authScheme(a); n > 0 && alone {
			return a, maskNext
		}
		return Mask, keepNext
	case maskNextPassword:
		return maskAfter(a, ':'), keepNext
	case maskNextPercent:
		return maskAfter(a, '%'), keepNext
	case maskNextPassArg:
		return passArg(a), keepNext
	case skipNext:
		return a, keepNext
	}
	return Mask, keepNext
}

// maskAfter hides what follows the first sep, keeping the user name before
// it. A credential with nothing after sep (curl -u sk_live_x:, as API keys
// are often passed) is itself the secret.
func maskAfter(a string, sep byte) string {
	i := strings.IndexByte(a, sep)
	switch {
	case i < 0:
		return a
	case i == len(a)-1:
		return Mask + a[i:]
	}
	return a[:i+1] + Mask
}

// passArg masks an OpenSSL pass phrase argument. file:, env:, fd: and stdin
// name where the secret is, not the secret, so they stay visible.
func passArg(a string) string {
	if strings.HasPrefix(a, "pass:") {
		return "pass:" + Mask
	}
	if a == "stdin" || strings.HasPrefix(a, "file:") || strings.HasPrefix(a, "env:") || strings.HasPrefix(a, "fd:") {
		return a
	}
	return Mask
}

// redactArg applies the generic rules to one argument.
func redactArg(a string, depth int) (string, pending) {
	if len(a) > 1 && a[0] == '-' {
		if name := strings.TrimLeft(a, "-"); name != "" && isName(name) {
			if secretName(name) {
				return a, nextFor(name)
			}
			return a, keepNext
		}
	}
	out, next := redactInline(a)
	if depth < maxDepth && hasSpace(out) {
		out = redactNested(out, depth+1)
	}
	return out, next
}

func nextFor(name string) pending {
	if hasSuffixFold(name, "authorization") {
		return maskNextAuth
	}
	return maskNext
}

// redactInline applies the rules that find a secret inside one argument.
func redactInline(a string) (string, pending) {
	a = maskTokens(a)
	if strings.Contains(a, "://") {
		a = maskURLs(a)
	}
	if strings.Contains(a, "@tcp(") || strings.Contains(a, "@unix(") {
		a = maskDSN(a)
	}
	if strings.IndexByte(a, '=') >= 0 || strings.IndexByte(a, ':') >= 0 {
		return maskAssignments(a)
	}
	return a, keepNext
}

// maskURLs hides the password, or a lone token, in URL userinfo:
// scheme://user:pass@host and scheme://token@host. A lone user name over
// ssh is a login, not a secret, and stays visible.
func maskURLs(a string) string {
	var out strings.Builder
	last := 0
	for off := 0; off < len(a); {
		i := strings.Index(a[off:], "://")
		if i < 0 {
			break
		}
		i += off
		host := i + 3
		off = host
		s := i
		for s > 0 && isSchemeByte(a[s-1]) {
			s--
		}
		if s == i {
			continue
		}
		// A URL that is the whole argument or value is one URL even if
		// its userinfo holds blanks (an unencoded password).
		whole := s == 0 || a[s-1] == '='
		e, at := host, -1
		for e < len(a) && !(isAuthorityEnd(a[e]) && !(whole && isSpace(a[e]))) {
			if a[e] == '@' {
				at = e
			}
			e++
		}
		off = e
		if at < 0 || at+1 == e {
			continue
		}
		start := host
		if c := strings.IndexByte(a[host:at], ':'); c >= 0 {
			start = host + c + 1
		} else if keepsUser(a[s:i]) {
			continue
		}
		if start == at {
			continue
		}
		out.WriteString(a[last:start])
		out.WriteString(Mask)
		last = at
	}
	if last == 0 {
		return a
	}
	out.WriteString(a[last:])
	return out.String()
}

func keepsUser(scheme string) bool {
	for _, s := range []string{"ssh", "sftp", "scp", "rsync", "git+ssh", "ssh+git"} {
		if strings.EqualFold(scheme, s) {
			return true
		}
	}
	return false
}

// maskDSN hides the password in Go MySQL driver DSNs, which have no scheme:
// user:password@tcp(host:3306)/db.
func maskDSN(a string) string {
	var out strings.Builder
	last := 0
	for i := 0; i < len(a); i++ {
		if a[i] != '@' || !(strings.HasPrefix(a[i+1:], "tcp(") || strings.HasPrefix(a[i+1:], "unix(")) {
			continue
		}
		s := i
		for s > last && !isSpace(a[s-1]) && a[s-1] != '=' && a[s-1] != '"' && a[s-1] != '\'' && a[s-1] != '@' {
			s--
		}
		c := strings.IndexByte(a[s:i], ':')
		if c < 0 || s+c+1 == i {
			continue
		}
		out.WriteString(a[last : s+c+1])
		out.WriteString(Mask)
		last = i
	}
	if last == 0 {
		return a
	}
	out.WriteString(a[last:])
	return out.String()
}

// maskAssignments hides the value of name=value, name:value and JSON-ish
// "name": value where the name is secret. A bare name masks the rest of the
// argument, whatever it holds; a quoted JSON key masks just its value so the
// rest of the document still reads.
func maskAssignments(a string) (string, pending) {
	var out strings.Builder
	last := 0
	result := func() string {
		if last == 0 {
			return a
		}
		out.WriteString(a[last:])
		return out.String()
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c != '=' && c != ':' {
			continue
		}
		if c == ':' && strings.HasPrefix(a[i+1:], "//") {
			continue
		}
		j := i
		for j > 0 && (a[j-1] == ' ' || a[j-1] == '\t') {
			j--
		}
		if j > 0 && (a[j-1] == '"' || a[j-1] == '\'') {
			from := max(0, j-1-maxName)
			k := strings.LastIndexByte(a[from:j-1], a[j-1])
			if k < 0 {
				continue
			}
			if key := a[from+k+1 : j-1]; key == "" || !isName(key) || !secretName(key) {
				continue
			}
			vs, ve := jsonValue(a, i+1)
			if vs == ve {
				continue
			}
			out.WriteString(a[last:vs])
			out.WriteString(Mask)
			last = ve
			i = ve - 1
			continue
		}
		k := i
		for k > 0 && i-k < maxName && isNameByte(a[k-1]) {
			k--
		}
		if k == i || k > 1 && (a[k-1] == '/' || a[k-1] == '\\') {
			continue
		}
		name := a[k:i]
		if k == 0 && strings.HasPrefix(name, "-D") {
			name = name[2:]
		}
		if name = strings.TrimLeft(name, "-"); name == "" || !secretName(name) {
			continue
		}
		v := i + 1
		for v < len(a) && (a[v] == ' ' || a[v] == '\t') {
			v++
		}
		if v == len(a) {
			return result(), nextFor(name)
		}
		if n, alone := authScheme(a[v:]); n > 0 {
			if alone {
				return result(), maskNext
			}
			v += n
		}
		out.WriteString(a[last:v])
		out.WriteString(Mask)
		last = len(a)
		return out.String(), keepNext
	}
	return result(), keepNext
}

// jsonValue returns the span to mask for the JSON value starting at p: the
// inside of a string, a whole object or array, or a bare scalar.
func jsonValue(a string, p int) (int, int) {
	for p < len(a) && (a[p] == ' ' || a[p] == '\t') {
		p++
	}
	if p == len(a) {
		return p, p
	}
	switch q := a[p]; q {
	case '"', '\'':
		for e := p + 1; e < len(a); e++ {
			switch a[e] {
			case '\\':
				e++
			case q:
				return p + 1, e
			}
		}
		return p + 1, len(a)
	case '{', '[':
		depth := 0
		var inStr byte
		for e := p; e < len(a); e++ {
			c := a[e]
			switch {
			case inStr != 0 && c == '\\':
				e++
			case inStr != 0:
				if c == inStr {
					inStr = 0
				}
			case c == '"' || c == '\'':
				inStr = c
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				if depth--; depth == 0 {
					return p, e + 1
				}
			}
		}
		return p, len(a)
	}
	e := p
	for e < len(a) && !strings.ContainsRune(",}] \t", rune(a[e])) {
		e++
	}
	return p, e
}

// authScheme reports the length of an HTTP auth scheme word and the blanks
// after it at the start of v, and whether the scheme is all there is.
func authScheme(v string) (n int, alone bool) {
	for _, s := range []string{"bearer", "basic", "token", "digest", "negotiate", "ntlm"} {
		if len(v) < len(s) || !strings.EqualFold(v[:len(s)], s) {
			continue
		}
		if len(v) == len(s) {
			return len(s), true
		}
		n = len(s)
		for n < len(v) && (v[n] == ' ' || v[n] == '\t') {
			n++
		}
		if n == len(s) {
			return 0, false
		}
		return n, n == len(v)
	}
	return 0, false
}

// redactNested treats an argument that contains blanks as a command line of
// its own (sh -c "mysql -pX", ssh host "curl -u a:b ..."), splitting it the
// way a shell groups quotes, and rewrites only the words that change so the
// rest keeps its spacing and quoting.
func redactNested(s string, depth int) string {
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		if inner := redactWords(s[1:len(s)-1], depth); inner != s[1:len(s)-1] {
			return s[:1] + inner + s[len(s)-1:]
		}
		return s
	}
	return redactWords(s, depth)
}

// redactWords splits s into shell words and redacts them as arguments.
func redactWords(s string, depth int) string {
	type span struct{ start, end int }
	var spans []span
	for i := 0; i < len(s); {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		var quote byte
		for ; i < len(s); i++ {
			c := s[i]
			if quote != 0 {
				if c == quote {
					quote = 0
				} else if c == '\\' && quote == '"' {
					i++
				}
				continue
			}
			if c == '"' || c == '\'' {
				quote = c
			} else if c == '\\' {
				i++
			} else if isSpace(c) {
				break
			}
		}
		i = min(i, len(s))
		spans = append(spans, span{start, i})
	}
	words := make([]string, len(spans))
	for k, sp := range spans {
		words[k] = s[sp.start:sp.end]
	}
	redactArgs(words, depth)
	var out strings.Builder
	last := 0
	for k, sp := range spans {
		if words[k] == s[sp.start:sp.end] {
			continue
		}
		out.WriteString(s[last:sp.start])
		out.WriteString(words[k])
		last = sp.end
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

// splitWindows splits a command line as CommandLineToArgvW and the C
// runtime do: blanks separate arguments, double quotes group them, 2n
// backslashes before a quote become n and the quote delimits, 2n+1 become n
// and a literal quote, "" inside quotes is a literal quote. The program name
// is special: quotes group it and backslashes are literal.
func splitWindows(s string) []string {
	args := make([]string, 0, 8)
	i := skipBlanks(s, 0)
	if i < len(s) {
		start, quoted := i, false
		var buf []byte
		for ; i < len(s); i++ {
			c := s[i]
			if c == '"' {
				if buf == nil {
					buf = append(make([]byte, 0, 64), s[start:i]...)
				}
				quoted = !quoted
				continue
			}
			if !quoted && isBlank(c) {
				break
			}
			if buf != nil {
				buf = append(buf, c)
			}
		}
		if buf == nil {
			args = append(args, s[start:i])
		} else {
			args = append(args, string(buf))
		}
	}
	for {
		if i = skipBlanks(s, i); i >= len(s) {
			return args
		}
		var arg string
		arg, i = windowsArg(s, i)
		args = append(args, arg)
	}
}

func windowsArg(s string, i int) (string, int) {
	j := i
	for j < len(s) && !isBlank(s[j]) && s[j] != '"' {
		j++
	}
	if j == len(s) || isBlank(s[j]) {
		return s[i:j], j
	}
	buf := make([]byte, 0, 32)
	quoted := false
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\\':
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				buf = append(buf, strings.Repeat(`\`, n/2)...)
				if n%2 == 1 {
					buf = append(buf, '"')
					i++
				}
			} else {
				buf = append(buf, strings.Repeat(`\`, n)...)
			}
		case c == '"':
			if quoted && i+1 < len(s) && s[i+1] == '"' {
				buf = append(buf, '"')
				i += 2
				continue
			}
			quoted = !quoted
			i++
		case !quoted && isBlank(c):
			return string(buf), i
		default:
			buf = append(buf, c)
			i++
		}
	}
	return string(buf), i
}

func skipBlanks(s string, i int) int {
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return i
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func hasSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if isSpace(s[i]) {
			return true
		}
	}
	return false
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

func isSchemeByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

func isAuthorityEnd(c byte) bool {
	switch c {
	case '/', '?', '#', ' ', '\t', '\n', '\r', '"', '\'', '<', '>':
		return true
	}
	return false
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// Secret names are matched on words: the name is split at '-', '_', '.' and
// camelCase boundaries, so keyStorePassword and AWS_SECRET_ACCESS_KEY match
// while --keyboard-layout, --monkey, --passes and --authors do not.
var (
	// strongWords mark a secret wherever they appear in a name, also as the
	// end of a longer word (PGPASSWORD, githubtoken) or in the plural.
	strongWords = []string{
		"password", "passwd", "passphrase", "secret", "token", "credential", "creds",
		"bearer", "jwt", "cookie", "pwd", "apikey", "accesskey", "privatekey",
		"authkey", "masterkey", "licensekey", "sshkey",
	}
	// weakWords mark a secret only as the last word of a name, where they are
	// the noun: --api-key holds a key, --key-file and --auth-mode do not.
	// Those ending in "pass" or "auth" also match as the end of a word
	// (requirepass, storepass, masterauth).
	weakWords = []string{"key", "pw", "sig", "authorization"}
	// notPass end in "pass" without being a password.
	notPass = []string{"bypass", "compass", "multipass", "overpass", "surpass", "trespass", "onepass", "twopass"}
)

// secretName reports whether an option or variable name holds a secret.
func secretName(name string) bool {
	if hasSuffixFold(name, "stdin") && (len(name) == 5 || isWordSep(name[len(name)-6])) {
		return false // --password-stdin: a switch, the secret comes on stdin
	}
	lastWeak := false
	keyData := 0 // 1 after the word key, 2 when only data words followed it
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) && !isWordSep(name[i]) && !camelBoundary(name, i) {
			continue
		}
		if i > start {
			w := name[start:i]
			strong, weak := classifyWord(w)
			if strong {
				return true
			}
			lastWeak = weak
			switch {
			case strings.EqualFold(w, "key"):
				keyData = 1
			case keyData > 0 && isDataWord(w):
				keyData = 2
			default:
				keyData = 0
			}
		}
		start = i
		if i < len(name) && isWordSep(name[i]) {
			start = i + 1
		}
	}
	return lastWeak || keyData == 2
}

// dataWords follow "key" in the names of options that take the key itself
// rather than a file holding it: --private-key-data, --client-key-base64.
var dataWords = []string{"data", "content", "contents", "base64", "b64", "pem", "material", "value", "string", "inline", "literal", "raw", "bytes"}

func isDataWord(w string) bool {
	for _, d := range dataWords {
		if strings.EqualFold(w, d) {
			return true
		}
	}
	return false
}

func isWordSep(c byte) bool { return c == '-' || c == '_' || c == '.' }

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }

func isLowerOrDigit(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// camelBoundary reports whether a new word starts at i: apiKey, APIKey.
func camelBoundary(s string, i int) bool {
	if i == 0 || !isUpper(s[i]) {
		return false
	}
	p := s[i-1]
	return isLowerOrDigit(p) || isUpper(p) && i+1 < len(s) && 'a' <= s[i+1] && s[i+1] <= 'z'
}

// classifyWord lower-cases the tail of w (suffixes are all that is
// compared) and reports whether it is a strong or a weak secret word.
func classifyWord(w string) (strong, weak bool) {
	for len(w) > 0 && '0' <= w[len(w)-1] && w[len(w)-1] <= '9' {
		w = w[:len(w)-1]
	}
	var buf [24]byte
	tail := w[max(0, len(w)-len(buf)):]
	for i := 0; i < len(tail); i++ {
		c := tail[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	lw := string(buf[:len(tail)])
	whole := len(tail) == len(w)
	single := strings.TrimSuffix(lw, "s")
	for _, s := range strongWords {
		if strings.HasSuffix(lw, s) || strings.HasSuffix(single, s) {
			return true, false
		}
	}
	if !whole {
		return false, false
	}
	for _, s := range weakWords {
		if lw == s {
			return false, true
		}
	}
	if strings.HasSuffix(lw, "auth") {
		return false, true
	}
	if strings.HasSuffix(lw, "pass") {
		for _, s := range notPass {
			if lw == s {
				return false, false
			}
		}
		return false, true
	}
	return false, false
}

// program selects rules for options that only some programs give a secret
// meaning to, such as mysql -p<password> or curl -u user:password.
type program uint8

const (
	progNone program = iota
	progMySQL
	progMongo
	progCurl
	progSSHPass
	progRedisCLI
	progOpenSSL
	progHtpasswd
	progLDAP
	progUppercaseP
	prog7z
	progSMBClient
	progRegistryLogin // docker login -p: -p publishes a port elsewhere
	progVault
	progConfigSet // aws configure set NAME VALUE, npm config set NAME VALUE
	progPsExec
	progNet // Windows net user NAME PASSWORD, net use \\host\share PASSWORD
)

var programs = map[string]program{
	"mysql": progMySQL, "mysqldump": progMySQL, "mysqladmin": progMySQL, "mysqlimport": progMySQL,
	"mysqlcheck": progMySQL, "mysqlshow": progMySQL, "mysqlslap": progMySQL, "mysqlpump": progMySQL,
	"mysqlbinlog": progMySQL, "mariadb": progMySQL, "mariadb-dump": progMySQL, "mariadb-admin": progMySQL,
	"mariadb-import": progMySQL, "mariadb-check": progMySQL, "mariadb-show": progMySQL,
	"mongo": progMongo, "mongosh": progMongo, "mongodump": progMongo, "mongorestore": progMongo,
	"mongoexport": progMongo, "mongoimport": progMongo, "mongostat": progMongo, "mongotop": progMongo,
	"curl":      progCurl,
	"sshpass":   progSSHPass,
	"redis-cli": progRedisCLI, "valkey-cli": progRedisCLI, "keydb-cli": progRedisCLI,
	"openssl":    progOpenSSL,
	"htpasswd":   progHtpasswd,
	"ldapsearch": progLDAP, "ldapmodify": progLDAP, "ldapadd": progLDAP, "ldapdelete": progLDAP,
	"ldappasswd": progLDAP, "ldapwhoami": progLDAP, "ldapcompare": progLDAP, "ldapmodrdn": progLDAP,
	"sqlcmd": progUppercaseP, "bcp": progUppercaseP, "zip": progUppercaseP, "unzip": progUppercaseP,
	"7z": prog7z, "7za": prog7z, "7zz": prog7z, "7zr": prog7z,
	"smbclient": progSMBClient,
	"docker":    progRegistryLogin, "podman": progRegistryLogin, "nerdctl": progRegistryLogin, "helm": progRegistryLogin,
	"oras": progRegistryLogin, "skopeo": progRegistryLogin, "buildah": progRegistryLogin, "crane": progRegistryLogin,
	"cosign": progRegistryLogin, "notation": progRegistryLogin,
	"vault": progVault, "bao": progVault,
	"aws": progConfigSet, "npm": progConfigSet, "yarn": progConfigSet, "pnpm": progConfigSet,
	"psexec": progPsExec, "psexec64": progPsExec,
	"net": progNet, "net1": progNet,
}

// programOf returns the program an argument names by its base name, as
// argv[0] or after a wrapper such as sudo, env or timeout.
func programOf(a string) program {
	if i := strings.LastIndexAny(a, `/\`); i >= 0 {
		a = a[i+1:]
	}
	if len(a) > 4 && strings.EqualFold(a[len(a)-4:], ".exe") {
		a = a[:len(a)-4]
	}
	var buf [16]byte
	if len(a) < 2 || len(a) > len(buf) {
		return progNone
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return programs[string(buf[:len(a)])]
}

// progState follows the arguments of the program last seen.
type progState struct {
	prog     program
	batch    bool // htpasswd -b: the password is an operand
	noFile   bool // htpasswd -n: no password file operand
	operands int  // htpasswd operands seen so far
	stage    int  // how far into a subcommand's arguments (login, config set, net use)
}

// curlFlags are curl's short options without a value, which may be
// clustered before -u (curl -su user:pass).
const curlFlags = "0123456aBfgGIijJklLnNOpqRsSvVZ#"

// option applies the current program's rules to a. ok is false when the
// program has none for a, so the generic rules run.
func (st *progState) option(a string) (out string, next pending, ok bool) {
	switch st.prog {
	case progMySQL:
		// -p alone prompts; -p<password> carries it.
		if len(a) > 2 && a[0] == '-' && a[1] == 'p' {
			return "-p" + Mask, keepNext, true
		}
	case progMongo:
		if a == "-p" {
			return a, maskNext, true
		}
	case progCurl:
		return curlOption(a)
	case progSSHPass:
		switch {
		case a == "" || a[0] != '-':
			st.prog = progNone // the wrapped command starts here
		case a == "-p":
			return a, maskNext, true
		case strings.HasPrefix(a, "-p"):
			return "-p" + Mask, keepNext, true
		case a == "-f" || a == "-d" || a == "-P":
			return a, skipNext, true
		}
	case progRedisCLI:
		if a == "-a" {
			return a, maskNext, true
		}
	case progOpenSSL:
		switch a {
		case "-k", "-K":
			return a, maskNext, true
		case "-pass", "-passin", "-passout", "-password":
			return a, maskNextPassArg, true
		}
	case progHtpasswd:
		return st.htpasswd(a)
	case progLDAP:
		return attachedOrNext(a, "-w")
	case progUppercaseP:
		return attachedOrNext(a, "-P")
	case prog7z:
		if len(a) > 2 && strings.HasPrefix(a, "-p") {
			return "-p" + Mask, keepNext, true
		}
	case progRegistryLogin:
		switch {
		case a == "login":
			st.stage = 1
		case st.stage == 0:
		case a == "-p":
			return a, maskNext, true
		case len(a) > 2 && a[0] == '-' && a[1] == 'p':
			return "-p" + Mask, keepNext, true // -pX and -p=X, as cobra reads them
		}
	case progVault:
		return st.vault(a)
	case progConfigSet:
		return st.configSet(a)
	case progPsExec:
		if a == "-p" {
			return a, maskNext, true
		}
	case progNet:
		return st.net(a)
	case progSMBClient:
		switch {
		case a == "-U" || a == "--user":
			return a, maskNextPercent, true
		case strings.HasPrefix(a, "--user="):
			return "--user=" + maskAfter(a[len("--user="):], '%'), keepNext, true
		case strings.HasPrefix(a, "-U"):
			return "-U" + maskAfter(a[2:], '%'), keepNext, true
		}
	}
	return a, keepNext, false
}

// attachedOrNext handles a short option whose value is a secret, given
// either as the next argument or attached (-wSECRET).
func attachedOrNext(a, opt string) (string, pending, bool) {
	switch {
	case a == opt:
		return a, maskNext, true
	case strings.HasPrefix(a, opt):
		return opt + Mask, keepNext, true
	}
	return a, keepNext, false
}

func curlOption(a string) (string, pending, bool) {
	switch {
	case a == "--user" || a == "--proxy-user":
		return a, maskNextPassword, true
	case strings.HasPrefix(a, "--user=") || strings.HasPrefix(a, "--proxy-user="):
		eq := strings.IndexByte(a, '=')
		return a[:eq+1] + maskAfter(a[eq+1:], ':'), keepNext, true
	case len(a) > 1 && a[0] == '-' && a[1] != '-':
		for i := 1; i < len(a); i++ {
			c := a[i]
			if c == 'u' || c == 'U' {
				if i+1 == len(a) {
					return a, maskNextPassword, true
				}
				return a[:i+1] + maskAfter(a[i+1:], ':'), keepNext, true
			}
			if strings.IndexByte(curlFlags, c) < 0 {
				break
			}
		}
	}
	return a, keepNext, false
}

// htpasswd follows htpasswd -b [-c] file user password and -nb user
// password: options come first, and with -b the operand after the user is
// the password.
func (st *progState) htpasswd(a string) (string, pending, bool) {
	if st.operands == 0 && len(a) > 1 && a[0] == '-' {
		for i := 1; i < len(a); i++ {
			switch a[i] {
			case 'b':
				st.batch = true
			case 'n':
				st.noFile = true
			}
		}
		if c := a[len(a)-1]; c == 'C' || c == 'r' {
			return a, skipNext, true // -C cost and -r rounds take a value
		}
		return a, keepNext, true
	}
	want := 2
	if st.noFile {
		want = 1
	}
	pos := st.operands
	st.operands++
	switch {
	case st.batch && pos == want:
		st.prog = progNone
		return Mask, keepNext, true
	case pos >= want:
		st.prog = progNone
		return a, keepNext, false
	}
	return a, keepNext, true
}

// vaultValueFlags are the options of vault login that take a value, which
// must not be taken for the token.
var vaultValueFlags = []string{"method", "path", "address", "namespace", "ns", "format", "field", "mfa", "wrap-ttl",
	"ca-cert", "ca-path", "client-cert", "client-key", "tls-server-name", "header", "agent-address"}

// vault follows vault login [options] [TOKEN | K=V...]: the first operand
// that is not K=V is the token. Vault tokens elsewhere are found by their
// prefix (maskTokens).
func (st *progState) vault(a string) (string, pending, bool) {
	switch {
	case st.stage == 0:
		if a == "login" {
			st.stage = 1
			return a, keepNext, true
		}
	case st.stage != 1 || a == "-" || strings.IndexByte(a, '=') >= 0:
	case a != "" && a[0] == '-':
		name := strings.TrimLeft(a, "-")
		for _, f := range vaultValueFlags {
			if name == f {
				return a, skipNext, true
			}
		}
	default:
		st.stage = 2
		return Mask, keepNext, true
	}
	return a, keepNext, false
}

// configSet follows "config set NAME VALUE" (aws configure set, npm config
// set): the value of a secret name is hidden.
func (st *progState) configSet(a string) (string, pending, bool) {
	switch {
	case a == "config" || a == "configure":
		st.stage = 1
	case st.stage == 1 && a == "set":
		st.stage = 2
	case st.stage == 2 && a != "" && a[0] != '-' && strings.IndexByte(a, '=') < 0:
		st.stage = 3
		// npm names a registry's token //host/:_authToken.
		if secretName(a[strings.LastIndexAny(a, "/:")+1:]) {
			return a, maskNext, true
		}
	case st.stage == 3:
		st.stage = 2 // the value of a harmless name: the generic rules still look
	}
	return a, keepNext, false
}

// net follows Windows net user NAME PASSWORD and net use [DEVICE]
// \\HOST\SHARE PASSWORD; * prompts instead and stays.
func (st *progState) net(a string) (string, pending, bool) {
	if a == "" || a[0] == '/' {
		return a, keepNext, false // /user:, /add...; /pass: is the generic rules' case
	}
	switch st.stage {
	case 0:
		if strings.EqualFold(a, "user") {
			st.stage = 10
		} else if strings.EqualFold(a, "use") {
			st.stage = 20
		}
	case 10:
		st.stage = 11
	case 20:
		if strings.HasPrefix(a, `\\`) {
			st.stage = 21
		}
	case 11, 21:
		st.stage = 99
		if a != "*" {
			return Mask, keepNext, true
		}
	}
	return a, keepNext, false
}

// tokenRule describes a credential whose format its issuer publishes: a
// fixed prefix, then a random part of bounded length.
type tokenRule struct {
	prefix   string
	min, max int
	class    func(byte) bool
	mixed    bool // the random part has both cases (tells s.<24> from a file name)
}

// tokenRules are found anywhere in an argument, whatever option carries
// it: a GitHub token pasted after --header or into a URL path is as
// secret as one after --token. The prefix stays visible.
var tokenRules = []tokenRule{
	{prefix: "ghp_", min: 30, max: 255, class: isAlnum}, // GitHub
	{prefix: "gho_", min: 30, max: 255, class: isAlnum},
	{prefix: "ghu_", min: 30, max: 255, class: isAlnum},
	{prefix: "ghs_", min: 30, max: 255, class: isAlnum},
	{prefix: "ghr_", min: 30, max: 255, class: isAlnum},
	{prefix: "github_pat_", min: 30, max: 255, class: isWordByte},
	{prefix: "glpat-", min: 20, max: 255, class: isTokenByte}, // GitLab
	{prefix: "xoxb-", min: 10, max: 255, class: isTokenByte},  // Slack
	{prefix: "xoxa-", min: 10, max: 255, class: isTokenByte},
	{prefix: "xoxp-", min: 10, max: 255, class: isTokenByte},
	{prefix: "xoxr-", min: 10, max: 255, class: isTokenByte},
	{prefix: "xoxs-", min: 10, max: 255, class: isTokenByte},
	{prefix: "xapp-", min: 10, max: 255, class: isTokenByte},
	{prefix: "AKIA", min: 16, max: 16, class: isUpperOrDigit}, // AWS access key IDs
	{prefix: "ASIA", min: 16, max: 16, class: isUpperOrDigit},
	{prefix: "AIza", min: 35, max: 35, class: isTokenByte},        // Google API keys
	{prefix: "hvs.", min: 20, max: 255, class: isTokenByte},       // Vault service,
	{prefix: "hvb.", min: 20, max: 255, class: isTokenByte},       // batch
	{prefix: "hvr.", min: 20, max: 255, class: isTokenByte},       // and recovery tokens
	{prefix: "s.", min: 24, max: 24, class: isAlnum, mixed: true}, // Vault before 1.10
	{prefix: "sk_live_", min: 16, max: 255, class: isAlnum},       // Stripe
	{prefix: "rk_live_", min: 16, max: 255, class: isAlnum},
	{prefix: "npm_", min: 36, max: 36, class: isAlnum},
	{prefix: "dckr_pat_", min: 20, max: 255, class: isTokenByte}, // Docker Hub
}

// tokensByFirst indexes tokenRules by the first byte of their prefix, so
// that the scan looks closer only where a token can start, and then only
// at the rules that can match there.
var tokensByFirst = func() (t [256][]tokenRule) {
	for _, r := range tokenRules {
		t[r.prefix[0]] = append(t[r.prefix[0]], r)
	}
	return t
}()

// tokenScan classifies bytes for maskTokens: whether a token prefix starts
// with it, and whether a token may start right after it (not inside a
// word or a dotted name).
var tokenScan = func() (t [256]uint8) {
	for c := range 256 {
		if !isAlnum(byte(c)) && c != '.' {
			t[c] |= boundary
		}
	}
	for _, r := range tokenRules {
		t[r.prefix[0]] |= startsToken
	}
	return t
}()

const (
	startsToken = 1 << iota
	boundary
)

// maskTokens replaces the random part of every token of tokenRules that
// starts a word in a.
func maskTokens(a string) string {
	var out strings.Builder
	last := 0
	after := uint8(boundary) // the class of the byte before a[i]
	for i := 0; i < len(a); i++ {
		c := tokenScan[a[i]]
		if c&startsToken == 0 || after&boundary == 0 {
			after = c
			continue
		}
		after = c
		p, e := tokenAt(tokensByFirst[a[i]], a, i)
		if e < 0 {
			continue
		}
		out.WriteString(a[last : i+p])
		out.WriteString(Mask)
		last = e
		i = e - 1
		after = tokenScan[a[i]]
	}
	if last == 0 {
		return a
	}
	out.WriteString(a[last:])
	return out.String()
}

// tokenAt returns the prefix length and end of the token of one of rules
// at a[i:], or -1.
func tokenAt(rules []tokenRule, a string, i int) (int, int) {
	for _, r := range rules {
		if !strings.HasPrefix(a[i:], r.prefix) {
			continue
		}
		s := i + len(r.prefix)
		e := s
		lower, upper := false, false
		for e < len(a) && e-s <= r.max && r.class(a[e]) {
			lower = lower || 'a' <= a[e] && a[e] <= 'z'
			upper = upper || isUpper(a[e])
			e++
		}
		if n := e - s; n < r.min || n > r.max || e < len(a) && isAlnum(a[e]) || r.mixed && !(lower && upper) {
			continue
		}
		return len(r.prefix), e
	}
	return 0, -1
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isWordByte(c byte) bool { return isAlnum(c) || c == '_' }

func isTokenByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

func isUpperOrDigit(c byte) bool { return isUpper(c) || '0' <= c && c <= '9' }
