package controllers

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// groupIndex indexes the cached ChatGroups by their group: app and
// spec.groupID (the same ID in two apps is two groups). The ChatGroups of
// one group are a claim's peers.
const groupIndex = "app+spec.groupID"

func indexGroup(o client.Object) []string {
	return []string{groupIndexKey(o.(*imv1alpha1.ChatGroup))}
}

func groupIndexKey(cg *imv1alpha1.ChatGroup) string {
	return apps.NameOf(cg) + "/" + cg.Spec.GroupID
}

// Two Enforce ChatGroups managing one group would undo each other's pushes
// forever (each sees the other's change as drift). So a group has one
// owner: of the Enforce ChatGroups that claim it, the oldest. Age is
// creationTimestamp, then namespace/name, which every replica and every
// restart reads the same, so ownership never depends on which reconcile
// ran first. Observe ChatGroups claim nothing: they watch beside the owner.
// A claim is on a group of one app: the same ID in another app is another
// group.

// claimsFirst orders two claims on one group: the older claim wins.
func claimsFirst(a, b *imv1alpha1.ChatGroup) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	return a.Name < b.Name
}

// peers lists the other cached ChatGroups declaring cg's group. They are
// the cache's own objects (no deep copy: this runs on every reconcile of
// an Enforce ChatGroup): read them, never modify them.
func (r *Reconciler) peers(ctx context.Context, cg *imv1alpha1.ChatGroup) ([]imv1alpha1.ChatGroup, error) {
	var list imv1alpha1.ChatGroupList
	if err := r.client.List(ctx, &list, client.MatchingFields{groupIndex: groupIndexKey(cg)}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the ChatGroups of group %s: %w", cg.Spec.GroupID, err)
	}
	out := list.Items[:0]
	for _, p := range list.Items {
		if p.UID != cg.UID {
			out = append(out, p)
		}
	}
	return out, nil
}

// otherOwner returns the ChatGroup that owns cg's group when that is not
// cg, or nil. Only an Enforce cg can be in conflict.
func otherOwner(cg *imv1alpha1.ChatGroup, peers []imv1alpha1.ChatGroup) *imv1alpha1.ChatGroup {
	if !enforced(cg) {
		return nil
	}
	var owner *imv1alpha1.ChatGroup
	for i := range peers {
		p := &peers[i]
		if enforced(p) && claimsFirst(p, cg) && (owner == nil || claimsFirst(p, owner)) {
			owner = p
		}
	}
	return owner
}

// declaredPeer returns a ChatGroup someone declared for the group of the
// discovered cg: the discovered one is then redundant.
func declaredPeer(peers []imv1alpha1.ChatGroup) *imv1alpha1.ChatGroup {
	for i := range peers {
		if peers[i].Labels[imv1alpha1.LabelDiscovered] != "true" {
			return &peers[i]
		}
	}
	return nil
}

func conflictMessage(cg, owner *imv1alpha1.ChatGroup) string {
	return fmt.Sprintf("group %s is managed by %s/%s, the oldest Enforce ChatGroup declaring it; this one makes no REST call and its deletion never destroys the group",
		cg.Spec.GroupID, owner.Namespace, owner.Name)
}

// peerEvents requeues the other ChatGroups of a group when a claim on it
// appears, goes, or changes policy: ownership may move, and a discovered
// ChatGroup may have become redundant. Status changes (every callback) do
// not concern the peers and are ignored.
func (r *Reconciler) peerEvents() handler.TypedEventHandler[client.Object, reconcile.Request] {
	enqueuePeers := func(ctx context.Context, o client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		cg, ok := o.(*imv1alpha1.ChatGroup)
		if !ok {
			return
		}
		peers, err := r.peers(ctx, cg)
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "requeueing the peers of a ChatGroup")
			return
		}
		for _, p := range peers {
			q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&p)})
		}
	}
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueuePeers(ctx, e.Object, q)
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueuePeers(ctx, e.Object, q)
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[client.Object], q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			o, ok1 := e.ObjectOld.(*imv1alpha1.ChatGroup)
			n, ok2 := e.ObjectNew.(*imv1alpha1.ChatGroup)
			if ok1 && ok2 && (o.Spec.ManagementPolicy != n.Spec.ManagementPolicy ||
				o.DeletionTimestamp.IsZero() != n.DeletionTimestamp.IsZero() ||
				o.Labels[imv1alpha1.LabelDiscovered] != n.Labels[imv1alpha1.LabelDiscovered]) {
				enqueuePeers(ctx, n, q)
			}
		},
	}
}

// paused reports the paused annotation (see imv1alpha1.AnnotationPaused).
func paused(cg *imv1alpha1.ChatGroup) bool {
	return strings.EqualFold(cg.Annotations[imv1alpha1.AnnotationPaused], "true")
}

// destroyAdopted reports the explicit opt-in to destroy a group this
// ChatGroup did not create.
func destroyAdopted(cg *imv1alpha1.ChatGroup) bool {
	return strings.EqualFold(cg.Annotations[imv1alpha1.AnnotationDestroyAdopted], "true")
}
