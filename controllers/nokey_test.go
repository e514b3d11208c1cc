package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

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
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(cg).WithStatusSubresource(cg).Build()
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

// Pure rules: a read never regresses status.
func TestApplyObservationNeverRegresses(t *testing.T) {
	st := imv1alpha1.ChatGroupStatus{GroupID: "g", Name: "newer", LastMessageSeq: 50}
	st.EventTimes.Name = 2000
	obs := observation{exists: true}
	obs.info.GroupID, obs.info.Name, obs.info.Notification, obs.info.NextMsgSeq = "g", "older", "n", 10
	obs.at = timeMs(1500)
	applyObservation(&st, obs)
	if st.Name != "newer" {
		t.Fatalf("name regressed to %q", st.Name)
	}
	if st.Notification != "n" || st.EventTimes.Notification != 1500 {
		t.Fatalf("notification %q at %d", st.Notification, st.EventTimes.Notification)
	}
	if st.LastMessageSeq != 50 {
		t.Fatalf("lastMessageSeq went back to %d", st.LastMessageSeq)
	}
	obs.info.NextMsgSeq = 61
	applyObservation(&st, obs)
	if st.LastMessageSeq != 60 {
		t.Fatalf("lastMessageSeq %d, want NextMsgSeq-1 = 60", st.LastMessageSeq)
	}
	// Missing after having existed: destroyed, reported once.
	if !applyObservation(&st, observation{at: timeMs(3000)}) || !st.Destroyed {
		t.Fatal("a vanished group must be marked destroyed")
	}
	// Stamped with the members, so that a create callback from before the
	// read (written late by the receiver) does not undo it.
	if st.MemberCount != 0 || st.EventTimes.Members != 3000 || st.EventTimes.MemberCount != 3000 {
		t.Fatalf("destroyed by a read: count %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	if applyObservation(&st, observation{at: timeMs(4000)}) {
		t.Fatal("destroyed must be reported once")
	}
	// A read planned before the destruction was recorded does not bring
	// the group back; one planned after it does.
	obs.at = timeMs(5000)
	applyRead(&st, obs, existence{groupID: "g"})
	if !st.Destroyed {
		t.Fatal("a read planned before the destruction undid it")
	}
	applyRead(&st, obs, existence{groupID: "g", destroyed: true})
	if st.Destroyed {
		t.Fatal("a read planned after the destruction must clear it")
	}
	// A "missing" read planned before a creation callback does not mark
	// the created group destroyed.
	fresh := imv1alpha1.ChatGroupStatus{GroupID: "g"}
	if applyRead(&fresh, observation{at: timeMs(6000)}, existence{}) || fresh.Destroyed {
		t.Fatal("a stale missing read marked a new group destroyed")
	}
}

func TestDiffOnlyDeclaredFields(t *testing.T) {
	spec := imv1alpha1.ChatGroupSpec{Name: ptrTo("a"), Notification: ptrTo(""),
		Attributes: map[string]imv1alpha1.AttributeValue{"k": "v", "same": "s"}}
	st := imv1alpha1.ChatGroupStatus{Name: "a", Introduction: "unmanaged", Notification: "x",
		Attributes: map[string]string{"same": "s", "extra": "e", "k": "old"}}
	d := diffInfo(&spec, &st)
	if f := d.fields(); len(f) != 1 || f[0] != "notification" || *d.Notification != "" {
		t.Fatalf("info diff %v", f)
	}
	a := diffAttrs(&spec, &st)
	if len(a.upsert) != 1 || a.upsert["k"] != "v" || len(a.remove) != 1 || a.remove[0] != "extra" {
		t.Fatalf("attr diff %+v", a)
	}
	spec.Attributes = nil
	if !diffAttrs(&spec, &st).empty() {
		t.Fatal("unset attributes are not managed")
	}
}

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

// A read sets the baseline of the member count (eventTimes.memberCount), so
// that a join or exit from before the read that the receiver writes later
// does not count twice: when the count changed, or when status is written
// anyway (a reconcile's read; the bulk resync must not write unchanged
// groups). A read older than an applied join or exit changes neither.
func TestApplyObservationMemberCountBaseline(t *testing.T) {
	st := imv1alpha1.ChatGroupStatus{GroupID: "g", MemberCount: 7}
	st.EventTimes.Members = 900
	obs := observation{exists: true, at: timeMs(1000)}
	obs.info.GroupID, obs.info.MemberNum = "g", 7
	applyObservation(&st, obs)
	if st.MemberCount != 7 || st.EventTimes.MemberCount != 0 || st.EventTimes.Members != 900 {
		t.Fatalf("equal count, bulk resync: status must not change: %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	obs.written = true
	applyObservation(&st, obs)
	if st.MemberCount != 7 || st.EventTimes.MemberCount != 1000 || st.EventTimes.Members != 900 {
		t.Fatalf("equal count, written anyway: %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	obs.written = false
	obs.at, obs.info.MemberNum = timeMs(2000), 5
	applyObservation(&st, obs)
	if st.MemberCount != 5 || st.EventTimes.MemberCount != 2000 || st.EventTimes.Members != 2000 {
		t.Fatalf("changed count: %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	st.EventTimes.Members = 3500 // a join newer than the next read was applied
	obs.at, obs.info.MemberNum = timeMs(3000), 9
	applyObservation(&st, obs)
	if st.MemberCount != 5 || st.EventTimes.MemberCount != 2000 {
		t.Fatalf("an older read changed the count: %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
}
