package scrape

import "github.com/prometheus/client_golang/prometheus"

// Results of a scrape, the values of archiver_scrapes_total's result label.
const (
	resultSuccess    = "success"
	resultTimeout    = "timeout"
	resultConnection = "connection"
	resultHTTPStatus = "http_status"
	resultTooLarge   = "too_large"
	resultInvalid    = "invalid"
	resultStoreError = "store_error"
	resultOverloaded = "overloaded"
)

type metrics struct {
	scrapes  *prometheus.CounterVec
	duration prometheus.Histogram
	lag      prometheus.Histogram
	missed   prometheus.Counter
	agents   *prometheus.GaugeVec
	targets  prometheus.GaugeFunc
	interval prometheus.GaugeFunc
	mgr      *Manager
}

func newMetrics(mgr *Manager) *metrics {
	m := &metrics{
		mgr: mgr,
		scrapes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archiver_scrapes_total",
			Help: "Scrapes of agents by result: success, timeout, connection, http_status, too_large, invalid, store_error, overloaded (the archiver, not the agent, was too slow).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "archiver_scrape_duration_seconds",
			Help:    "Time from the start of a scrape to its snapshot being stored or failing.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "archiver_scrape_schedule_lag_seconds",
			Help:    "Delay between a scrape's planned start and its actual start.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		missed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archiver_scrapes_missed_total",
			Help: "Planned scrapes skipped because the previous one of the same agent ran past them.",
		}),
		agents: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "archiver_agents",
			Help: "Registered agents by health of their last scrape (up, down, unknown = not scraped yet).",
		}, []string{"health"}),
	}
	m.interval = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "archiver_scrape_interval_seconds",
		Help: "The configured scrape_interval, so alerts on gaps can scale with it.",
	}, func() float64 {
		if s := mgr.settings.Load(); s != nil {
			return s.cfg.Interval.Seconds()
		}
		return 0
	})
	m.targets = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "archiver_targets",
		Help: "Agents registered for scraping.",
	}, func() float64 {
		mgr.mu.Lock()
		defer mgr.mu.Unlock()
		return float64(len(mgr.loops))
	})
	for _, r := range []string{resultSuccess, resultTimeout, resultConnection, resultHTTPStatus, resultTooLarge, resultInvalid, resultStoreError, resultOverloaded} {
		m.scrapes.WithLabelValues(r)
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) {
	reg.MustRegister(m.scrapes, m.duration, m.lag, m.missed, m.targets, m.interval, agentsCollector{m})
}

// Sources of archiver_agent_last_archived_timestamp_seconds: scraped
// agents are registered, pushing ones are known by what they sent, and
// each has its own alert.
const (
	SourceScrape = "scrape"
	SourcePush   = "push"
)

// LastArchivedDesc describes archiver_agent_last_archived_timestamp_seconds
// for one source: one series per agent, so an alert can name the agent
// whose history has a hole, not just count them. Both sources share one
// name and help, and differ in a constant label, so that their collectors
// (this package's and the push intake's) register side by side.
func LastArchivedDesc(source string) *prometheus.Desc {
	return prometheus.NewDesc(
		"archiver_agent_last_archived_timestamp_seconds",
		"Unix time when this agent's last snapshot was stored (source=scrape: when it was scraped; source=push: when the push arrived), or, for a registered agent with none yet, of its registration (or the archiver's start): where the current hole in its history begins.",
		[]string{"target"}, prometheus.Labels{"source": source},
	)
}

// lastArchivedDesc is one series per registered agent; it goes when the
// agent is deregistered.
var lastArchivedDesc = LastArchivedDesc(SourceScrape)

// agentsCollector reads the loops when scraped, instead of keeping gauges
// in step with every loop's transitions.
type agentsCollector struct{ m *metrics }

func (c agentsCollector) Describe(ch chan<- *prometheus.Desc) {
	c.m.agents.Describe(ch)
	ch <- lastArchivedDesc
}

func (c agentsCollector) Collect(ch chan<- prometheus.Metric) {
	var up, down, unknown int
	for _, st := range c.m.mgr.statuses() {
		switch st.Health {
		case HealthUp:
			up++
		case HealthDown:
			down++
		default:
			unknown++
		}
		since := st.LastSuccess
		if since.IsZero() {
			since = st.registered
		}
		ch <- prometheus.MustNewConstMetric(lastArchivedDesc, prometheus.GaugeValue, float64(since.UnixNano())/1e9, st.Target)
	}
	c.m.agents.WithLabelValues(HealthUp).Set(float64(up))
	c.m.agents.WithLabelValues(HealthDown).Set(float64(down))
	c.m.agents.WithLabelValues(HealthUnknown).Set(float64(unknown))
	c.m.agents.Collect(ch)
}
