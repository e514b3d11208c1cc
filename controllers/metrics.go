package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timmetrics"
)

// Outcomes of a deletion with deletionPolicy Delete, the "outcome" label of
// chatgroup_destroys_total.
const (
	destroyOutcomeDestroyed = "destroyed" // destroy_group succeeded (or the group was gone)
	destroyOutcomeDeferred  = "deferred"  // the destroy budget is spent: the deletion waits
	destroyOutcomeSkipped   = "skipped"   // released without destroying: adopted, in conflict, or the CRD is being deleted
)

var destroysTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "chatgroup_destroys_total",
	Help: "Deletions of ChatGroups with deletionPolicy Delete, by app and outcome: destroyed, deferred (the destroy budget, --max-destroys-per-hour, is spent; counted once per deferral) or skipped (released without destroy_group).",
}, []string{"app", "outcome"})

func init() {
	metrics.Registry.MustRegister(destroysTotal)
	for _, o := range []string{destroyOutcomeDestroyed, destroyOutcomeDeferred, destroyOutcomeSkipped} {
		destroysTotal.WithLabelValues(timmetrics.DefaultApp, o)
	}
}
