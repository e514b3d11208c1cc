package webhookserver

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupname"
)

// DiscoveryName is the ChatGroup name for an undeclared group. The rule
// lives in internal/groupname so that `kubectl chatgroup import` names a
// group exactly as discovery does.
func DiscoveryName(groupID string) string { return groupname.For(groupID) }

// targets returns the ChatGroups that claim groupID, from the routing
// table. With discovery on and none claiming it, it returns the
// deterministic name in the discovery namespace and discover=true: the
// writer creates that ChatGroup before its first status write, so no API
// request is made while IM waits for the answer (it gives up after 2 s).
//
// Discovery is bounded: at most DiscoveryMaxGroups ChatGroups in the
// namespace, and DiscoveryPerMinute new ones (a callback for a group whose
// discovery is already pending takes no new token). Past either, the
// callback is answered like one for an unclaimed group, and counted.
func (h *handler) targets(groupID string) (keys []types.NamespacedName, discover bool) {
	keys = h.routes.lookup(groupID)
	ns := h.opts.DiscoveryNamespace
	if len(keys) > 0 || ns == "" {
		return keys, false
	}
	key := types.NamespacedName{Namespace: ns, Name: DiscoveryName(groupID)}
	if h.writer.isPending(key) {
		return []types.NamespacedName{key}, true
	}
	if h.routes.countIn(ns) >= h.opts.DiscoveryMaxGroups {
		discoveryRefused.WithLabelValues("max_groups").Inc()
		return nil, false
	}
	if !h.discoveries.Allow() {
		discoveryRefused.WithLabelValues("rate").Inc()
		return nil, false
	}
	return []types.NamespacedName{key}, true
}

// discover creates the ChatGroup for an undeclared group (Observe: the
// operator never writes to a group it only discovered). Racing replicas
// derive the same name, so the loser gets AlreadyExists and uses the
// winner's object.
func (w *Writer) discover(ctx context.Context, key types.NamespacedName, u *update, obj *imv1alpha1.ChatGroup) error {
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{imv1alpha1.LabelDiscovered: "true"}},
		Spec: imv1alpha1.ChatGroupSpec{
			GroupID:          u.status.GroupID(),
			Type:             u.status.Type(),
			ManagementPolicy: imv1alpha1.ManagementPolicyObserve,
		},
	}
	if err := w.waitToken(ctx); err != nil {
		return err
	}
	err := w.client.Create(ctx, cg)
	if err == nil {
		w.log.Info("discovered an undeclared group", "groupID", u.status.GroupID(), "chatgroup", key)
		*obj = *cg
		return nil
	}
	if apierrors.IsAlreadyExists(err) {
		return w.apiReader.Get(ctx, key, obj)
	}
	return err
}
