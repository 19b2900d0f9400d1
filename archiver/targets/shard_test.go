package targets

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// prometheusShard is the shard Prometheus itself assigns to address with
// the relabel rule the README documents.
func prometheusShard(t *testing.T, address string, count uint64) uint64 {
	t.Helper()
	cfg := &relabel.Config{
		SourceLabels: model.LabelNames{model.AddressLabel},
		Separator:    ";",
		Regex:        relabel.MustNewRegexp("(.*)"),
		Modulus:      count,
		TargetLabel:  "__tmp_hashmod",
		Replacement:  "$1",
		Action:       relabel.HashMod,
	}
	if err := cfg.Validate(model.UTF8Validation); err != nil {
		t.Fatal(err)
	}
	lb := labels.NewBuilder(labels.FromStrings(model.AddressLabel, address))
	if !relabel.ProcessBuilder(lb, cfg) {
		t.Fatalf("hashmod dropped %s", address)
	}
	n, err := strconv.ParseUint(lb.Get("__tmp_hashmod"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestShardMatchesPrometheusHashmod(t *testing.T) {
	const n = 1000
	var all []Target
	for i := range n {
		all = append(all, Target{Address: fmt.Sprintf("10.%d.%d.%d:9110", i/65536, i/256%256, i%256)})
	}
	all = append(all, Target{Address: "[2001:db8::1]:9110"}, Target{Address: "agent.example.com:9110"})
	for _, count := range []uint64{2, 3, 7} {
		owner := map[string]uint64{}
		sizes := make([]int, count)
		for index := range count {
			for _, tg := range Shard(all, count, index) {
				if prev, dup := owner[tg.Address]; dup {
					t.Fatalf("count %d: %s in shards %d and %d", count, tg.Address, prev, index)
				}
				owner[tg.Address] = index
				sizes[index]++
			}
		}
		if len(owner) != len(all) {
			t.Fatalf("count %d: %d of %d targets in some shard", count, len(owner), len(all))
		}
		for _, tg := range all {
			if want := prometheusShard(t, tg.Address, count); owner[tg.Address] != want {
				t.Errorf("count %d: %s in shard %d, Prometheus hashmod says %d", count, tg.Address, owner[tg.Address], want)
			}
		}
		for index, size := range sizes {
			// A hash spreads 1,002 targets evenly; a shard with under
			// half its share means the wrong bytes are hashed.
			if size < len(all)/int(count)/2 {
				t.Errorf("count %d: shard %d holds only %d targets", count, index, size)
			}
		}
	}
}

func TestShardKnownValues(t *testing.T) {
	// Computed with Prometheus' relabel.ProcessBuilder (hashmod, modulus 3); kept
	// literal so a change of either side shows here.
	for addr, want := range map[string]uint64{
		"10.0.0.1:9110":          2,
		"10.0.0.2:9110":          0,
		"10.0.0.3:9110":          0,
		"agent.example.com:9110": 0,
		"[2001:db8::1]:9110":     1,
		"127.0.0.1:9110":         1,
	} {
		if got := ShardOf(addr, 3); got != want {
			t.Errorf("ShardOf(%q, 3) = %d, want %d", addr, got, want)
		}
	}
	if got := Shard([]Target{{Address: "a:1"}, {Address: "b:2"}}, 1, 0); len(got) != 2 {
		t.Errorf("count 1 kept %d of 2 targets", len(got))
	}
}
