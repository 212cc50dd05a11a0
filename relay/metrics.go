package relay

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"oneapi/relay/adaptor"
)

// Metrics for /metrics (served on METRICS_ADDR). Label values are bounded:
// modes, HTTP statuses and error classes, never models, users or keys.
var (
	metricServed = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "oneapi_relay_request_duration_seconds",
		Help:    "Time to serve a relayed request that an upstream answered, by endpoint and streaming.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"mode", "stream"})
	metricRefused = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "oneapi_relay_errors_total",
		Help: "Relay replies with an error, by HTTP status.",
	}, []string{"status"})
	metricUpstreamFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "oneapi_relay_upstream_failures_total",
		Help: "Failed upstream attempts, by class (retry, disable, client).",
	}, []string{"class"})
	metricQuota = promauto.NewCounter(prometheus.CounterOpts{
		Name: "oneapi_relay_quota_billed_total",
		Help: "Quota billed for served requests.",
	})
	metricSettleFailures = promauto.NewCounter(prometheus.CounterOpts{
		Name: "oneapi_meter_settlement_failures_total",
		Help: "Settlement batches that failed (and were retried or left to the sweeper).",
	})
)

// servedObservers holds one histogram per (mode, stream), resolved once so
// the hot path does no label lookup.
var servedObservers = func() (o [adaptor.NumModes][2]prometheus.Observer) {
	for m := range o {
		for s := range o[m] {
			o[m][s] = metricServed.WithLabelValues(adaptor.Mode(m).String(), strconv.FormatBool(s == 1))
		}
	}
	return o
}()

func observeServed(mode adaptor.Mode, stream bool, d time.Duration, quota int64) {
	if mode < 0 || int(mode) >= len(servedObservers) {
		return
	}
	s := 0
	if stream {
		s = 1
	}
	servedObservers[mode][s].Observe(d.Seconds())
	metricQuota.Add(float64(quota))
}
