package controllers_test

import (
	"context"
	"fmt"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

func gone(cg *imv1alpha1.ChatGroup) func() bool {
	return func() bool {
		err := k8s.Get(context.Background(), client.ObjectKeyFromObject(cg), &imv1alpha1.ChatGroup{})
		return apierrors.IsNotFound(err)
	}
}

func exists(id string) func() bool {
	return func() bool { _, ok := fake.Group(id); return ok }
}

var _ = Describe("Deletion", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("destroys the group with deletionPolicy Delete", func() {
		id := uniq("del")
		cg := newChatGroup(ns, "del", id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
		waitSynced(cg)
		Eventually(func() bool { return controllerutil.ContainsFinalizer(fetch(cg), imv1alpha1.Finalizer) }).Should(BeTrue())
		Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
		Eventually(gone(cg), "15s").Should(BeTrue())
		Expect(exists(id)()).To(BeFalse())
		Expect(fake.CallsFor("destroy_group", id)).To(Equal(1), "one destroy_group, also when reconciles race the finalizer removal")
		Expect(rec.events(cg, "GroupDestroyed")).To(HaveLen(1))
	})

	It("keeps the group with deletionPolicy Orphan, and drops the finalizer when Delete turns into Orphan", func() {
		id := uniq("orphan")
		cg := newChatGroup(ns, "orphan", id, func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
		waitSynced(cg)
		Eventually(func() bool { return controllerutil.ContainsFinalizer(fetch(cg), imv1alpha1.Finalizer) }).Should(BeTrue())
		update(cg, func(c *imv1alpha1.ChatGroup) { c.Spec.DeletionPolicy = imv1alpha1.DeletionPolicyOrphan })
		Eventually(func() bool { return controllerutil.ContainsFinalizer(fetch(cg), imv1alpha1.Finalizer) }, "10s").Should(BeFalse())
		destroys := fake.Calls("destroy_group")
		Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
		Eventually(gone(cg), "10s").Should(BeTrue())
		Consistently(exists(id), "1s").Should(BeTrue())
		Expect(fake.Calls("destroy_group")).To(Equal(destroys))
	})

	It("never destroys an Observe group, even with deletionPolicy Delete", func() {
		id := uniq("obsdel")
		_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "x"})
		Expect(err).NotTo(HaveOccurred())
		cg := newChatGroup(ns, "obsdel", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
			s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete
		})
		waitSynced(cg)
		Expect(controllerutil.ContainsFinalizer(fetch(cg), imv1alpha1.Finalizer)).To(BeFalse())
		Expect(k8s.Delete(context.Background(), cg)).To(Succeed())
		Eventually(gone(cg), "10s").Should(BeTrue())
		Expect(exists(id)()).To(BeTrue())
	})

	It("turns Ready False GroupDestroyed when the group is destroyed outside (callback), without re-creating it", func() {
		id := uniq("outside")
		cg := newChatGroup(ns, "outside", id, func(s *imv1alpha1.ChatGroupSpec) { s.Owner = "founder" })
		waitSynced(cg)
		creates := fake.Calls("create_group")
		Expect(fake.User("founder", timfake.PlatformIOS).Destroy(id)).To(Succeed())
		Eventually(func(g Gomega) {
			cur := fetch(cg)
			g.Expect(condition(imv1alpha1.ConditionReady)(cur)).To(Equal("False/GroupDestroyed"), "status: %+v\ncallbacks: %+v\nwriter: %+v", cur.Status, fake.CallbackStats(), webhook.Writer().Stats())
		}, "15s").Should(Succeed())
		Consistently(exists(id), "2s").Should(BeFalse())
		Expect(fake.Calls("create_group")).To(Equal(creates))

		By("re-creating it when the user asks with the resync annotation")
		update(cg, func(c *imv1alpha1.ChatGroup) {
			c.Annotations = map[string]string{imv1alpha1.AnnotationResyncRequestedAt: "please"}
		})
		Eventually(exists(id), "10s").Should(BeTrue())
		got := waitSynced(cg)
		Expect(got.Status.Destroyed).To(BeFalse())
		Expect(got.Status.LastHandledResyncRequest).To(Equal("please"))
	})

	It("turns Ready False GroupDestroyed when a resync finds the group gone and the callback was lost", func() {
		id := uniq("outside-lost")
		cg := newChatGroup(ns, "outside-lost", id, nil)
		waitSynced(cg)
		fake.SetCallbackFaults(timfake.Faults{Drop: 1})
		DeferCleanup(func() { fake.SetCallbackFaults(timfake.Faults{}) })
		Expect(fake.Admin().Destroy(id)).To(Succeed())
		Expect(fake.WaitCallbacksDelivered(context.Background())).To(Succeed())
		Expect(condition(imv1alpha1.ConditionReady)(fetch(cg))).To(Equal("True/Available"))
		_, err := resync.ResyncOnce(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Eventually(getter(cg), "10s").Should(WithTransform(condition(imv1alpha1.ConditionReady), Equal("False/GroupDestroyed")))
		Consistently(exists(id), "2s").Should(BeFalse())
		Expect(rec.events(cg, "GroupDestroyed")).To(HaveLen(1))
	})
})

