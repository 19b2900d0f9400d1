package targets

import (
	"crypto/md5"
	"encoding/binary"
)

// ShardOf is the shard of a target address out of count, computed exactly
// as Prometheus' relabel action hashmod computes it from __address__: the
// last eight bytes of the MD5 sum, big-endian, modulo count. N archivers and
// N Prometheus servers given the same rule therefore split one target list
// the same way.
func ShardOf(address string, count uint64) uint64 {
	sum := md5.Sum([]byte(address))
	return binary.BigEndian.Uint64(sum[8:]) % count
}

// Shard returns the targets of ts whose ShardOf equals index. A count of 0
// or 1 keeps every target.
func Shard(ts []Target, count, index uint64) []Target {
	if count <= 1 {
		return ts
	}
	out := make([]Target, 0, len(ts)/int(count)+1)
	for _, t := range ts {
		if ShardOf(t.Address, count) == index {
			out = append(out, t)
		}
	}
	return out
}
