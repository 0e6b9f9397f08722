package server

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkey/latchkey/store"
)

// sessionCacheCollector reports the store's session cache (store/sessioncache.go), read once per
// scrape.
type sessionCacheCollector struct {
	stats                                    func() store.SessionCacheStats
	lookups, invalidations, flushes, entries *prometheus.Desc
	maxEntries, leaseAge, bound, listenerUp  *prometheus.Desc
}

func newSessionCacheCollector(stats func() store.SessionCacheStats) *sessionCacheCollector {
	return &sessionCacheCollector{
		stats: stats,
		lookups: prometheus.NewDesc("latchkey_session_cache_lookups_total",
			"Session checks by how they were answered: hit (from memory), miss (no entry: read from the database and cached) or "+
				"fallback (no fresh lease, so the cache could not prove it is within the revocation bound: read from the database).",
			[]string{"result"}, nil),
		invalidations: prometheus.NewDesc("latchkey_session_cache_invalidations_total",
			"Invalidations applied: sessions and users changed here or, by notification, on another instance.", nil, nil),
		flushes: prometheus.NewDesc("latchkey_session_cache_flushes_total",
			"Times the whole cache was emptied (the listener reconnected, another SQLite process wrote, an API token's sessions ended).", nil, nil),
		entries:    prometheus.NewDesc("latchkey_session_cache_entries", "Sessions cached now.", nil, nil),
		maxEntries: prometheus.NewDesc("latchkey_session_cache_max_entries", "The hard cap on cached sessions.", nil, nil),
		leaseAge: prometheus.NewDesc("latchkey_session_cache_lease_age_seconds",
			"Age of the latest proof that every earlier revocation was applied; the cache answers only while it is under the bound (+Inf: none).", nil, nil),
		bound: prometheus.NewDesc("latchkey_session_cache_bound_seconds",
			"The revocation bound (LATCHKEY_REVOCATION_BOUND); 0: the cache is off.", nil, nil),
		listenerUp: prometheus.NewDesc("latchkey_session_cache_listener_up",
			"1 while the invalidation listener (PostgreSQL) or poll (SQLite) runs, else 0.", nil, nil),
	}
}

func (c *sessionCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lookups, c.invalidations, c.flushes, c.entries, c.maxEntries, c.leaseAge, c.bound, c.listenerUp} {
		ch <- d
	}
}

func (c *sessionCacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(st.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(st.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(c.lookups, prometheus.CounterValue, float64(st.Fallbacks), "fallback")
	ch <- prometheus.MustNewConstMetric(c.invalidations, prometheus.CounterValue, float64(st.Invalidations))
	ch <- prometheus.MustNewConstMetric(c.flushes, prometheus.CounterValue, float64(st.Flushes))
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(st.Entries))
	ch <- prometheus.MustNewConstMetric(c.maxEntries, prometheus.GaugeValue, float64(st.MaxEntries))
	age := math.Inf(1)
	if st.HasLease {
		age = st.LeaseAge.Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.leaseAge, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.bound, prometheus.GaugeValue, st.Bound.Seconds())
	up := 0.0
	if st.Listener == "listening" || st.Listener == "polling" {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.listenerUp, prometheus.GaugeValue, up)
}
