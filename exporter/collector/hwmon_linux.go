package collector

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

func init() { registerCollector("hwmon", true, newHwmonCollector) }

var hwmonTempDesc = prometheus.NewDesc("host_hwmon_temp_celsius", "Temperature a hardware sensor reports (absent where there are none, as in most VMs).", []string{"chip", "sensor"}, nil)

// hwmonCollector reads the temperature sensors under <sysfs>/class/hwmon.
// Temperatures only: fans and voltages have no standard alert.
type hwmonCollector struct{ dir string }

func newHwmonCollector(cfg Config) (Collector, error) {
	return hwmonCollector{dir: filepath.Join(cfg.SysPath, "class", "hwmon")}, nil
}

type hwmonChip struct {
	name    string
	device  string // base name of the device link: tells chips of one name apart
	sensors []hwmonSensor
}

type hwmonSensor struct {
	id, label string // "temp1", "Package id 0" ("" when unlabelled)
	celsius   float64
}

func (c hwmonCollector) Update(ctx context.Context) (Result, error) {
	dirs, err := filepath.Glob(filepath.Join(c.dir, "hwmon*"))
	if err != nil {
		return nil, err
	}
	var chips []hwmonChip
	names := map[string]int{}
	for _, dir := range dirs {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		chip, ok := readHwmonChip(dir)
		if ok {
			chips = append(chips, chip)
			names[chip.name]++
		}
	}
	var out metricList
	seen := map[[2]string]bool{}
	for _, chip := range chips {
		// Two NVMe drives are both "nvme": the device makes them unique.
		label := chip.name
		if names[chip.name] > 1 {
			label += "_" + chip.device
		}
		for _, s := range chip.sensors {
			key := [2]string{label, s.label}
			if s.label == "" || seen[key] {
				key[1] = s.id
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, prometheus.MustNewConstMetric(hwmonTempDesc, prometheus.GaugeValue, s.celsius, labelValue(key[0]), labelValue(key[1])))
		}
	}
	return out, nil
}

// readHwmonChip reads one hwmon directory. Old drivers keep their files
// in the device directory rather than beside "name"; a sensor that cannot
// be read now (some answer EIO while the device sleeps) is left out.
func readHwmonChip(dir string) (hwmonChip, bool) {
	chip := hwmonChip{name: readTrimmed(filepath.Join(dir, "name")), device: filepath.Base(dir)}
	if link, err := os.Readlink(filepath.Join(dir, "device")); err == nil {
		chip.device = filepath.Base(link)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "temp*_input"))
	if len(files) == 0 {
		dir = filepath.Join(dir, "device")
		files, _ = filepath.Glob(filepath.Join(dir, "temp*_input"))
		if chip.name == "" {
			chip.name = readTrimmed(filepath.Join(dir, "name"))
		}
	}
	if chip.name == "" {
		chip.name = chip.device
	}
	for _, f := range files {
		id := strings.TrimSuffix(filepath.Base(f), "_input")
		milli, err := strconv.ParseInt(readTrimmed(f), 10, 64)
		if err != nil {
			continue
		}
		chip.sensors = append(chip.sensors, hwmonSensor{
			id:      id,
			label:   readTrimmed(filepath.Join(dir, id+"_label")),
			celsius: float64(milli) / 1000,
		})
	}
	// temp10 after temp2, as the driver numbers them.
	sort.Slice(chip.sensors, func(i, j int) bool {
		a, _ := strconv.Atoi(strings.TrimPrefix(chip.sensors[i].id, "temp"))
		b, _ := strconv.Atoi(strings.TrimPrefix(chip.sensors[j].id, "temp"))
		return a < b
	})
	return chip, len(chip.sensors) > 0
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
