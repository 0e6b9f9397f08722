package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is the Prometheus registry of one server (not the global one, so tests can run many
// servers in one process).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	refusals *prometheus.HistogramVec
	mail     *prometheus.CounterVec
	inFlight *prometheus.GaugeVec
	handler  http.Handler

	// SMS: texts by delivery outcome, and text requests refused by which defence.
	smsDeliveries, smsRefusals *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total",
			Help: "HTTP requests by contract operation and status code.",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_request_duration_seconds",
			Help:    "Time from the first middleware to the last byte of the handler, by operation.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		refusals: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_unavailable_duration_seconds",
			Help:    "Of the requests answered 503 (a full hashing queue, the database unreachable), the time from the first middleware to the last byte, by operation: how fast an overloaded server turns callers away.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		mail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_mail_deliveries_total",
			Help: "Delivery attempts from the outbox by outcome: sent, retry (temporary failure) or given_up.",
		}, []string{"outcome"}),
		smsDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_sms_deliveries_total",
			Help: "Text delivery attempts from the SMS outbox by outcome: sent, retry (temporary failure) or given_up.",
		}, []string{"outcome"}),
		smsRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_sms_refusals_total",
			Help: "Requests for a text refused, by the defence that refused it: invalid_number, not_mobile, number_type, country, number_hour, number_day, address or global.",
		}, []string{"defence"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "latchkey_http_requests_in_flight",
			Help: "Requests being served now, by operation; a request leaves it just before it is counted in latchkey_http_requests_total.",
		}, []string{"operation"}),
	}
	reg.MustRegister(
		m.requests, m.duration, m.refusals, m.mail, m.inFlight, m.smsDeliveries, m.smsRefusals,
		newSessionCacheCollector(s.store.SessionCacheStats),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_password_hashes_in_progress",
			Help: "Password hashes running now; at most latchkey_password_hash_slots.",
		}, func() float64 { return float64(len(s.passwords.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_password_hash_slots",
			Help: "How many password hashes may run at once (sized from the memory budget).",
		}, func() float64 { return float64(cap(s.passwords.slots)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_password_hash_queue_depth",
			Help: "Password checks waiting for a hashing slot now, sign-ins admitted to the queue and still looking up their account included.",
		}, func() float64 { return float64(s.passwords.queue.waiting.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_password_hash_mean_seconds",
			Help: "Moving average of how long a hash holds its slot; the queue's wait estimate is built on it.",
		}, func() float64 { m, _ := s.passwords.queue.estimate(); return m.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "latchkey_password_hash_queue_wait_seconds",
			Help: "The wait a password check arriving now is predicted; above 80% of the queue deadline it is refused at once.",
		}, func() float64 {
			q := &s.passwords.queue
			return q.predict(q.waiting.Load(), cap(s.passwords.slots)).Seconds()
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "latchkey_password_hashes_total",
			Help: "Password hashes done (sign-ins, sign-ups, changes, dummy checks).",
		}, func() float64 { return float64(s.passwords.queue.hashes.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "latchkey_password_hash_slot_seconds_total",
			Help: "Time hashing slots were held; its rate over latchkey_password_hash_slots is the slots' utilization, and over the rate of latchkey_password_hashes_total the time of one hash.",
		}, func() float64 { return time.Duration(s.passwords.queue.held.Load()).Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "latchkey_password_hash_refusals_total",
			Help:        "Hashes refused with 503 because they could not start within the queue deadline, by reason: predicted (refused at once) or deadline (waited it out).",
			ConstLabels: prometheus.Labels{"reason": "predicted"},
		}, func() float64 { return float64(s.passwords.queue.refused[refusedPredicted].Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "latchkey_password_hash_refusals_total",
			Help:        "Hashes refused with 503 because they could not start within the queue deadline, by reason: predicted (refused at once) or deadline (waited it out).",
			ConstLabels: prometheus.Labels{"reason": "deadline"},
		}, func() float64 { return float64(s.passwords.queue.refused[refusedDeadline].Load()) }),
	)
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

// authenticateMetrics admits GET /metrics on the API port: the figures tell failed sign-ins and
// admin API use apart, so they are shown only to the holder of the metrics secret, and not at
// all (404) when none is set.
func (s *Server) authenticateMetrics(r *http.Request) error {
	if s.metricsToken == nil {
		return &Error{Code: CodeNotFound}
	}
	raw, ok := bearerToken(r)
	sum := sha256.Sum256([]byte(raw)) // equal lengths: the comparison tells nothing by its time
	if !ok || subtle.ConstantTimeCompare(sum[:], s.metricsToken) != 1 {
		return &Error{Code: CodeUnauthenticated}
	}
	return nil
}

// MetricsHandler serves the metrics in the Prometheus text format, without authentication: for
// a listener of their own (LATCHKEY_METRICS_ADDR), never the API's.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler }

func (m *metrics) observe(operation string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(operation, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(operation).Observe(elapsed.Seconds())
	if status == http.StatusServiceUnavailable {
		m.refusals.WithLabelValues(operation).Observe(elapsed.Seconds())
	}
}
