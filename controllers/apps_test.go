package controllers

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// Right after a start the ChatApp controller may not have loaded a ChatApp
// yet: its ChatGroups wait without a status write instead of flipping to
// AppNotFound (and back) on every restart. A ChatApp that does not exist
// is AppNotFound at once.
func TestChatGroupWaitsForItsChatAppToLoad(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := imv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	inApp := func(name, app string) *imv1alpha1.ChatGroup {
		return &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1},
			Spec:       imv1alpha1.ChatGroupSpec{AppRef: &imv1alpha1.AppReference{Name: app}, GroupID: name},
		}
	}
	loading, missing := inApp("loading", "shop"), inApp("missing", "nowhere")
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(loading, missing, &imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}).
		WithStatusSubresource(loading, missing).
		WithIndex(&imv1alpha1.ChatGroup{}, groupIndex, indexGroup).Build()
	opts := Options{Apps: apps.New()} // the ChatApp is not loaded
	opts.defaults()
	r := newReconciler(c, c, &nopRecorder{}, opts)
	ctx := context.Background()
	readyOf := func(cg *imv1alpha1.ChatGroup) *metav1.Condition {
		got := &imv1alpha1.ChatGroup{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(cg), got); err != nil {
			t.Fatal(err)
		}
		return meta.FindStatusCondition(got.Status.Conditions, imv1alpha1.ConditionReady)
	}

	res, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(loading)})
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != appLoadWait {
		t.Fatalf("requeueAfter %v, want %v", res.RequeueAfter, appLoadWait)
	}
	if rd := readyOf(loading); rd != nil {
		t.Fatalf("a ChatGroup of a ChatApp still loading got Ready %+v", rd)
	}

	if _, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(missing)}); err != nil {
		t.Fatal(err)
	}
	if rd := readyOf(missing); rd == nil || rd.Reason != imv1alpha1.ReasonAppNotFound {
		t.Fatalf("a ChatGroup of a missing ChatApp: Ready %+v, want AppNotFound", rd)
	}
}
