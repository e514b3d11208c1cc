package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// facts is what one pass learned and did, as steps replayed on whatever
// status the API server holds when the pass writes (see patchStatus). The
// steps are pure: reads fold in without regressing, pushes record the
// values sent with the time they were sent.
type facts struct {
	gen      int64
	steps    []func(*imv1alpha1.ChatGroup)
	observed bool    // status.observedGeneration = gen
	handled  *string // status.lastHandledResyncRequest
	readAt   *metav1.Time
	synced   *metav1.Condition
	ready    *metav1.Condition
	// requeueAfter asks for another pass (a postponed drift correction).
	requeueAfter time.Duration
	// destroyedSeen: this pass found a group that existed gone, and did
	// not re-create it (for the GroupDestroyed Event).
	destroyedSeen bool
	// missing: this pass read the group and IM does not have it.
	missing bool
	// countSkipped: the read's member count did not land on the status
	// written (see groupstatus.ReadOutcome); set by the last replay.
	countSkipped bool
}

// add applies s to the pass's working copy at once (later decisions see
// it) and keeps it for the write.
func (f *facts) add(view *imv1alpha1.ChatGroup, s func(*imv1alpha1.ChatGroup)) {
	s(view)
	f.steps = append(f.steps, s)
}

func (f *facts) addRead(view *imv1alpha1.ChatGroup, obs observation) {
	f.missing = !obs.Exists
	var destroyed bool
	saw := existenceOf(&view.Status)
	f.add(view, func(cg *imv1alpha1.ChatGroup) {
		out := applyRead(&cg.Status, obs, saw)
		destroyed, f.countSkipped = out.Destroyed, out.CountSkipped
	})
	if destroyed {
		f.destroyedSeen = true
	}
}

func (f *facts) apply(cg *imv1alpha1.ChatGroup) {
	for _, s := range f.steps {
		s(cg)
	}
	st := &cg.Status
	if f.observed {
		st.ObservedGeneration = f.gen
	}
	if f.handled != nil {
		st.LastHandledResyncRequest = *f.handled
	}
	if f.readAt != nil {
		st.LastResyncTime = f.readAt
	}
	setConditions(cg, f.gen, f.synced, f.ready)
}

// sync is the reconcile of a ChatGroup that is not being deleted.
func (r *Reconciler) sync(ctx context.Context, cg *imv1alpha1.ChatGroup) (ctrl.Result, error) {
	key := client.ObjectKeyFromObject(cg)
	now := r.opts.Now()
	m := r.holds.memo(key)
	// A cached copy older than a write of this process (ours or the
	// receiver's) is replaced by what that write returned.
	cg = r.objects.Freshest(cg).(*imv1alpha1.ChatGroup)
	if m.stale(cg) {
		// The cache has not caught up with this controller's own last
		// write: deciding on it would repeat reads and pushes already done.
		fresh := &imv1alpha1.ChatGroup{}
		if err := r.apiReader.Get(ctx, key, fresh); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		cg = fresh
	}
	// Only an Enforce ChatGroup can be in conflict and only a discovered
	// one can be redundant: an Observe one needs no peers.
	app, noApp := r.appOf(cg)
	if noApp != nil && r.appLoading(ctx, cg) {
		return ctrl.Result{RequeueAfter: appLoadWait}, nil
	}
	var peers []imv1alpha1.ChatGroup
	if enforced(cg) || discovered(cg) {
		var err error
		if peers, err = r.peers(ctx, cg); err != nil {
			return ctrl.Result{}, err
		}
	}
	if discovered(cg) && declaredPeer(peers) != nil {
		// Someone declared this group: the discovered ChatGroup would
		// only show it twice in `kubectl get cg -A`.
		return ctrl.Result{}, r.deleteDiscovered(ctx, cg, "a declared ChatGroup claims the group")
	}
	reqVal, requested := resyncRequested(cg, m)
	// A pass that was held back (paused, or in conflict) read nothing:
	// the first pass free again reads the group at once.
	userTriggered := needRead(cg, m) || wasBlocked(cg)
	// A read whose member count could not land asked for another.
	recount := m.recountDue(now)
	f := &facts{gen: cg.Generation}
	view := cg.DeepCopy()
	var res ctrl.Result
	var retErr error

	owner := otherOwner(cg, peers)
	if noApp != nil {
		synced := *noApp
		synced.Type = imv1alpha1.ConditionSynced
		f.ready, f.synced = noApp, &synced
	} else if owner != nil {
		msg := conflictMessage(cg, owner)
		ready := cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonConflict, msg)
		synced := cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonConflict, msg)
		f.ready, f.synced = &ready, &synced
	}
	if paused(cg) {
		synced := cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonPaused,
			"paused by the "+imv1alpha1.AnnotationPaused+" annotation: no REST call until it is removed (callbacks are still recorded)")
		f.synced = &synced
	}

	switch wait := r.holds.active(key, cg.Generation, requested, now); {
	case noApp != nil || owner != nil || paused(cg):
		// No REST call at all. observedGeneration stays behind, and the
		// Synced reason remembers the hold, so the pass after it reads.
	case app.Client == nil:
		// No credentials: nothing can be read or pushed. observedGeneration
		// stays behind, so a restart with a key reads these groups at once.
		c := cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonCredentialsInvalid, app.NoClientReason())
		f.synced = &c
	case wait > 0:
		// REST calls pause after a failure that retrying now cannot fix;
		// only spec and status are compared, and the failure's conditions
		// stay as they were written.
		res.RequeueAfter = wait
		if c := meta.FindStatusCondition(cg.Status.Conditions, imv1alpha1.ConditionReady); c != nil && c.Reason == imv1alpha1.ReasonCredentialsInvalid {
			keep := *c
			f.ready = &keep
		}
	default:
		err := r.exchange(ctx, app.Client, cg, view, f, userTriggered || recount, userTriggered)
		res.RequeueAfter = f.requeueAfter
		if err == nil {
			c := cond(imv1alpha1.ConditionSynced, true, imv1alpha1.ReasonReconcileSuccess, "the last exchange with IM succeeded")
			f.synced, f.observed = &c, true
			if requested {
				f.handled = &reqVal
			}
			r.holds.forget(key)
			break
		}
		fl := r.classify(key, err)
		r.credentialsRefused(ctx, app, err)
		f.synced, f.ready = &fl.synced, fl.ready
		if fl.terminal {
			// A refused value is not retried until spec changes (or the
			// hold ends): the generation counts as handled.
			f.observed = true
			if requested {
				f.handled = &reqVal
			}
		}
		r.holds.set(key, cg.Generation, fl, now)
		res.RequeueAfter = fl.hold
		retErr = fl.retErr
		if retErr != nil {
			res = ctrl.Result{}
		}
	}

	if f.missing && discovered(cg) {
		return ctrl.Result{}, r.deleteDiscovered(ctx, cg, "IM has no such group")
	}
	written, wrote, err := r.patchStatus(ctx, cg, f.apply)
	ctrl.LoggerFrom(ctx).V(1).Info("synced", "generation", cg.Generation, "steps", len(f.steps),
		"wrote", wrote, "destroyed", written.Status.Destroyed, "requeueAfter", res.RequeueAfter, "error", retErr)
	if err != nil {
		if retErr != nil {
			return ctrl.Result{}, fmt.Errorf("%w (and %w)", retErr, err)
		}
		return ctrl.Result{}, err
	}
	res.RequeueAfter = soonest(res.RequeueAfter, r.scheduleRecount(key, cg.UID, m, f.readAt != nil, f.countSkipped, now))
	if f.observed {
		handled := written.Status.LastHandledResyncRequest
		if f.handled != nil {
			handled = *f.handled
		}
		r.holds.observed(key, cg.UID, f.gen, handled)
	}
	if f.destroyedSeen {
		r.rec.Eventf(written, nil, corev1.EventTypeWarning, EventGroupDestroyed, "Observe",
			"group %s no longer exists in IM", cg.Spec.GroupID)
	}
	r.transitionEvents(cg.Status.Conditions, written)
	return res, retErr
}

