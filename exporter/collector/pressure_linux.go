package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

func init() { registerCollector("pressure", true, newPressureCollector) }

// pressureResources are the /proc/pressure files, each with its metric.
var pressureResources = []struct {
	file string
	desc *prometheus.Desc
}{
	{"cpu", prometheus.NewDesc("host_pressure_cpu_waiting_seconds_total", "Seconds in which at least one task waited for a CPU (PSI \"some\").", nil, nil)},
	{"memory", prometheus.NewDesc("host_pressure_memory_waiting_seconds_total", "Seconds in which at least one task stalled on memory (PSI \"some\").", nil, nil)},
	{"io", prometheus.NewDesc("host_pressure_io_waiting_seconds_total", "Seconds in which at least one task stalled on IO (PSI \"some\").", nil, nil)},
}

// pressureCollector reads pressure stall information. A kernel built or
// booted without PSI has no /proc/pressure: the series are then absent
// and the collector still succeeds, as there is nothing it failed to read.
type pressureCollector struct{ dir string }

func newPressureCollector(cfg Config) (Collector, error) {
	return pressureCollector{dir: filepath.Join(cfg.ProcPath, "pressure")}, nil
}

func (c pressureCollector) Update(context.Context) (Result, error) {
	var out metricList
	for _, r := range pressureResources {
		path := filepath.Join(c.dir, r.file)
		b, err := os.ReadFile(path)
		// psi=0 on the command line leaves the files, which then refuse
		// to be read with EOPNOTSUPP.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.EOPNOTSUPP) {
			continue
		}
		if err != nil {
			return nil, err
		}
		us, err := psiSomeTotal(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, float64(us)/1e6))
	}
	return out, nil
}

// psiSomeTotal returns the total of the "some" line, in microseconds:
// "some avg10=0.00 avg60=0.00 avg300=0.00 total=12345".
func psiSomeTotal(b []byte) (uint64, error) {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		f := bytes.Fields(line)
		if len(f) == 0 || string(f[0]) != "some" {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := bytes.CutPrefix(kv, []byte("total=")); ok {
				return strconv.ParseUint(string(v), 10, 64)
			}
		}
		return 0, errors.New(`"some" line without total`)
	}
	return 0, errors.New(`no "some" line`)
}