var _ = Describe("Errors", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("backs off on 60007 and ends Synced, with a bounded number of calls", func() {
		id := uniq("limited")
		// The client retries 4 times per call (5 attempts): 12 failures take
		// three reconciles, with the controller's own backoff in between.
		fake.InjectError("create_group", 60007, 12)
		DeferCleanup(fake.ClearInjections)
		before := fake.Calls("create_group")
		cg := newChatGroup(ns, "limited", id, nil)
		waitSynced(cg)
		Expect(fake.Calls("create_group") - before).To(Equal(13))
		Expect(rec.events(cg, "SyncFailed")).To(ContainElement(ContainSubstring("60007")))
		Consistently(func() int { return fake.Calls("create_group") - before }, "1s").Should(Equal(13))
	})

	It("reports a value IM refuses as Synced False RejectedByIM with the code, and does not retry it in a storm", func() {
		id := uniq("refused") // a custom Community ID must start with @TGS#_: IM answers 10004
		before := fake.Calls("create_group")
		cg := newChatGroup(ns, "refused", id, func(s *imv1alpha1.ChatGroupSpec) { s.Type = imv1alpha1.GroupTypeCommunity })
		Eventually(getter(cg), "10s").Should(WithTransform(condition(imv1alpha1.ConditionSynced), Equal("False/RejectedByIM")))
		msg := conditionMessage(fetch(cg), imv1alpha1.ConditionSynced)
		Expect(msg).To(ContainSubstring("10004"))
		Expect(msg).To(ContainSubstring("@TGS#_"))
		for i := int64(1); i <= 20; i++ {
			bumpSeq(cg, i)
		}
		Consistently(func() int { return fake.Calls("create_group") - before }, "2s").Should(Equal(1))
		Expect(rec.events(cg, "SyncFailed")).To(HaveLen(1))
	})

	It("reports bad credentials as Ready False CredentialsInvalid, with bounded calls", func() {
		im.set(newIMClient("the-wrong-secret-key"))
		DeferCleanup(func() { im.set(newIMClient(secret)) })
		before := restCalls()
		cg := newChatGroup(ns, "badkey", uniq("badkey"), nil)
		Eventually(getter(cg), "10s").Should(WithTransform(condition(imv1alpha1.ConditionReady), Equal("False/CredentialsInvalid")))
		Expect(condition(imv1alpha1.ConditionSynced)(fetch(cg))).To(Equal("False/CredentialsInvalid"))
		for i := int64(1); i <= 20; i++ {
			bumpSeq(cg, i)
		}
		Consistently(func() int { return restCalls() - before }, "2s").Should(Equal(1))
		Expect(condition(imv1alpha1.ConditionReady)(fetch(cg))).To(Equal("False/CredentialsInvalid"))
	})
})

var _ = Describe("Resync", func() {
	It("reads 2,000 ChatGroups back with at most 40 get_group_info calls and writes nothing when nothing changed", func() {
		ns := newNamespace()
		const n = 2000
		fake.SetCallbackFaults(timfake.Faults{Drop: 1}) // keep the receiver out of the count
		DeferCleanup(func() { fake.SetCallbackFaults(timfake.Faults{}) })
		prefix := uniq("bulk")
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
			_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: ids[i], Name: ids[i]})
			Expect(err).NotTo(HaveOccurred())
		}
		var wg sync.WaitGroup
		work := make(chan int)
		for range 8 {
			wg.Go(func() {
				defer GinkgoRecover()
				for i := range work {
					cg := &imv1alpha1.ChatGroup{}
					cg.Namespace, cg.Name = ns, fmt.Sprintf("g%04d", i)
					cg.Spec = imv1alpha1.ChatGroupSpec{GroupID: ids[i], ManagementPolicy: imv1alpha1.ManagementPolicyObserve, Name: ptr(ids[i])}
					Expect(k8s.Create(context.Background(), cg)).To(Succeed())
				}
			})
		}
		for i := range n {
			work <- i
		}
		close(work)
		wg.Wait()
		Eventually(func() int {
			var l imv1alpha1.ChatGroupList
			Expect(k8s.List(context.Background(), &l, client.InNamespace(ns))).To(Succeed())
			ready := 0
			for i := range l.Items {
				if l.Items[i].Status.ObservedGeneration == 1 && condition(imv1alpha1.ConditionUpToDate)(&l.Items[i]) == "True/InSync" {
					ready++
				}
			}
			return ready
		}, "180s", "1s").Should(Equal(n))
		// The resync reads the manager's cache: wait until it holds the
		// written statuses.
		Eventually(func() int {
			var l imv1alpha1.ChatGroupList
			Expect(cached.List(context.Background(), &l, client.InNamespace(ns))).To(Succeed())
			ready := 0
			for i := range l.Items {
				if l.Items[i].Status.ObservedGeneration == 1 {
					ready++
				}
			}
			return ready
		}, "30s").Should(Equal(n))

		before := fake.Calls("get_group_info")
		stats, err := resync.ResyncOnce(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(stats.Groups).To(Equal(n))
		Expect(fake.Calls("get_group_info") - before).To(BeNumerically("<=", 40))
		Expect(stats.Written).To(BeZero())
	})
})
