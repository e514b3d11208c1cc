package controllers

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

type nopRecorder struct{ reasons []string }

func (n *nopRecorder) Eventf(_, _ runtime.Object, _, reason, _, _ string, _ ...any) {
	n.reasons = append(n.reasons, reason)
}

// Without --secret-key-file the controller makes no REST call (there is no
// client to make one with) and says why on every ChatGroup.
func TestNoCredentialsReportsCredentialsInvalid(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := imv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "g", Generation: 1},
		Spec:       imv1alpha1.ChatGroupSpec{GroupID: "g1", Name: ptrTo("n")},
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(cg).WithStatusSubresource(cg).
		WithIndex(&imv1alpha1.ChatGroup{}, groupIndex, indexGroup).Build()
	rec := &nopRecorder{}
	opts := Options{NoIMMessage: "--secret-key-file is not set"}
	opts.defaults()
	r := newReconciler(c, c, rec, opts)
	req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(cg)}
	for range 3 {
		if _, err := r.Reconcile(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	got := &imv1alpha1.ChatGroup{}
	if err := c.Get(context.Background(), req.NamespacedName, got); err != nil {
		t.Fatal(err)
	}
	s := meta.FindStatusCondition(got.Status.Conditions, imv1alpha1.ConditionSynced)
	if s == nil || s.Status != metav1.ConditionFalse || s.Reason != imv1alpha1.ReasonCredentialsInvalid || !strings.Contains(s.Message, "--secret-key-file is not set") {
		t.Fatalf("Synced = %+v", s)
	}
	if rd := meta.FindStatusCondition(got.Status.Conditions, imv1alpha1.ConditionReady); rd == nil || rd.Status != metav1.ConditionFalse {
		t.Fatalf("Ready = %+v", rd)
	}
	if got.Status.ObservedGeneration != 0 {
		t.Fatalf("observedGeneration %d: a restart with a key must still read the group", got.Status.ObservedGeneration)
	}
	if len(rec.reasons) != 1 || rec.reasons[0] != EventSyncFailed {
		t.Fatalf("events %v, want one SyncFailed", rec.reasons)
	}
}

func ptrTo[T any](v T) *T { return &v }
