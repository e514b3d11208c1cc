package controllers

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Event reasons the controller emits, on transitions and actions only.
const (
	EventCreated        = "Created"
	EventAdopted        = "Adopted"
	EventUpdated        = "Updated"
	EventDriftCorrected = "DriftCorrected"
	EventDriftDetected  = "DriftDetected"
	EventSyncFailed     = "SyncFailed"
	EventGroupDestroyed = imv1alpha1.ReasonGroupDestroyed
	// EventDestroySkipped: a deletion released the group without
	// destroy_group (adopted without opt-in, in conflict, CRD deletion).
	EventDestroySkipped = "DestroySkipped"
	// EventDestroyDeferred: the destroy budget is spent; the deletion waits.
	EventDestroyDeferred = imv1alpha1.ReasonDestroyDeferred
)

// groupState is what status says about the IM group.
type groupState int

const (
	stateMissing   groupState = iota // never observed (or observed missing before it ever existed)
	stateExists                      // observed, not destroyed
	stateDestroyed                   // existed, then seen destroyed (callback or read)
)

func stateOf(cg *imv1alpha1.ChatGroup) groupState {
	switch {
	case cg.Status.Destroyed:
		return stateDestroyed
	case cg.Status.GroupID != "" && cg.Status.GroupID == cg.Spec.GroupID:
		return stateExists
	default:
		return stateMissing
	}
}

func cond(typ string, ok bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg}
}

// setConditions derives Ready and UpToDate from the (already merged) status
// and sets Synced when the pass talked to IM. ready overrides the derived
// Ready (credentials failures). meta.SetStatusCondition keeps
// LastTransitionTime when the status does not change, so an unchanged
// condition compares equal and causes no write.
func setConditions(cg *imv1alpha1.ChatGroup, gen int64, synced, ready *metav1.Condition) {
	st := &cg.Status
	set := func(c metav1.Condition) {
		c.ObservedGeneration = gen
		meta.SetStatusCondition(&st.Conditions, c)
	}
	var r, u metav1.Condition
	switch stateOf(cg) {
	case stateExists:
		r = cond(imv1alpha1.ConditionReady, true, imv1alpha1.ReasonAvailable, "the group exists in IM and was observed")
		if d := drift(&cg.Spec, st); len(d) > 0 {
			u = cond(imv1alpha1.ConditionUpToDate, false, imv1alpha1.ReasonDrifted, "drifted: "+strings.Join(d, ", "))
		} else {
			u = cond(imv1alpha1.ConditionUpToDate, true, imv1alpha1.ReasonInSync, "the declared fields equal the observed ones")
		}
	case stateDestroyed:
		msg := "the group was destroyed in IM; it is not re-created until spec changes or the " +
			imv1alpha1.AnnotationResyncRequestedAt + " annotation gets a new value"
		if !enforced(cg) {
			msg = "the group was destroyed in IM"
		}
		r = cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonGroupDestroyed, msg)
		u = cond(imv1alpha1.ConditionUpToDate, false, imv1alpha1.ReasonGroupDestroyed, "the group does not exist")
	default:
		msg := "the group does not exist in IM"
		if enforced(cg) {
			msg = "the group does not exist in IM yet"
		}
		r = cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonGroupNotFound, msg)
		u = cond(imv1alpha1.ConditionUpToDate, false, imv1alpha1.ReasonGroupNotFound, "the group does not exist")
	}
	if ready != nil {
		r = *ready
	}
	set(r)
	set(u)
	if synced != nil {
		set(*synced)
	}
}

// transitionEvents emits the Events of condition transitions between old
// and cur (after a successful write): DriftDetected for Observe, SyncFailed.
func (r *Reconciler) transitionEvents(old []metav1.Condition, cur *imv1alpha1.ChatGroup) {
	changedTo := func(typ, reason string) *metav1.Condition {
		c := meta.FindStatusCondition(cur.Status.Conditions, typ)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reason {
			return nil
		}
		if o := meta.FindStatusCondition(old, typ); o != nil && o.Status == c.Status && o.Reason == c.Reason {
			return nil
		}
		return c
	}
	if !enforced(cur) {
		if c := changedTo(imv1alpha1.ConditionUpToDate, imv1alpha1.ReasonDrifted); c != nil {
			r.rec.Eventf(cur, nil, corev1.EventTypeWarning, EventDriftDetected, "Observe", "%s", c.Message)
		}
	}
	c := meta.FindStatusCondition(cur.Status.Conditions, imv1alpha1.ConditionSynced)
	if c != nil && c.Status == metav1.ConditionFalse {
		o := meta.FindStatusCondition(old, imv1alpha1.ConditionSynced)
		if o == nil || o.Status != c.Status || o.Reason != c.Reason {
			r.rec.Eventf(cur, nil, corev1.EventTypeWarning, EventSyncFailed, "Sync", "%s", c.Message)
		}
	}
}
