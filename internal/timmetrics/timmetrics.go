// Package timmetrics counts the IM REST client's calls as Prometheus
// metrics: it implements tim.Observer, so tim itself needs no Prometheus.
//
// The command label is the command without its service, e.g. "create_group"
// for "group_open_http_svc/create_group": the operator's commands are unique
// across the two services, so the service would only lengthen every series.
package timmetrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// Metrics live in controller-runtime's registry, so the manager's
// --metrics-bind-address endpoint serves them. They are package-level and
// registered once: every client in the process shares them.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_im_requests_total",
		Help: "IM REST attempts (retries included) by app, command and result: ok, the IM error code, http_<status>, network, canceled, bad_response or error.",
	}, []string{"app", "command", "result"})

	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "chatgroup_im_request_duration_seconds",
		Help: "Duration of one IM REST attempt, by app and command.",
		// The IM server gives up after 3 s and the client after 6 s; 10 s
		// keeps a slow network path visible above both.
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"app", "command"})

	retriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_im_retries_total",
		Help: "IM REST retries by app, command and reason: rate_limited, transient, usersig_expired.",
	}, []string{"app", "command", "reason"})

	rateLimitWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "chatgroup_im_rate_limit_wait_seconds",
		Help: "Time an IM REST attempt waited for its app's rate limiter (--im-qps, a ChatApp's spec.qps), by app; attempts that did not wait are not observed.",
		// From one token at the default 100/s (10 ms) up to a long queue.
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"app"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, requestDuration, retriesTotal, rateLimitWait)
	// Present from the start, as it was before it had the app label: the
	// dashboard's panel queries its buckets before any wait happened.
	rateLimitWait.WithLabelValues(DefaultApp)
}

// Observer records into the package's collectors; the zero value is ready
// and counts for DefaultApp.
type Observer struct {
	// App is the app label of chatgroup_pushes_total and
	// chatgroup_im_errors_total; empty means DefaultApp.
	App string
}

var _ tim.Observer = Observer{}

// New returns the Observer to put in tim.Config.Observer.
func New() Observer { return Observer{} }

// Attempt implements tim.Observer.
func (o Observer) Attempt(command, result string, d time.Duration) {
	cmd := commandLabel(command)
	requestsTotal.WithLabelValues(o.appLabel(), cmd, result).Inc()
	requestDuration.WithLabelValues(o.appLabel(), cmd).Observe(d.Seconds())
	o.countOutcome(cmd, result)
}

// Retry implements tim.Observer.
func (o Observer) Retry(command, reason string) {
	retriesTotal.WithLabelValues(o.appLabel(), commandLabel(command), reason).Inc()
}

// RateLimitWait implements tim.Observer.
func (o Observer) RateLimitWait(d time.Duration) {
	rateLimitWait.WithLabelValues(o.appLabel()).Observe(d.Seconds())
}

func commandLabel(command string) string {
	if i := strings.LastIndexByte(command, '/'); i >= 0 {
		return command[i+1:]
	}
	return command
}
