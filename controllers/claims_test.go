package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

func claim(ns, name string, created time.Time, policy imv1alpha1.ManagementPolicy) imv1alpha1.ChatGroup {
	return imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "/" + name), CreationTimestamp: metav1.NewTime(created)},
		Spec:       imv1alpha1.ChatGroupSpec{GroupID: "g", ManagementPolicy: policy},
	}
}

// Every replica and every restart must pick the same owner, whatever order
// the cache lists the claims in: the oldest, then namespace/name.
func TestTheOldestEnforceClaimOwnsTheGroup(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	enforce, observe := imv1alpha1.ManagementPolicyEnforce, imv1alpha1.ManagementPolicyObserve
	all := []imv1alpha1.ChatGroup{
		claim("z", "late", t0.Add(2*time.Second), enforce),
		claim("b", "same-second", t0.Add(time.Second), enforce),
		claim("a", "same-second", t0.Add(time.Second), enforce), // ties with b/same-second: namespace a wins
		claim("a", "watcher", t0, observe),                      // oldest, but Observe claims nothing
	}
	wantOwner := "a/same-second"
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}} {
		for i := range all {
			cg := &all[i]
			var peers []imv1alpha1.ChatGroup
			for _, j := range order {
				if j != i {
					peers = append(peers, all[j])
				}
			}
			owner := otherOwner(cg, peers)
			key := cg.Namespace + "/" + cg.Name
			switch {
			case cg.Spec.ManagementPolicy == observe:
				if owner != nil {
					t.Errorf("order %v: the Observe %s reports a conflict with %s/%s", order, key, owner.Namespace, owner.Name)
				}
			case key == wantOwner:
				if owner != nil {
					t.Errorf("order %v: the owner %s sees %s/%s as owner", order, key, owner.Namespace, owner.Name)
				}
			default:
				if owner == nil || owner.Namespace+"/"+owner.Name != wantOwner {
					t.Errorf("order %v: %s: owner %v, want %s", order, key, owner, wantOwner)
				}
			}
		}
	}
}
