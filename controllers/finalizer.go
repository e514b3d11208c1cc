package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/objwrite"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// chatGroupCRD is the name of the ChatGroup CustomResourceDefinition.
var chatGroupCRD = "chatgroups." + imv1alpha1.GroupVersion.Group

// wantsFinalizer: only Enforce + Delete destroys the group, so only it needs
// to hold deletion. Observe never writes to IM, destroy_group included: an
// Observe ChatGroup with deletionPolicy Delete is deleted at once and the
// group is left alone.
func wantsFinalizer(cg *imv1alpha1.ChatGroup) bool {
	return cg.Spec.DeletionPolicy == imv1alpha1.DeletionPolicyDelete && enforced(cg)
}

// ensureFinalizer adds or removes the finalizer as the policies ask; the
// Orphan default deletes instantly.
func (r *Reconciler) ensureFinalizer(ctx context.Context, cg *imv1alpha1.ChatGroup) error {
	if want := wantsFinalizer(cg); want != controllerutil.ContainsFinalizer(cg, imv1alpha1.Finalizer) {
		return r.setFinalizer(ctx, cg, want)
	}
	return nil
}

// finalize destroys the group of a deleted Enforce + Delete ChatGroup, then
// lets the object go. destroy_group cannot be undone, so it runs only when
// every guard agrees, in this order:
//
//  1. the ChatGroup CRD is not being deleted (mass-deletion guard: removing
//     the CRD deletes every ChatGroup, which must not wipe every group);
//  2. it is not paused (the deletion waits for it to be unpaused);
//  3. this ChatGroup owns the group (a conflicting claim never destroys);
//  4. this ChatGroup created the group, or carries the destroy-adopted
//     annotation;
//  5. the app's destroy budget has room (the deletion waits for it).
//
// A guard that says no releases the group (1, 3, 4: the finalizer goes,
// with a DestroySkipped Event) or waits (2, 5). A group already gone counts as
// destroyed. Without credentials the finalizer stays (Synced False says
// why): switching deletionPolicy to Orphan releases it.
func (r *Reconciler) finalize(ctx context.Context, cg *imv1alpha1.ChatGroup) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cg, imv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	// The guards below decide an irreversible call: they read the object
	// as the API server has it, not as the cache last saw it. A cached copy
	// still holding the finalizer just removed would destroy twice (and
	// spend the budget twice); one with an old annotation would miss a
	// pause set a moment ago.
	live := &imv1alpha1.ChatGroup{}
	if err := r.apiReader.Get(ctx, client.ObjectKeyFromObject(cg), live); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if live.UID != cg.UID || !controllerutil.ContainsFinalizer(live, imv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	cg = live
	if !wantsFinalizer(cg) {
		return ctrl.Result{}, r.setFinalizer(ctx, cg, false)
	}
	appName := apps.NameOf(cg)
	release := func(why string) (ctrl.Result, error) {
		destroysTotal.WithLabelValues(appName, destroyOutcomeSkipped).Inc()
		r.rec.Eventf(cg, nil, corev1.EventTypeWarning, EventDestroySkipped, "Release",
			"released IM group %s without destroying it: %s", cg.Spec.GroupID, why)
		return ctrl.Result{}, r.setFinalizer(ctx, cg, false)
	}
	if deleting, err := r.crdDeleting(ctx); err != nil || deleting {
		if err != nil {
			return ctrl.Result{}, err
		}
		return release("the ChatGroup CRD is being deleted, and removing the CRD never destroys groups (mass-deletion guard)")
	}
	if paused(cg) {
		c := cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonPaused,
			"deletion waits: the "+imv1alpha1.AnnotationPaused+" annotation stops every REST call, destroy_group included; remove it to destroy the group, or set deletionPolicy Orphan to release it")
		return ctrl.Result{}, r.writeFailure(ctx, cg, &c, nil)
	}
	app, noApp := r.appOf(cg)
	if noApp != nil && r.appLoading(ctx, cg) {
		return ctrl.Result{RequeueAfter: appLoadWait}, nil
	}
	if noApp != nil {
		if noApp.Reason == imv1alpha1.ReasonAppNotAllowed {
			// The app was never this namespace's to use: its group is
			// not this ChatGroup's to destroy.
			return release(noApp.Message)
		}
		// The app may come back (a ChatApp re-applied): wait for it
		// rather than forget a group that deletionPolicy Delete owns.
		c := *noApp
		c.Type = imv1alpha1.ConditionSynced
		c.Message = "deletion waits: " + c.Message + "; set deletionPolicy Orphan to delete without destroying"
		return ctrl.Result{}, r.writeFailure(ctx, cg, &c, nil)
	}
	if why, err := r.releaseReason(ctx, cg); err != nil || why != "" {
		if err != nil {
			return ctrl.Result{}, err
		}
		return release(why)
	}
	key := client.ObjectKeyFromObject(cg)
	now := r.opts.Now()
	if app.Client == nil {
		c := cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonCredentialsInvalid,
			"cannot destroy the group: "+app.NoClientReason()+"; set deletionPolicy Orphan to delete without destroying")
		return ctrl.Result{}, r.writeFailure(ctx, cg, &c, nil)
	}
	if wait := r.holds.active(key, cg.Generation, false, now); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if res, waiting, err := r.takeDestroy(ctx, cg, appName); waiting || err != nil {
		return res, err
	}
	err := app.Client.DestroyGroup(ctx, cg.Spec.GroupID)
	if err != nil && !tim.IsNotFound(err) {
		fl := r.classify(key, err)
		r.credentialsRefused(ctx, app, err)
		r.holds.set(key, cg.Generation, fl, now)
		if werr := r.writeFailure(ctx, cg, &fl.synced, fl.ready); werr != nil && fl.retErr == nil {
			return ctrl.Result{}, werr
		}
		if fl.retErr != nil {
			return ctrl.Result{}, fl.retErr
		}
		return ctrl.Result{RequeueAfter: fl.hold}, nil
	}
	r.holds.forget(key)
	destroysTotal.WithLabelValues(appName, destroyOutcomeDestroyed).Inc()
	// Only a destroy that did something is an Event: a retry after a
	// failed finalizer removal finds the group gone.
	if err == nil {
		r.rec.Eventf(cg, nil, corev1.EventTypeNormal, EventGroupDestroyed, "Destroy",
			"destroyed IM group %s (deletionPolicy Delete)", cg.Spec.GroupID)
	}
	return ctrl.Result{}, r.setFinalizer(ctx, cg, false)
}

