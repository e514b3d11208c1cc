package controllers_test

import (
	"context"
	"fmt"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// restCommands are the REST calls the controller can make.
var restCommands = []string{
	"get_group_info", "get_group_attr", "create_group", "modify_group_base_info",
	"modify_group_attr", "delete_group_attr", "set_group_attr", "clear_group_attr", "destroy_group",
}

func restCalls() int {
	n := 0
	for _, c := range restCommands {
		n += fake.Calls(c)
	}
	return n
}

func writeCalls() int {
	n := 0
	for _, c := range restCommands {
		if c != "get_group_info" && c != "get_group_attr" {
			n += fake.Calls(c)
		}
	}
	return n
}

var seq atomic.Int64

// uniq makes group IDs unique across specs (the fake lives for the suite).
func uniq(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

// newNamespace creates a namespace whose ChatGroups are deleted after the
// spec, so later specs (the resync counts) see only their own.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "cg-"}}
	Expect(k8s.Create(context.Background(), ns)).To(Succeed())
	DeferCleanup(func() {
		ctx := context.Background()
		// Orphan first, so cleanup does not destroy groups or wait on IM.
		var list imv1alpha1.ChatGroupList
		Expect(k8s.List(ctx, &list, client.InNamespace(ns.Name))).To(Succeed())
		for i := range list.Items {
			cg := &list.Items[i]
			if cg.Spec.DeletionPolicy == imv1alpha1.DeletionPolicyDelete {
				cg.Spec.DeletionPolicy = imv1alpha1.DeletionPolicyOrphan
				_ = k8s.Update(ctx, cg)
			}
		}
		Expect(k8s.DeleteAllOf(ctx, &imv1alpha1.ChatGroup{}, client.InNamespace(ns.Name))).To(Succeed())
		Eventually(func() int {
			var l imv1alpha1.ChatGroupList
			Expect(k8s.List(ctx, &l, client.InNamespace(ns.Name))).To(Succeed())
			return len(l.Items)
		}, "60s").Should(BeZero())
	})
	return ns.Name
}

func newChatGroup(ns, name, groupID string, mutate func(*imv1alpha1.ChatGroupSpec)) *imv1alpha1.ChatGroup {
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       imv1alpha1.ChatGroupSpec{GroupID: groupID},
	}
	if mutate != nil {
		mutate(&cg.Spec)
	}
	Expect(k8s.Create(context.Background(), cg)).To(Succeed())
	return cg
}

func fetch(cg *imv1alpha1.ChatGroup) *imv1alpha1.ChatGroup {
	out := &imv1alpha1.ChatGroup{}
	ExpectWithOffset(1, k8s.Get(context.Background(), client.ObjectKeyFromObject(cg), out)).To(Succeed())
	return out
}

// update re-reads cg and changes its spec or metadata, retrying conflicts.
func update(cg *imv1alpha1.ChatGroup, mutate func(*imv1alpha1.ChatGroup)) {
	EventuallyWithOffset(1, func() error {
		cur := fetch(cg)
		mutate(cur)
		return k8s.Update(context.Background(), cur)
	}).Should(Succeed())
}

// condition returns "Status/Reason" of a condition, or "" when absent.
func condition(typ string) func(*imv1alpha1.ChatGroup) string {
	return func(cg *imv1alpha1.ChatGroup) string {
		c := meta.FindStatusCondition(cg.Status.Conditions, typ)
		if c == nil {
			return ""
		}
		return string(c.Status) + "/" + c.Reason
	}
}

func conditionMessage(cg *imv1alpha1.ChatGroup, typ string) string {
	if c := meta.FindStatusCondition(cg.Status.Conditions, typ); c != nil {
		return c.Message
	}
	return ""
}

// getter polls cg through the cache for Eventually.
func getter(cg *imv1alpha1.ChatGroup) func() *imv1alpha1.ChatGroup {
	return func() *imv1alpha1.ChatGroup { return fetch(cg) }
}

// waitSynced waits until the current generation is synced and up to date.
func waitSynced(cg *imv1alpha1.ChatGroup) *imv1alpha1.ChatGroup {
	var out *imv1alpha1.ChatGroup
	EventuallyWithOffset(1, func(g Gomega) {
		out = fetch(cg)
		g.Expect(out.Status.ObservedGeneration).To(Equal(out.Generation))
		g.Expect(condition(imv1alpha1.ConditionReady)(out)).To(Equal("True/Available"))
		g.Expect(condition(imv1alpha1.ConditionSynced)(out)).To(Equal("True/ReconcileSuccess"))
		g.Expect(condition(imv1alpha1.ConditionUpToDate)(out)).To(Equal("True/InSync"))
	}, "20s").Should(Succeed())
	return out
}

// bumpSeq writes lastMessageSeq the way the webhook writer does for a
// message callback.
func bumpSeq(cg *imv1alpha1.ChatGroup, n int64) {
	EventuallyWithOffset(1, func() error {
		cur := fetch(cg)
		orig := cur.DeepCopy()
		cur.Status.LastMessageSeq = n
		cur.Status.LastMessageFrom = "user"
		return k8s.Status().Patch(context.Background(), cur, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
	}).Should(Succeed())
}

var _ = GinkgoWriter

// resyncNow runs one resync once the manager's cache shows each of cgs
// existing or not as the API server does: the resync plans its reads on
// the cached status and drops a read planned on a copy that had not yet
// seen the group created (it could undo a change recorded since), so a
// resync right after waitSynced could read nothing for the group.
func resyncNow(cgs ...*imv1alpha1.ChatGroup) {
	GinkgoHelper()
	for _, cg := range cgs {
		want := fetch(cg).Status
		Eventually(func(g Gomega) {
			c := &imv1alpha1.ChatGroup{}
			g.Expect(cached.Get(context.Background(), client.ObjectKeyFromObject(cg), c)).To(Succeed())
			g.Expect(c.Status.GroupID).To(Equal(want.GroupID))
			g.Expect(c.Status.Destroyed).To(Equal(want.Destroyed))
		}).Should(Succeed())
	}
	_, err := resync.ResyncOnce(context.Background())
	Expect(err).NotTo(HaveOccurred())
}
