package groupstatus

import (
	"testing"
	"time"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// createdByOperator is what allows deletionPolicy Delete to destroy a group:
// only this ChatGroup's own create sets it, and the group's destruction,
// seen by a callback or a read, clears it, so a group someone else makes
// later under the same ID is never taken for ours.
func TestCreatedByOperatorLastsUntilTheGroupIsDestroyed(t *testing.T) {
	var st imv1alpha1.ChatGroupStatus
	ApplyRead(&st, Read{Exists: true, GroupID: "g", Name: "theirs", At: time.UnixMilli(1_000)}, ExistenceOf(&st))
	if st.CreatedByOperator {
		t.Fatal("a read of an existing group (adoption) marked it created by the operator")
	}
	RecordCreated(&st, Created{GroupID: "g", Type: "Public", Name: "ours"}, 2_000)
	if !st.CreatedByOperator {
		t.Fatal("the operator's own create was not recorded")
	}
	ApplyRead(&st, Read{Exists: true, GroupID: "g", Name: "ours", At: time.UnixMilli(3_000)}, ExistenceOf(&st))
	if !st.CreatedByOperator {
		t.Fatal("a later read of the same group forgot that the operator created it")
	}

	var u Update
	u.Group("g", imv1alpha1.GroupTypePublic)
	u.Destroyed(4_000)
	u.Apply(&st)
	if !st.Destroyed || st.CreatedByOperator {
		t.Fatalf("after a destroy callback: destroyed=%v createdByOperator=%v, want true/false", st.Destroyed, st.CreatedByOperator)
	}
	ApplyRead(&st, Read{Exists: true, GroupID: "g", Name: "someone else's", At: time.UnixMilli(5_000)}, ExistenceOf(&st))
	if st.CreatedByOperator {
		t.Fatal("a group made again outside the operator counts as created by it")
	}

	st2 := imv1alpha1.ChatGroupStatus{}
	RecordCreated(&st2, Created{GroupID: "h", Type: "Public"}, 1_000)
	if out := ApplyRead(&st2, Read{At: time.UnixMilli(2_000)}, ExistenceOf(&st2)); !out.Destroyed || st2.CreatedByOperator {
		t.Fatalf("a read finding the group gone: destroyed=%v createdByOperator=%v", out.Destroyed, st2.CreatedByOperator)
	}
}
