package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/objwrite"
)

// patchStatus applies mutate to cg's status and writes the difference, if
// any, through the process's shared object writer (optimistic concurrency;
// on a conflict mutate is applied again to a fresh copy, so it must be a
// pure function of the facts the pass gathered and the status it is
// given). It returns the object as written (or unchanged) and whether it
// wrote.
func (r *Reconciler) patchStatus(ctx context.Context, cg *imv1alpha1.ChatGroup, mutate func(*imv1alpha1.ChatGroup)) (*imv1alpha1.ChatGroup, bool, error) {
	res, err := r.objects.Write(ctx, cg, objwrite.Status, func(o client.Object) { mutate(o.(*imv1alpha1.ChatGroup)) }, nil)
	if err != nil {
		return res.Obj.(*imv1alpha1.ChatGroup), false, fmt.Errorf("writing status: %w", err)
	}
	return res.Obj.(*imv1alpha1.ChatGroup), res.Wrote, nil
}
