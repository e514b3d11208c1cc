package controllers

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// Event reasons the controller emits, on transitions and actions only.
const (
	EventCreated        = "Created"
	EventAdopted        = "Adopted"
	EventUpdated        = "Updated"
	EventDriftCorrected = "DriftCorrected"
	EventDriftDetected  = "DriftDetected"
	EventSyncFailed     = "SyncFailed"
	EventGroupDestroyed = "GroupDestroyed"
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

// failure is a classified IM error: the conditions it sets and how long
// REST calls for the ChatGroup pause.
type failure struct {
	synced   metav1.Condition
	ready    *metav1.Condition
	hold     time.Duration
	terminal bool  // the spec generation counts as handled (retry only after hold or on spec change)
	retErr   error // returned to the workqueue (transient: its backoff applies)
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
			ready:  &c, hold: r.opts.CredentialsRetry,
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

// holds pauses REST calls per ChatGroup after a failure that retrying at
// once cannot fix. It is in memory: a restart retries once, which is cheap.
// Without it every message callback (each one a status change, hence a
// reconcile) would resend a refused value or hammer a rate-limited API.
type holds struct {
	mu sync.Mutex
	m  map[holdKey]hold
	// fixed is when drift was last corrected per ChatGroup: corrections are
	// spaced so that the operator and another writer that insists on a
	// different value (a script, a second operator, an IM-side
	// normalisation) cannot ping-pong at callback speed.
	fixed map[holdKey]time.Time
	memos map[holdKey]memo
}

func (h *holds) memo(key holdKey) memo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.memos[key]
}

func (h *holds) update(key holdKey, uid types.UID, change func(*memo)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.memos == nil {
		h.memos = map[holdKey]memo{}
	}
	m := h.memos[key]
	if m.uid != uid {
		m = memo{uid: uid}
	}
	change(&m)
	h.memos[key] = m
}

// observed records that generation (and a resync request) was handled.
func (h *holds) observed(key holdKey, uid types.UID, generation int64, handled string) {
	h.update(key, uid, func(m *memo) { m.generation, m.handled = generation, handled })
}

// driftWait returns how long a drift correction for key must still wait.
func (h *holds) driftWait(key holdKey, now time.Time, every time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	last, ok := h.fixed[key]
	if !ok || now.Sub(last) >= every {
		return 0
	}
	return every - now.Sub(last)
}

func (h *holds) driftFixed(key holdKey, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fixed == nil {
		h.fixed = map[holdKey]time.Time{}
	}
	h.fixed[key] = now
}

type holdKey = types.NamespacedName

type hold struct {
	until      time.Time
	generation int64 // a terminal hold ends when spec changes
	terminal   bool
	failures   int // consecutive rate-limit failures, for the backoff
}

// active returns how long REST calls for key still pause; 0 when they may go.
func (h *holds) active(key holdKey, gen int64, requested bool, now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	x, ok := h.m[key]
	if !ok || !now.Before(x.until) {
		return 0
	}
	if x.terminal && (x.generation != gen || requested) {
		return 0
	}
	return x.until.Sub(now)
}

func (h *holds) set(key holdKey, gen int64, f failure, now time.Time) {
	if f.hold <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	x := h.m[key]
	x.until, x.generation, x.terminal = now.Add(f.hold), gen, f.terminal
	h.m[key] = x
}

// backoff counts one more rate-limit failure and returns the wait.
func (h *holds) backoff(key holdKey, base, maxWait time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	x := h.m[key]
	d := base
	for i := 0; i < x.failures && d < maxWait; i++ {
		d *= 2
	}
	x.failures++
	h.m[key] = x
	return min(d, maxWait)
}

func (h *holds) forget(key holdKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}

// drop forgets everything about a ChatGroup that no longer exists.
func (h *holds) drop(key holdKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
	delete(h.fixed, key)
	delete(h.memos, key)
}
