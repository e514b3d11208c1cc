package controllers_test

import (
	"context"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

// destroys counts the destroy_group calls the fake received for ids.
func destroys(ids ...string) int {
	n := 0
	for _, id := range ids {
		n += fake.CallsFor("destroy_group", id)
	}
	return n
}

// annotate sets (v != "") or removes (v == "") an annotation.
func annotate(cg *imv1alpha1.ChatGroup, key, v string) {
	update(cg, func(c *imv1alpha1.ChatGroup) {
		if v == "" {
			delete(c.Annotations, key)
			return
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[key] = v
	})
}

// destroyOutcome reads chatgroup_destroys_total for outcome.
func destroyOutcome(outcome string) float64 {
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "chatgroup_destroys_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// testClock is the controller's clock in the budget spec: real time plus
// an offset the spec moves, so an hour passes at once.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// The safety specs restart the operator, so they run alone.
var _ = Describe("Safety", Serial, func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("gives a group one owner, the oldest Enforce claim: the other reports Conflict and makes no REST call, across a restart, and takes over with one push when the owner goes", func() {
		id := uniq("owned")
		watcher := newChatGroup(ns, "a-watcher", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
		})
		// Created in the same second, a and b are ordered by name: a owns.
		a := newChatGroup(ns, "b-first", id, func(s *imv1alpha1.ChatGroupSpec) { s.Name = ptr("from the owner") })
		b := newChatGroup(ns, "c-second", id, func(s *imv1alpha1.ChatGroupSpec) { s.Name = ptr("from the other") })
		waitSynced(a)
		Eventually(getter(b), "20s").Should(WithTransform(condition(imv1alpha1.ConditionReady), Equal("False/Conflict")))
		Expect(conditionMessage(fetch(b), imv1alpha1.ConditionReady)).To(ContainSubstring(ns + "/b-first"))
		Expect(condition(imv1alpha1.ConditionSynced)(fetch(b))).To(Equal("False/Conflict"))
		// The Observe ChatGroup claims nothing, and still gets the callbacks.
		Eventually(func() string { return fetch(watcher).Status.Name }, "20s").Should(Equal("from the owner"))
		user := fake.User("member", timfake.PlatformWeb)
		Expect(user.Join(id)).To(Succeed())
		seq, err := user.SendText(id, "hi")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() int64 { return fetch(b).Status.LastMessageSeq }, "20s").Should(Equal(int64(seq)), "callbacks are recorded on a ChatGroup in conflict")

		// No flip-flop: b sees the owner's name as drift, and does nothing.
		calls := restCalls()
		Consistently(restCalls, "5s", "250ms").Should(Equal(calls), "no REST call while in conflict")
		startOperator(nil)
		Consistently(restCalls, "3s", "250ms").Should(Equal(calls), "a restart changes nothing")
		Expect(condition(imv1alpha1.ConditionReady)(fetch(b))).To(Equal("False/Conflict"))
		Expect(fake.CallsFor("create_group", id)).To(Equal(1))
		Expect(fake.CallsFor("modify_group_base_info", id)).To(BeZero())

		// The owner goes (Orphan): b owns the group, reads it and pushes once.
		Expect(k8s.Delete(context.Background(), a)).To(Succeed())
		waitSynced(b)
		Expect(fake.CallsFor("modify_group_base_info", id)).To(Equal(1))
		Consistently(func() int { return fake.CallsFor("modify_group_base_info", id) }, "5s", "250ms").Should(Equal(1))
		g, _ := fake.Group(id)
		Expect(g.Name).To(Equal("from the other"))
		Expect(writeCallsFor(id)).To(Equal(2), "one create_group by the first owner, one modify by the second: nothing else")
	})

	It("never destroys the group when a ChatGroup in conflict is deleted", func() {
		id := uniq("conflict-del")
		owner := newChatGroup(ns, "a", id, nil)
		other := newChatGroup(ns, "b", id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
		waitSynced(owner)
		Eventually(getter(other), "20s").Should(WithTransform(condition(imv1alpha1.ConditionReady), Equal("False/Conflict")))
		Expect(k8s.Delete(context.Background(), other)).To(Succeed())
		Eventually(gone(other), "20s").Should(BeTrue())
		Expect(destroys(id)).To(BeZero())
		Expect(exists(id)()).To(BeTrue())
		Expect(rec.events(other, controllers.EventDestroySkipped)).To(ConsistOf(ContainSubstring(ns + "/a manages the group")))
	})

	It("deletes a discovered ChatGroup once a declared one claims its group, also when declared while the operator was down; callbacks land on the declared one", func() {
		disc := newNamespace()
		startOperator(func(_ *controllers.Options, w *webhookserver.Options) { w.DiscoveryNamespace = disc })
		DeferCleanup(func() { startOperator(nil) })
		for i, declareWhileDown := range []bool{false, true} {
			id := uniq("found")
			user := fake.User("finder", timfake.PlatformWeb)
			_, err := user.CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "found"})
			Expect(err).NotTo(HaveOccurred())
			_, err = user.SendText(id, "hello")
			Expect(err).NotTo(HaveOccurred())
			found := &imv1alpha1.ChatGroup{}
			found.Namespace, found.Name = disc, webhookserver.DiscoveryName(id)
			Eventually(func() error { return k8s.Get(context.Background(), client.ObjectKeyFromObject(found), found) }, "20s").Should(Succeed())
			Expect(found.Labels).To(HaveKeyWithValue(imv1alpha1.LabelDiscovered, "true"))

			if declareWhileDown {
				stopOperator()
			}
			declared := newChatGroup(ns, "declared-"+string(rune('a'+i)), id, func(s *imv1alpha1.ChatGroupSpec) {
				s.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
			})
			if declareWhileDown {
				startOperator(func(_ *controllers.Options, w *webhookserver.Options) { w.DiscoveryNamespace = disc })
			}
			Eventually(gone(found), "20s").Should(BeTrue(), "the discovered ChatGroup steps aside")
			seq, err := user.SendText(id, "after")
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() int64 { return fetch(declared).Status.LastMessageSeq }, "20s").Should(BeNumerically(">=", int64(seq)))
			Consistently(gone(found), "2s", "250ms").Should(BeTrue(), "the callback does not bring the discovered one back")
		}
	})

	Describe("adoption on record", func() {
		It("releases an adopted group on deletion with Delete (DestroySkipped), across a restart", func() {
			id := uniq("adopted")
			_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "theirs"})
			Expect(err).NotTo(HaveOccurred())
			cg := newChatGroup(ns, "adopter", id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
			Expect(waitSynced(cg).Status.CreatedByOperator).To(BeFalse())
			startOperator(nil)
			Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
			Eventually(gone(cg), "20s").Should(BeTrue())
			Expect(destroys(id)).To(BeZero())
			Expect(exists(id)()).To(BeTrue())
			Expect(rec.events(cg, controllers.EventDestroySkipped)).To(ConsistOf(ContainSubstring(imv1alpha1.AnnotationDestroyAdopted)))
		})

		It("destroys an adopted group with the destroy-adopted annotation", func() {
			id := uniq("adopted-optin")
			_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "theirs"})
			Expect(err).NotTo(HaveOccurred())
			cg := newChatGroup(ns, "adopter", id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
			waitSynced(cg)
			annotate(cg, imv1alpha1.AnnotationDestroyAdopted, "true")
			Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
			Eventually(gone(cg), "20s").Should(BeTrue())
			Expect(destroys(id)).To(Equal(1))
			Expect(exists(id)()).To(BeFalse())
		})

		It("destroys a group it created, with the fact surviving a restart", func() {
			id := uniq("created")
			cg := newChatGroup(ns, "creator", id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
			Expect(waitSynced(cg).Status.CreatedByOperator).To(BeTrue())
			startOperator(nil)
			Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
			Eventually(gone(cg), "20s").Should(BeTrue())
			Expect(destroys(id)).To(Equal(1))
			Expect(rec.events(cg, controllers.EventDestroySkipped)).To(BeEmpty())
		})
	})

	Describe("pause", func() {
		It("makes no REST call for 100 callbacks, a spec change, a resync and a restart, then reads once and pushes once when unpaused", func() {
			id := uniq("paused")
			cg := newChatGroup(ns, "p", id, func(s *imv1alpha1.ChatGroupSpec) { s.Name = ptr("v1") })
			waitSynced(cg)
			annotate(cg, imv1alpha1.AnnotationPaused, "true")
			Eventually(getter(cg), "20s").Should(WithTransform(condition(imv1alpha1.ConditionSynced), Equal("False/Paused")))
			calls, reads, pushes := restCalls(), fake.Calls("get_group_info"), fake.CallsFor("modify_group_base_info", id)

			user := fake.User("talker", timfake.PlatformAndroid)
			Expect(user.Join(id)).To(Succeed())
			var last uint64
			for i := range 100 {
				seq, err := user.SendText(id, "while paused")
				Expect(err).NotTo(HaveOccurred())
				last = seq
				if i == 50 {
					startOperator(nil)
				}
			}
			update(cg, func(c *imv1alpha1.ChatGroup) { c.Spec.Name = ptr("v2") })
			_, err := resync.ResyncOnce(context.Background())
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() int64 { return fetch(cg).Status.LastMessageSeq }, "20s").Should(Equal(int64(last)), "callbacks are still recorded")
			Consistently(restCalls, "3s", "250ms").Should(Equal(calls))
			Expect(condition(imv1alpha1.ConditionSynced)(fetch(cg))).To(Equal("False/Paused"))

			annotate(cg, imv1alpha1.AnnotationPaused, "")
			waitSynced(cg)
			Expect(fake.Calls("get_group_info") - reads).To(Equal(1))
			Expect(fake.CallsFor("modify_group_base_info", id) - pushes).To(Equal(1))
			g, _ := fake.Group(id)
			Expect(g.Name).To(Equal("v2"))
		})

		It("holds the deletion of a paused ChatGroup with Delete until it is unpaused", func() {
			id := uniq("paused-del")
			cg := newChatGroup(ns, "p", id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
			waitSynced(cg)
			annotate(cg, imv1alpha1.AnnotationPaused, "true")
			Eventually(getter(cg), "20s").Should(WithTransform(condition(imv1alpha1.ConditionSynced), Equal("False/Paused")))
			Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
			Eventually(func() string { return conditionMessage(fetch(cg), imv1alpha1.ConditionSynced) }, "20s").Should(ContainSubstring("deletion waits"))
			startOperator(nil)
			Consistently(func() bool { return gone(cg)() || destroys(id) > 0 }, "3s", "250ms").Should(BeFalse())
			annotate(cg, imv1alpha1.AnnotationPaused, "")
			Eventually(gone(cg), "20s").Should(BeTrue())
			Expect(destroys(id)).To(Equal(1))
		})

		It("keeps Observe read-only when paused and deleted with Delete", func() {
			id := uniq("observe-paused")
			_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "watched"})
			Expect(err).NotTo(HaveOccurred())
			cg := newChatGroup(ns, "o", id, func(s *imv1alpha1.ChatGroupSpec) {
				s.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
				s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete
				s.Name = ptr("declared but only observed")
			})
			Eventually(getter(cg), "20s").Should(WithTransform(condition(imv1alpha1.ConditionReady), Equal("True/Available")))
			annotate(cg, imv1alpha1.AnnotationPaused, "true")
			Eventually(getter(cg), "20s").Should(WithTransform(condition(imv1alpha1.ConditionSynced), Equal("False/Paused")))
			annotate(cg, imv1alpha1.AnnotationPaused, "")
			Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
			Eventually(gone(cg), "20s").Should(BeTrue())
			Expect(writeCallsFor(id)).To(BeZero())
		})
	})

	It("destroys at most --max-destroys-per-hour groups per rolling hour; the rest wait with DestroyDeferred, across a restart", func() {
		ledger := newNamespace()
		clock := &testClock{}
		withBudget := func(o *controllers.Options, _ *webhookserver.Options) {
			o.MaxDestroysPerHour, o.BudgetNamespace, o.Now = 5, ledger, clock.Now
		}
		startOperator(withBudget)
		DeferCleanup(func() { startOperator(nil) })
		ids, cgs := createdWithDelete(ns, "budget", 12)
		for _, cg := range cgs {
			waitSynced(cg)
		}
		deferredBefore := destroyOutcome("deferred")
		for _, cg := range cgs {
			Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
		}
		deferred := func() int {
			n := 0
			for _, cg := range cgs {
				c := &imv1alpha1.ChatGroup{}
				if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(cg), c); err == nil &&
					condition(imv1alpha1.ConditionSynced)(c) == "False/"+imv1alpha1.ReasonDestroyDeferred {
					n++
				}
			}
			return n
		}
		Eventually(func() int { return destroys(ids...) }, "30s").Should(Equal(5))
		Eventually(deferred, "30s").Should(Equal(7))
		Expect(destroyOutcome("deferred") - deferredBefore).To(BeNumerically(">=", 7))
		warned := 0
		for _, cg := range cgs {
			warned += len(rec.events(cg, controllers.EventDestroyDeferred))
		}
		Expect(warned).To(Equal(7), "one DestroyDeferred Event per waiting deletion")

		startOperator(withBudget)
		Consistently(func() int { return destroys(ids...) }, "3s", "250ms").Should(Equal(5), "a restart does not refill the budget")

		poke := func() {
			for _, cg := range cgs {
				c := &imv1alpha1.ChatGroup{}
				if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(cg), c); err == nil {
					annotate(c, "test/poke", clock.Now().String())
				}
			}
		}
		clock.Add(time.Hour + time.Minute)
		poke()
		Eventually(func() int { return destroys(ids...) }, "30s").Should(Equal(10))
		Consistently(func() int { return destroys(ids...) }, "2s", "250ms").Should(Equal(10))
		clock.Add(time.Hour + time.Minute)
		poke()
		for _, cg := range cgs {
			Eventually(gone(cg), "30s").Should(BeTrue())
		}
		Expect(destroys(ids...)).To(Equal(12))
	})

	It("releases every ChatGroup without destroying anything when the CRD is deleted", func() {
		ids, cgs := createdWithDelete(ns, "crd", 50)
		for _, cg := range cgs {
			Expect(waitSynced(cg).Status.CreatedByOperator).To(BeTrue())
		}
		// Put the CRD back afterwards, for the specs that follow.
		DeferCleanup(func() {
			_, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
				Paths: []string{filepath.Join(testenv.RepoRoot(), "config", "crd", "bases")}, ErrorIfPathMissing: true,
			})
			Expect(err).NotTo(HaveOccurred())
			startOperator(nil)
		})
		// The operator is down when the CRD deletion starts, and comes back
		// in the middle of it: the finalizers hold every ChatGroup till then.
		stopOperator()
		crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "chatgroups.im.chatgroup.dev"}}
		Expect(k8s.Delete(context.Background(), crd)).To(Succeed())
		Eventually(func() bool { return !fetch(cgs[0]).DeletionTimestamp.IsZero() }, "20s").Should(BeTrue(), "removing the CRD deletes the ChatGroups")
		startOperator(nil)
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(context.Background(), client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{}))
		}, "60s").Should(BeTrue(), "every ChatGroup released, so the CRD goes")
		Expect(destroys(ids...)).To(BeZero())
		for _, id := range ids {
			Expect(exists(id)()).To(BeTrue())
		}
		skipped := 0
		for _, cg := range cgs {
			skipped += len(rec.events(cg, controllers.EventDestroySkipped))
		}
		Expect(skipped).To(Equal(50), "one DestroySkipped Event each")
	})
})

// createdWithDelete declares n groups with deletionPolicy Delete, for the
// operator to create (named after their group IDs).
func createdWithDelete(ns, prefix string, n int) ([]string, []*imv1alpha1.ChatGroup) {
	var ids []string
	var cgs []*imv1alpha1.ChatGroup
	for range n {
		id := uniq(prefix)
		ids = append(ids, id)
		cgs = append(cgs, newChatGroup(ns, id, id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete }))
	}
	return ids, cgs
}

// writeCallsFor counts the REST writes that named groupID.
func writeCallsFor(groupID string) int {
	n := 0
	for _, c := range restCommands {
		if c != "get_group_info" && c != "get_group_attr" {
			n += fake.CallsFor(c, groupID)
		}
	}
	return n
}
