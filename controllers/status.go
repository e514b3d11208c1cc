package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

const maxConflictRetries = 8

// patchStatus applies mutate to cg's status and writes the difference, if
// any, as a merge patch carrying resourceVersion: the webhook writer merges
// callbacks into the same status, so a blind write could erase one. On a
// conflict the object is read again from the API server (the cache may lag)
// and mutate is applied to the fresh copy: mutate must therefore be a pure
// function of the facts the pass gathered and the status it is given. It
// returns the object as written (or unchanged) and whether it wrote.
func (r *Reconciler) patchStatus(ctx context.Context, cg *imv1alpha1.ChatGroup, mutate func(*imv1alpha1.ChatGroup)) (*imv1alpha1.ChatGroup, bool, error) {
	cur := cg.DeepCopy()
	for attempt := 0; ; attempt++ {
		orig := cur.DeepCopy()
		mutate(cur)
		if equality.Semantic.DeepEqual(orig.Status, cur.Status) {
			return cur, false, nil
		}
		err := r.client.Status().Patch(ctx, cur, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		if err == nil {
			r.holds.wrote(client.ObjectKeyFromObject(cg), cg.UID, orig.ResourceVersion)
			return cur, true, nil
		}
		if !apierrors.IsConflict(err) || attempt >= maxConflictRetries {
			return orig, false, fmt.Errorf("writing status: %w", err)
		}
		fresh := &imv1alpha1.ChatGroup{}
		if err := r.apiReader.Get(ctx, client.ObjectKeyFromObject(cg), fresh); err != nil {
			return orig, false, fmt.Errorf("re-reading after a conflict: %w", err)
		}
		cur = fresh
	}
}
