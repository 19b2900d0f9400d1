// Package redact hides secrets in process command lines before they leave
// the host. Command lines routinely carry passwords (mysql -p..., --token,
// DSNs with credentials), and snapshots are archived for months.
package redact

import (
	"regexp"
	"strings"
)

// Mask replaces every redacted value.
const Mask = "***"

// secretWord matches option and variable names that hold secrets. It is
// deliberately broad: hiding a harmless value costs little, leaking a
// password costs a lot.
const secretWord = `(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|secret[-_]?key|client[-_]?secret|credentials?|auth|key)`

var (
	// name=value and name:value anywhere, e.g. --db-password=x, PGPASSWORD=x, token:x.
	assignRe = regexp.MustCompile(`(?i)([A-Za-z0-9_.-]*` + secretWord + `[A-Za-z0-9_.-]*\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,]+)`)
	// an option followed by its value as the next argument: --token abc, -password abc.
	flagRe = regexp.MustCompile(`(?i)((?:^|\s)--?[A-Za-z0-9_.-]*` + secretWord + `[A-Za-z0-9_.-]*\s+)("[^"]*"|'[^']*'|[^\s-][^\s]*)`)
	// credentials in URLs: scheme://user:pass@host.
	urlRe = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)([^/\s@]+)(@)`)
	// HTTP authorization headers passed on the command line.
	authRe = regexp.MustCompile(`(?i)(authorization:\s*(?:bearer|basic|token)\s+)(\S+)`)
	// -p<password> as the mysql family of clients takes it.
	mysqlRe = regexp.MustCompile(`((?:^|\s|/)(?:mysql|mysqldump|mysqladmin|mariadb)\S*\s(?:.*\s)?-p)(\S+)`)
)

// Cmdline returns s with secret values replaced by Mask, keeping names so an
// operator still sees which option was set.
func Cmdline(s string) string {
	if s == "" {
		return s
	}
	// Order matters: the specific shapes first, so the generic name=value
	// and --flag value rules do not mistake "-pSecret" for an option name.
	s = urlRe.ReplaceAllString(s, "${1}"+Mask+"${3}")
	s = authRe.ReplaceAllString(s, "${1}"+Mask)
	s = mysqlRe.ReplaceAllString(s, "${1}"+Mask)
	s = assignRe.ReplaceAllStringFunc(s, maskValue(assignRe))
	s = flagRe.ReplaceAllStringFunc(s, maskValue(flagRe))
	return s
}

// authScheme words precede a credential that authRe has already masked.
var authScheme = map[string]bool{"bearer": true, "basic": true, "token": true}

// maskValue keeps the first group and masks the second, unless the value is
// already masked (URL and header rules may have run first).
func maskValue(re *regexp.Regexp) func(string) string {
	return func(m string) string {
		sub := re.FindStringSubmatch(m)
		if len(sub) < 3 || strings.Contains(sub[2], Mask) || authScheme[strings.ToLower(sub[2])] {
			return m
		}
		return sub[1] + Mask
	}
}
