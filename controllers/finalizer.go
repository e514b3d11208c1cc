package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/objwrite"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

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
// lets the object go. A group already gone counts as destroyed. Without
// credentials the finalizer stays (Synced False says why): switching
// deletionPolicy to Orphan releases it.
func (r *Reconciler) finalize(ctx context.Context, cg *imv1alpha1.ChatGroup) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(cg, imv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if wantsFinalizer(cg) {
		key := client.ObjectKeyFromObject(cg)
		now := r.opts.Now()
		if r.im == nil {
			c := cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonCredentialsInvalid,
				"cannot destroy the group: "+r.opts.NoIMMessage+"; set deletionPolicy Orphan to delete without destroying")
			return ctrl.Result{}, r.writeFailure(ctx, cg, &c, nil)
		}
		if wait := r.holds.active(key, cg.Generation, false, now); wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
		err := r.im.DestroyGroup(ctx, cg.Spec.GroupID)
		if err != nil && !tim.IsNotFound(err) {
			fl := r.classify(key, err)
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
		// Only a destroy that did something is an Event: a retry after a
		// failed finalizer removal finds the group gone.
		if err == nil {
			r.rec.Eventf(cg, nil, corev1.EventTypeNormal, EventGroupDestroyed, "Destroy",
				"destroyed IM group %s (deletionPolicy Delete)", cg.Spec.GroupID)
		}
	}
	return ctrl.Result{}, r.setFinalizer(ctx, cg, false)
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
