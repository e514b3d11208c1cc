package webhookserver

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// lastCallback answers "has IM stopped calling us?" without the blind spot
// of counters: increase() over a window is empty for a series that does not
// exist yet, and zero right after a restart. It starts at the process's start
// time, so its age is the time since the last authenticated callback or since
// start, whichever is later; an alert on that age never fires on a restart.
// Only requests that pass the SdkAppid and Sign checks move it: a prober on
// the open port must not hide that IM went quiet.
var lastCallback = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "chatgroup_webhook_last_callback_timestamp_seconds",
	Help: "Unix time of the last authenticated callback, or of the receiver's start when none came since.",
})

func init() {
	metrics.Registry.MustRegister(lastCallback)
	lastCallback.SetToCurrentTime()
}

// markCallback records an authenticated callback.
func markCallback() { lastCallback.SetToCurrentTime() }
