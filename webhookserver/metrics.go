package webhookserver

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics live in controller-runtime's registry, so the manager's
// --metrics-bind-address endpoint serves them. They are package-level and
// registered once: several receivers in one process (the tests run two)
// share them, which sums their counts.
var (
	callbacksTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_webhook_callbacks_total",
		Help: "Callback requests by app (the ChatApp's name, default for the flags' app, unknown before authentication succeeds), command (known commands, Group.CallbackBefore, or other) and result.",
	}, []string{"app", "command", "result"})

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "chatgroup_webhook_request_duration_seconds",
		Help:    "Time to answer a callback request, by result.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2},
	}, []string{"result"})

	statusWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_webhook_status_writes_total",
		Help: "ChatGroup status writes by result: ok, conflict (409, retried), error, unchanged (skipped, nothing to write).",
	}, []string{"result"})

	pendingGroups = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "chatgroup_webhook_pending_groups",
		Help: "ChatGroups with a status update waiting to be written.",
	})

	discoveryRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_webhook_discovery_refused_total",
		Help: "Callbacks for undeclared groups that discovery did not take, by app and reason: max_groups (--discovery-max-groups reached) or rate (--discovery-per-minute).",
	}, []string{"app", "reason"})

	callbacksCoalesced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "chatgroup_webhook_callbacks_coalesced_total",
		Help: "Callbacks merged into an update that was already pending (they cost no extra write).",
	})
)

// Results of a callback request, the "result" label.
const (
	resultAccepted   = "accepted"
	resultAllowed    = "allowed" // before-callback, answered allow
	resultIgnored    = "ignored" // command not recorded
	resultUnclaimed  = "unclaimed"
	resultMethod     = "method_not_allowed"
	resultTooLarge   = "too_large"
	resultForbidden  = "forbidden"
	resultUnauth     = "unauthorized"
	resultBadRequest = "bad_request"
	resultBusy       = "busy"
	resultAhead      = "event_time_ahead"
)

func init() {
	metrics.Registry.MustRegister(callbacksTotal, requestDuration, statusWrites, pendingGroups, callbacksCoalesced, discoveryRefused)
}

// commandLabel bounds the label's values: a caller chooses the command
// string, and an unbounded label would let it grow the registry.
func commandLabel(cmd string) string {
	if isRecorded(cmd) || isAlarm(cmd) {
		return cmd
	}
	if len(cmd) > len(beforePrefix) && cmd[:len(beforePrefix)] == beforePrefix {
		return beforePrefix
	}
	return "other"
}