// crdDeleting reports the ChatGroup CRD being deleted (or gone), read live:
// the cache cannot be trusted to have seen it. An error fails closed
// (nothing is destroyed, the finalizer stays and the reconcile is retried).
func (r *Reconciler) crdDeleting(ctx context.Context) (bool, error) {
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	err := r.apiReader.Get(ctx, client.ObjectKey{Name: chatGroupCRD}, crd)
	switch {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("checking whether the ChatGroup CRD is being deleted before destroy_group: %w", err)
	}
	return !crd.DeletionTimestamp.IsZero(), nil
}

// releaseReason says why the deletion of cg must release its group without
// destroying it, or "" when destroying is allowed.
func (r *Reconciler) releaseReason(ctx context.Context, cg *imv1alpha1.ChatGroup) (string, error) {
	peers, err := r.peers(ctx, cg)
	if err != nil {
		return "", err
	}
	if owner := otherOwner(cg, peers); owner != nil {
		return fmt.Sprintf("%s/%s manages the group (it is the oldest Enforce ChatGroup declaring it)", owner.Namespace, owner.Name), nil
	}
	if !cg.Status.CreatedByOperator && !destroyAdopted(cg) {
		return "this ChatGroup did not create the group (it adopted an existing one); to destroy adopted groups on deletion, set the annotation " +
			imv1alpha1.AnnotationDestroyAdopted + `: "true" before deleting`, nil
	}
	return "", nil
}

// takeDestroy takes one destroy from the app's budget. waiting: the budget
// is spent (or cannot be kept), the deletion waits with Synced False
// DestroyDeferred and is retried when a slot frees.
func (r *Reconciler) takeDestroy(ctx context.Context, cg *imv1alpha1.ChatGroup, app string) (res ctrl.Result, waiting bool, err error) {
	ok, wait, err := r.budget.Take(ctx, app)
	if ok {
		return ctrl.Result{}, false, nil
	}
	var msg string
	if err != nil {
		// Fail closed: a budget that cannot be kept is a spent one.
		msg = "destroy_group waits: the destroy budget cannot be checked: " + err.Error()
		wait = r.opts.RateLimitBackoffMax
	} else {
		msg = fmt.Sprintf("destroy_group waits: %d groups were destroyed in the last %s (--max-destroys-per-hour); a slot frees in %s",
			r.budget.Max(), r.budget.Window(), wait.Round(time.Second))
	}
	c := cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonDestroyDeferred, msg)
	prev := meta.FindStatusCondition(cg.Status.Conditions, imv1alpha1.ConditionSynced)
	if prev == nil || prev.Reason != imv1alpha1.ReasonDestroyDeferred {
		destroysTotal.WithLabelValues(app, destroyOutcomeDeferred).Inc()
		r.rec.Eventf(cg, nil, corev1.EventTypeWarning, EventDestroyDeferred, "Destroy", "%s", msg)
	}
	if werr := r.writeFailure(ctx, cg, &c, nil); werr != nil {
		return ctrl.Result{}, true, werr
	}
	// A little past the moment the slot frees, so the retry finds it free.
	return ctrl.Result{RequeueAfter: wait + time.Second}, true, nil
}

// setFinalizer adds or drops our finalizer through the shared object
// writer: a merge patch replaces the whole list, so it must not race
// another finalizer change, and the receiver's status writes make
// conflicts likely on a busy group. cg is updated in place.
func (r *Reconciler) setFinalizer(ctx context.Context, cg *imv1alpha1.ChatGroup, want bool) error {
	res, err := r.objects.Write(ctx, cg, objwrite.Object, func(o client.Object) {
		if want {
			controllerutil.AddFinalizer(o, imv1alpha1.Finalizer)
		} else {
			controllerutil.RemoveFinalizer(o, imv1alpha1.Finalizer)
		}
	}, nil)
	if !want && apierrors.IsNotFound(err) {
		return nil // gone already: nothing left to release
	}
	if err != nil {
		return err
	}
	*cg = *res.Obj.(*imv1alpha1.ChatGroup)
	return nil
}

// writeFailure records a failed exchange on a ChatGroup being deleted.
func (r *Reconciler) writeFailure(ctx context.Context, cg *imv1alpha1.ChatGroup, synced, ready *metav1.Condition) error {
	f := &facts{gen: cg.Generation, synced: synced, ready: ready}
	written, _, err := r.patchStatus(ctx, cg, f.apply)
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	r.transitionEvents(cg.Status.Conditions, written)
	return nil
}
