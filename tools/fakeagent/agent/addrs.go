package agent

import (
	"fmt"
	"net/netip"
	"strings"
)

// MaxAgents bounds one fleet: beyond it the process runs out of file
// descriptors (one listener plus one connection per agent) long before
// anything else.
const MaxAgents = 9000

// ParseAddresses reads a list such as "127.0.0.2-127.0.19.137,127.1.0.1":
// comma-separated addresses and inclusive ranges. Only loopback addresses are
// accepted, so a load test can never be pointed at a real network.
func ParseAddresses(spec string) ([]netip.Addr, error) {
	var out []netip.Addr
	seen := map[netip.Addr]bool{}
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := loopback(lo)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = loopback(hi); err != nil {
				return nil, err
			}
			if last.Is4() != first.Is4() {
				return nil, fmt.Errorf("address range %q mixes IPv4 and IPv6", item)
			}
			if last.Less(first) {
				return nil, fmt.Errorf("address range %q runs backwards", item)
			}
		}
		for a := first; ; a = a.Next() {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
			if len(out) > MaxAgents {
				return nil, fmt.Errorf("address list %q has more than %d addresses", spec, MaxAgents)
			}
			if a == last {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("address list %q is empty", spec)
	}
	return out, nil
}

// Consecutive returns count addresses starting at first, all in 127.0.0.0/8.
func Consecutive(first string, count int) ([]netip.Addr, error) {
	if count < 1 || count > MaxAgents {
		return nil, fmt.Errorf("agent count %d outside 1..%d", count, MaxAgents)
	}
	a, err := loopback(first)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, count)
	for range count {
		if !a.IsValid() || !a.IsLoopback() {
			return nil, fmt.Errorf("%d addresses from %s leave the loopback range", count, first)
		}
		out = append(out, a)
		a = a.Next()
	}
	return out, nil
}

func loopback(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("parse address: %w", err)
	}
	if a.Zone() != "" || !a.IsLoopback() {
		return netip.Addr{}, fmt.Errorf("address %s is not loopback: fake agents listen on loopback only", a)
	}
	return a, nil
}