// wasBlocked reports a ChatGroup whose last pass made no REST call because
// it was paused, in conflict or without a usable app.
func wasBlocked(cg *imv1alpha1.ChatGroup) bool {
	c := meta.FindStatusCondition(cg.Status.Conditions, imv1alpha1.ConditionSynced)
	return c != nil && c.Status == metav1.ConditionFalse &&
		(c.Reason == imv1alpha1.ReasonPaused || c.Reason == imv1alpha1.ReasonConflict || appBlocked(c.Reason))
}

// scheduleRecount keeps the recount of a ChatGroup's members going and
// returns when the next pass must run for it (0: no recount pending): a
// pass that read records whether its count landed (holds.afterRead); one
// that did not read keeps a pending recount's time.
func (r *Reconciler) scheduleRecount(key holdKey, uid types.UID, m memo, read, skipped bool, now time.Time) time.Duration {
	if read {
		return r.holds.afterRead(key, uid, skipped, now)
	}
	return m.recountWait(now)
}

// soonest is the earlier of two requeue delays, 0 meaning none.
func soonest(a, b time.Duration) time.Duration {
	if a <= 0 || (b > 0 && b < a) {
		return b
	}
	return a
}

// exchange reads the group when read is set and, for Enforce, pushes what
// differs; userTriggered (spec or a resync request changed) lets it
// re-create a group destroyed outside the operator. Everything it learns
// goes into f, also when it fails half-way.
func (r *Reconciler) exchange(ctx context.Context, im IM, cg, view *imv1alpha1.ChatGroup, f *facts, read, userTriggered bool) error {
	if read {
		obs, err := r.read(ctx, im, cg)
		if err != nil {
			return err
		}
		f.addRead(view, obs)
		t := metav1.NewTime(obs.At)
		f.readAt = &t
		// The first read of an Enforce ChatGroup finding the group already
		// there takes it over, as create_group answering "exists" would.
		if obs.Exists && enforced(cg) && cg.Status.ObservedGeneration == 0 && cg.Status.GroupID == "" {
			r.rec.Eventf(cg, nil, corev1.EventTypeNormal, EventAdopted, "Adopt", "adopted the existing IM group %s", cg.Spec.GroupID)
		}
	}
	if !enforced(cg) {
		return nil
	}
	return r.push(ctx, im, cg, view, f, userTriggered)
}
