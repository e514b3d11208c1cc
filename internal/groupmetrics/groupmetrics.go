// Package groupmetrics exports ChatGroup health as Prometheus gauges,
// computed from the manager's informer cache at scrape time: how many
// ChatGroups each app has in each condition state and reason. Counting at
// scrape time keeps no second copy of the state that could drift from the
// cache, and costs one List of cached pointers per scrape.
//
// Only bounded label values are exported: the app, a condition type, its
// status and its reason. A group ID or a namespace would make one series per
// group, so neither is ever a label; a reason outside the API's set (a
// status someone wrote by hand) is counted as "Other".
package groupmetrics

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// MetricName is the gauge's name; dashboards and alerts query it.
const MetricName = "chatgroup_groups"

// Values of the reason label beyond the API's reasons.
const (
	reasonNone  = "None"  // the condition is not set yet
	reasonOther = "Other" // a reason the API does not define
)

// conditionTypes are the conditions exported, each for every group.
var conditionTypes = []string{imv1alpha1.ConditionReady, imv1alpha1.ConditionSynced, imv1alpha1.ConditionUpToDate}

var knownReasons = map[string]bool{
	imv1alpha1.ReasonAvailable: true, imv1alpha1.ReasonGroupNotFound: true,
	imv1alpha1.ReasonGroupDestroyed: true, imv1alpha1.ReasonCredentialsInvalid: true,
	imv1alpha1.ReasonReconcileSuccess: true, imv1alpha1.ReasonReconcileError: true,
	imv1alpha1.ReasonRateLimited: true, imv1alpha1.ReasonRejectedByIM: true,
	imv1alpha1.ReasonInSync: true, imv1alpha1.ReasonDrifted: true,
	imv1alpha1.ReasonConflict: true, imv1alpha1.ReasonPaused: true,
	imv1alpha1.ReasonDestroyDeferred: true,
	imv1alpha1.ReasonAppNotFound:     true, imv1alpha1.ReasonNoApp: true,
	imv1alpha1.ReasonAppNotAllowed: true,
}

var desc = prometheus.NewDesc(MetricName,
	"ChatGroups by app and by the status and reason of each condition (Ready, Synced, UpToDate); a group without a condition counts as Unknown/None. Every group is counted once per condition type.",
	[]string{"app", "condition", "status", "reason"}, nil)

// Collector lists ChatGroups from a cache reader at scrape time.
type Collector struct {
	reader  client.Reader
	log     logr.Logger
	timeout time.Duration
}

// New returns a Collector reading ChatGroups from reader (the manager's cache).
func New(reader client.Reader, log logr.Logger) *Collector {
	return &Collector{reader: reader, log: log, timeout: 5 * time.Second}
}

// Register adds a Collector over mgr's cache to controller-runtime's
// registry, which the manager's metrics endpoint serves.
func Register(mgr manager.Manager) error {
	return metrics.Registry.Register(New(mgr.GetCache(), mgr.GetLogger().WithName("groupmetrics")))
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- desc }

type key struct{ app, condition, status, reason string }

// Collect implements prometheus.Collector. When the cache cannot answer
// (not started or not synced within the timeout) it exports nothing rather
// than failing the whole scrape: every other metric stays visible, and the
// absence of chatgroup_groups is itself visible.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var list imv1alpha1.ChatGroupList
	if err := c.reader.List(ctx, &list); err != nil {
		c.log.V(1).Info("ChatGroups not counted: the cache did not answer", "err", err.Error())
		return
	}
	for _, m := range Count(list.Items) {
		ch <- m
	}
}

// Count returns the gauges for groups.
func Count(groups []imv1alpha1.ChatGroup) []prometheus.Metric {
	counts := map[key]float64{}
	for i := range groups {
		conds := groups[i].Status.Conditions
		for _, t := range conditionTypes {
			k := key{app: apps.NameOf(&groups[i]), condition: t, status: string(metav1.ConditionUnknown), reason: reasonNone}
			for _, cond := range conds {
				if cond.Type != t {
					continue
				}
				k.status = statusLabel(cond.Status)
				k.reason = reasonOther
				if knownReasons[cond.Reason] {
					k.reason = cond.Reason
				}
			}
			counts[k]++
		}
	}
	out := make([]prometheus.Metric, 0, len(counts))
	for k, n := range counts {
		out = append(out, prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, n, k.app, k.condition, k.status, k.reason))
	}
	return out
}

func statusLabel(s metav1.ConditionStatus) string {
	switch s {
	case metav1.ConditionTrue, metav1.ConditionFalse:
		return string(s)
	}
	return string(metav1.ConditionUnknown)
}
