// Package index registers the cache field indexes shared by the webhook
// server and the controller. A field index can be registered only once per
// manager, so neither of them owns it: main registers it before both start.
package index

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Setup registers the spec.groupID index, which lets a callback find its
// ChatGroup in the informer cache instead of reading from the API server.
func Setup(ctx context.Context, indexer client.FieldIndexer) error {
	return indexer.IndexField(ctx, &imv1alpha1.ChatGroup{}, imv1alpha1.GroupIDIndex, GroupIDOf)
}

// GroupIDOf is the index function: the ChatGroup's declared group ID.
func GroupIDOf(obj client.Object) []string {
	cg, ok := obj.(*imv1alpha1.ChatGroup)
	if !ok || cg.Spec.GroupID == "" {
		return nil
	}
	return []string{cg.Spec.GroupID}
}
