package controllers

import (
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// failure is a classified IM error: the conditions it sets and how long
// REST calls for the ChatGroup pause.
type failure struct {
	synced   metav1.Condition
	ready    *metav1.Condition
	hold     time.Duration
	terminal bool // the spec generation counts as handled (retry only after hold or on spec change)
	// credentials: IM refused the app's credentials; a change of them
	// ends the hold.
	credentials bool
	retErr      error // returned to the workqueue (transient: its backoff applies)
}

func (r *Reconciler) classify(key types.NamespacedName, err error) failure {
	msg := err.Error()
	// tim.Table is the one place codes are classified; this maps its
	// classes onto conditions, holds and retries.
	switch tim.ClassOf(err) {
	case tim.ClassCredentials, tim.ClassAppUnavailable:
		why := "IM refused the admin credentials: "
		if tim.ClassOf(err) == tim.ClassAppUnavailable {
			why = "IM refuses every call for this app: "
		}
		if m := tim.Meaning(err); m != "" {
			why += m + ": "
		}
		c := cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonCredentialsInvalid, why+msg)
		return failure{
			synced: cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonCredentialsInvalid, why+msg),
			ready:  &c, hold: r.opts.CredentialsRetry, credentials: true,
		}
	case tim.ClassRateLimited:
		return failure{
			synced: cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonRateLimited, "IM rate limit: "+msg),
			hold:   r.holds.backoff(key, r.opts.RateLimitBackoff, r.opts.RateLimitBackoffMax),
		}
	case tim.ClassRejected:
		detail := rejectedDetail(err)
		if m := tim.Meaning(err); m != "" {
			detail += " (" + m + ")"
		}
		return failure{
			synced: cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonRejectedByIM, "IM refused the request: "+detail),
			hold:   r.opts.RejectedRetry, terminal: true,
		}
	default:
		return failure{
			synced: cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonReconcileError, msg),
			retErr: err,
		}
	}
}

// rejectedDetail names the IM code and info explicitly, so users can look
// the code up without parsing the client's error text.
func rejectedDetail(err error) string {
	var e *tim.Error
	if errors.As(err, &e) && e.Code != 0 {
		return fmt.Sprintf("%s: ErrorCode %d: %s", e.Command, e.Code, e.Info)
	}
	return err.Error()
}
