package main

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families is one scrape of the archiver's /metrics.
type families map[string]*dto.MetricFamily

func scrapeMetrics(url string) (families, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return mf, nil
}

// counters returns the counter or untyped values of name by the value of
// label ("" sums everything under the key "").
func (f families) counters(name, label string) map[string]float64 {
	out := map[string]float64{}
	mf, ok := f[name]
	if !ok {
		return out
	}
	for _, m := range mf.GetMetric() {
		key := ""
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label {
				key = lp.GetValue()
			}
		}
		switch {
		case m.Counter != nil:
			out[key] += m.GetCounter().GetValue()
		case m.Gauge != nil:
			out[key] += m.GetGauge().GetValue()
		case m.Untyped != nil:
			out[key] += m.GetUntyped().GetValue()
		}
	}
	return out
}

func (f families) value(name string) float64 { return f.counters(name, "")[""] }

// histogram is a cumulative histogram: upper bounds and counts.
type histogram struct {
	bounds []float64
	counts []float64 // cumulative, same length as bounds, last bound +Inf
	sum    float64
}

func (f families) histogram(name string) (histogram, bool) {
	return f.histogramWhere(name, "", "")
}

// histogramWhere is the first series of name whose label has value (any
// series when label is "").
func (f families) histogramWhere(name, label, value string) (histogram, bool) {
	mf, ok := f[name]
	if !ok {
		return histogram{}, false
	}
	var h *dto.Histogram
	for _, m := range mf.GetMetric() {
		if m.Histogram == nil {
			continue
		}
		match := label == ""
		for _, lp := range m.GetLabel() {
			match = match || (lp.GetName() == label && lp.GetValue() == value)
		}
		if match {
			h = m.GetHistogram()
			break
		}
	}
	if h == nil {
		return histogram{}, false
	}
	var out histogram
	for _, b := range h.GetBucket() {
		out.bounds = append(out.bounds, b.GetUpperBound())
		out.counts = append(out.counts, float64(b.GetCumulativeCount()))
	}
	if len(out.bounds) == 0 || !math.IsInf(out.bounds[len(out.bounds)-1], 1) {
		out.bounds = append(out.bounds, math.Inf(1))
		out.counts = append(out.counts, float64(h.GetSampleCount()))
	}
	out.sum = h.GetSampleSum()
	return out, true
}

// sub returns the observations made between two scrapes of one histogram.
func (h histogram) sub(before histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), sum: h.sum - before.sum}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(before.counts) {
			out.counts[i] -= before.counts[i]
		}
	}
	return out
}

func (h histogram) count() float64 {
	if len(h.counts) == 0 {
		return 0
	}
	return h.counts[len(h.counts)-1]
}

// quantile interpolates linearly inside the bucket, as PromQL's
// histogram_quantile does; above the last finite bound it returns that bound.
func (h histogram) quantile(q float64) float64 {
	n := h.count()
	if n == 0 {
		return math.NaN()
	}
	rank := q * n
	i := sort.Search(len(h.counts), func(i int) bool { return h.counts[i] >= rank })
	if i >= len(h.bounds) {
		i = len(h.bounds) - 1
	}
	if math.IsInf(h.bounds[i], 1) {
		if i == 0 {
			return math.NaN()
		}
		return h.bounds[i-1]
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = h.bounds[i-1], h.counts[i-1]
	}
	inBucket := h.counts[i] - below
	if inBucket == 0 {
		return h.bounds[i]
	}
	return lo + (h.bounds[i]-lo)*(rank-below)/inBucket
}
