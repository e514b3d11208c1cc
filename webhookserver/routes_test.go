package webhookserver

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// The routing table follows the informer's adds, updates and deletes
// (tombstones included), and a slice handed out earlier never changes.
func TestRoutesFollowInformerEvents(t *testing.T) {
	cg := func(ns, name, groupID string) *imv1alpha1.ChatGroup {
		return &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec:       imv1alpha1.ChatGroupSpec{GroupID: groupID},
		}
	}
	key := func(ns, name string) types.NamespacedName { return types.NamespacedName{Namespace: ns, Name: name} }
	expect := func(r *routes, groupID string, want ...types.NamespacedName) {
		t.Helper()
		got := r.lookup(apps.DefaultName, groupID)
		if !slices.Equal(got, want) {
			t.Fatalf("lookup(%q) = %v, want %v", groupID, got, want)
		}
	}

	r := newRoutes()
	h := r.eventHandler()
	h.OnAdd(cg("a", "one", "G1"), true)
	h.OnAdd(cg("a", "one", "G1"), false) // a relist delivers it again
	h.OnAdd(cg("b", "dup", "G1"), false) // two ChatGroups may claim one group
	h.OnAdd(cg("a", "empty", ""), false) // no group ID: nothing to route
	expect(r, "G1", key("a", "one"), key("b", "dup"))
	expect(r, "")

	held := r.lookup(apps.DefaultName, "G1")
	h.OnUpdate(cg("b", "dup", "G1"), cg("b", "dup", "G2"))
	expect(r, "G1", key("a", "one"))
	expect(r, "G2", key("b", "dup"))
	if !slices.Equal(held, []types.NamespacedName{key("a", "one"), key("b", "dup")}) {
		t.Fatalf("a slice returned by lookup changed afterwards: %v", held)
	}

	h.OnUpdate(cg("a", "one", "G1"), cg("a", "one", "G1")) // status write: no change
	expect(r, "G1", key("a", "one"))

	h.OnDelete(toolscache.DeletedFinalStateUnknown{Key: "a/one", Obj: cg("a", "one", "G1")})
	expect(r, "G1")
	h.OnDelete(cg("b", "dup", "G2"))
	expect(r, "G2")
	if len(r.byGroup) != 0 {
		t.Fatalf("empty entries left behind: %v", r.byGroup)
	}
	h.OnDelete(cg("c", "never-added", "G3")) // must not panic or add anything
	expect(r, "G3")
}

// One group ID in two apps is two groups: each ChatGroup is routed under
// its own app only.
func TestRoutesKeyByApp(t *testing.T) {
	inApp := func(name, app string) *imv1alpha1.ChatGroup {
		cg := &imv1alpha1.ChatGroup{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec: imv1alpha1.ChatGroupSpec{GroupID: "G1"}}
		if app != "" {
			cg.Spec.AppRef = &imv1alpha1.AppReference{Name: app}
		}
		return cg
	}
	r := newRoutes()
	h := r.eventHandler()
	h.OnAdd(inApp("dflt", ""), false)
	h.OnAdd(inApp("prod", "prod"), false)
	for app, want := range map[string]string{apps.DefaultName: "dflt", "prod": "prod"} {
		got := r.lookup(app, "G1")
		if len(got) != 1 || got[0].Name != want {
			t.Errorf("lookup(%q, G1) = %v, want only ns/%s", app, got, want)
		}
	}
	if got := r.lookup("dev", "G1"); len(got) != 0 {
		t.Errorf("an app with no ChatGroups routes to %v", got)
	}
}
