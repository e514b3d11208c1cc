package timmetrics

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// DefaultApp is the app label of the default app (the flags' app); a
// ChatApp's client is labelled with the ChatApp's name.
const DefaultApp = imv1alpha1.DefaultAppName

// Error classes, the "class" label of chatgroup_im_errors_total. They are
// tim's predicates (one home for which code means what), not code lists.
const (
	ClassCredentials  = "credentials"
	ClassRateLimited  = "rate_limited"
	ClassNotFound     = "not_found"
	ClassInvalidInput = "invalid_input"
	ClassTransient    = "transient"
	ClassOther        = "other"
)

var (
	pushesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_pushes_total",
		Help: "Writes to IM that IM accepted, by app and command (create_group, modify_group_base_info, modify_group_attr, delete_group_attr, destroy_group). " +
			"A steady rate while no spec changes is an update loop.",
	}, []string{"app", "command"})

	errorsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_im_errors_total",
		Help: "Failed IM REST attempts by app and class: credentials, rate_limited, not_found, invalid_input, transient, other.",
	}, []string{"app", "class"})
)

// pushCommands are the commands that change a group in IM.
var pushCommands = map[string]bool{
	"create_group":           true,
	"modify_group_base_info": true,
	"modify_group_attr":      true,
	"delete_group_attr":      true,
	"destroy_group":          true,
}

func init() {
	metrics.Registry.MustRegister(pushesTotal, errorsTotal)
	// Series that exist from the start: an alert on rate() or increase()
	// sees the first failure or push instead of a series that appears at 1.
	for cmd := range pushCommands {
		pushesTotal.WithLabelValues(DefaultApp, cmd)
	}
	for _, c := range []string{ClassCredentials, ClassRateLimited, ClassNotFound, ClassInvalidInput, ClassTransient, ClassOther} {
		errorsTotal.WithLabelValues(DefaultApp, c)
	}
}

func (o Observer) appLabel() string {
	if o.App == "" {
		return DefaultApp
	}
	return o.App
}

// countOutcome counts one attempt of cmd (without its service) as a push
// or an error class.
func (o Observer) countOutcome(cmd, result string) {
	switch result {
	case tim.ResultOK:
		if pushCommands[cmd] {
			pushesTotal.WithLabelValues(o.appLabel(), cmd).Inc()
		}
	case tim.ResultCanceled:
		// The caller gave up; nothing is known about IM.
	default:
		errorsTotal.WithLabelValues(o.appLabel(), errorClass(result)).Inc()
	}
}

// errorClass maps an Observer result to its class with tim's predicates.
func errorClass(result string) string {
	e := &tim.Error{}
	if s, ok := strings.CutPrefix(result, "http_"); ok {
		n, err := strconv.Atoi(s)
		if err != nil {
			return ClassOther
		}
		e.HTTPStatus = n
	} else if n, err := strconv.Atoi(result); err == nil {
		e.Code, e.HTTPStatus = n, 200
	} else if result == tim.ResultNetwork {
		return ClassTransient
	} else {
		return ClassOther
	}
	switch {
	case tim.IsCredentials(e):
		return ClassCredentials
	case tim.IsRateLimited(e):
		return ClassRateLimited
	case tim.IsNotFound(e):
		return ClassNotFound
	case tim.IsInvalidInput(e):
		return ClassInvalidInput
	case tim.IsTransient(e):
		return ClassTransient
	}
	return ClassOther
}
