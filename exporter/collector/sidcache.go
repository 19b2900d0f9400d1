package collector

import "time"

// sidCache maps Windows security identifiers (in S-1-5-… form) to account
// names. LookupAccountSid may ask a domain controller and take seconds, so
// names are remembered; a SID that cannot be resolved (deleted account,
// unreachable domain) is shown as itself, like an unknown UID on Linux,
// and retried only after failRetry. The processes collector never runs two
// updates at once, so the cache needs no lock.
type sidCache struct {
	lookup    func(sid string) (string, error)
	now       func() time.Time
	failRetry time.Duration
	max       int
	names     map[string]sidName
}

type sidName struct {
	name     string
	failedAt time.Time // zero when the lookup succeeded
}

func newSIDCache(lookup func(string) (string, error)) *sidCache {
	return &sidCache{lookup: lookup, now: time.Now, failRetry: 10 * time.Minute, max: 4096, names: map[string]sidName{}}
}

// name returns the account name of sid, "" for an empty sid.
func (c *sidCache) name(sid string) string {
	if sid == "" {
		return ""
	}
	if e, ok := c.names[sid]; ok && (e.failedAt.IsZero() || c.now().Sub(e.failedAt) < c.failRetry) {
		return e.name
	}
	if len(c.names) >= c.max {
		clear(c.names) // a host does not have thousands of accounts running processes
	}
	name, err := c.lookup(sid)
	if err != nil || name == "" {
		c.names[sid] = sidName{name: sid, failedAt: c.now()}
		return sid
	}
	c.names[sid] = sidName{name: name}
	return name
}
