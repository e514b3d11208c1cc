package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

var _ = Describe("ChatGroup controller", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates a declared group, fills status from the read and the callbacks, and turns Ready, Synced and UpToDate True", func() {
		id := uniq("create")
		cg := newChatGroup(ns, "team", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.Owner = "leckie"
			s.Name = ptr("Team room")
			s.Introduction = ptr("hello")
		})
		got := waitSynced(cg)
		g, ok := fake.Group(id)
		Expect(ok).To(BeTrue())
		Expect(g.Type).To(Equal("Public"))
		Expect(g.Owner).To(Equal("leckie"))
		Expect(g.Name).To(Equal("Team room"))
		Expect(g.Introduction).To(Equal("hello"))
		Expect(got.Status.GroupID).To(Equal(id))
		Expect(got.Status.Name).To(Equal("Team room"))
		Expect(rec.events(cg, "Created")).To(HaveLen(1))
		// Created once, and nothing pushed after: the reconciles that the
		// callbacks' status writes trigger must not act on stale status.
		Consistently(func() []int {
			return []int{fake.CallsFor("create_group", id), fake.CallsFor("modify_group_base_info", id)}
		}, "2s").Should(Equal([]int{1, 0}))
		// The create callback reaches status through the real receiver.
		Eventually(func(g Gomega) {
			st := fetch(cg).Status
			g.Expect(st.LastCallbackTime).NotTo(BeNil())
			g.Expect(st.MemberCount).To(Equal(int64(1)))
			g.Expect(st.Owner).To(Equal("leckie"))
		}, "10s").Should(Succeed())
	})

	It("names a created group after the object when spec.name is unset", func() {
		id := uniq("noname")
		cg := newChatGroup(ns, "object-name", id, nil)
		waitSynced(cg)
		g, _ := fake.Group(id)
		Expect(g.Name).To(Equal("object-name"))
	})

	It("adopts a group that already exists", func() {
		id := uniq("adopt")
		_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "pre", Notification: "n0"})
		Expect(err).NotTo(HaveOccurred())
		cg := newChatGroup(ns, "adopted", id, func(s *imv1alpha1.ChatGroupSpec) { s.Notification = ptr("n1") })
		waitSynced(cg)
		g, _ := fake.Group(id)
		Expect(g.Name).To(Equal("pre"), "unset spec.name is not managed")
		Expect(g.Notification).To(Equal("n1"))
		Expect(rec.events(cg, "Adopted")).To(HaveLen(1))
		Expect(rec.events(cg, "Created")).To(BeEmpty())
	})

	It("pushes a spec.name change with exactly one modify_group_base_info carrying only Name", func() {
		id := uniq("rename")
		cg := newChatGroup(ns, "rename", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.Name = ptr("before")
			s.Introduction = ptr("intro")
			s.Notification = ptr("notice")
		})
		waitSynced(cg)
		calls, logged := fake.Calls("modify_group_base_info"), bodies.count("modify_group_base_info")
		update(cg, func(c *imv1alpha1.ChatGroup) { c.Spec.Name = ptr("after") })
		Eventually(func() string { g, _ := fake.Group(id); return g.Name }, "10s").Should(Equal("after"))
		got := waitSynced(cg)
		Expect(got.Status.Name).To(Equal("after"))
		Consistently(func() int { return fake.Calls("modify_group_base_info") - calls }, "2s").Should(Equal(1))
		sent := bodies.since("modify_group_base_info", logged)
		Expect(sent).To(HaveLen(1))
		Expect(sent[0]).To(HaveLen(2))
		Expect(sent[0]).To(HaveKeyWithValue("GroupId", id))
		Expect(sent[0]).To(HaveKeyWithValue("Name", "after"))
		g, _ := fake.Group(id)
		Expect(g.Introduction).To(Equal("intro"))
		Expect(g.Notification).To(Equal("notice"))
		Expect(rec.events(cg, "Updated")).To(ConsistOf(ContainSubstring("name")))
		Expect(rec.events(cg, "DriftCorrected")).To(BeEmpty())
	})

	Context("when a user changes the notification in IM", func() {
		It("sets it back under Enforce and records DriftCorrected", func() {
			id := uniq("drift-enforce")
			cg := newChatGroup(ns, "enforced", id, func(s *imv1alpha1.ChatGroupSpec) {
				s.Owner = "owner1"
				s.Notification = ptr("declared")
			})
			waitSynced(cg)
			Expect(fake.User("owner1", timfake.PlatformIOS).SetNotification(id, "changed by a user")).To(Succeed())
			// The callback brings the drift to status; the controller corrects it.
			Eventually(func() []string { return rec.events(cg, "DriftCorrected") }, "15s").Should(ConsistOf(ContainSubstring("notification")))
			Eventually(func() string { g, _ := fake.Group(id); return g.Notification }, "10s").Should(Equal("declared"))
			// The receiver's write of the drift keeps the old conditions
			// until the controller's own write lands: wait for the value.
			Eventually(func() string { return fetch(cg).Status.Notification }, "10s").Should(Equal("declared"))
			waitSynced(cg)
			Expect(rec.events(cg, "DriftCorrected")).To(HaveLen(1))
		})

		It("spaces repeated corrections, so a writer that insists cannot ping-pong with the operator", func() {
			id := uniq("drift-twice")
			cg := newChatGroup(ns, "twice", id, func(s *imv1alpha1.ChatGroupSpec) {
				s.Owner = "owner3"
				s.Notification = ptr("declared")
			})
			waitSynced(cg)
			modifies := fake.Calls("modify_group_base_info")
			user := fake.User("owner3", timfake.PlatformIOS)
			notification := func() string { g, _ := fake.Group(id); return g.Notification }
			Expect(user.SetNotification(id, "one")).To(Succeed())
			Eventually(notification, "10s").Should(Equal("declared"))
			first := time.Now()
			Expect(user.SetNotification(id, "two")).To(Succeed())
			Eventually(notification, "10s").Should(Equal("declared"))
			Expect(time.Since(first)).To(BeNumerically(">=", 1500*time.Millisecond), "the second correction waited")
			Expect(fake.Calls("modify_group_base_info") - modifies).To(Equal(2))
			Eventually(func() []string { return rec.events(cg, "DriftCorrected") }).Should(HaveLen(2))
		})

		It("only reports it under Observe: UpToDate False, DriftDetected, no REST write", func() {
			id := uniq("drift-observe")
			_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "obs", Owner: "owner2", Notification: "declared"})
			Expect(err).NotTo(HaveOccurred())
			cg := newChatGroup(ns, "observed", id, func(s *imv1alpha1.ChatGroupSpec) {
				s.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
				s.Notification = ptr("declared")
			})
			waitSynced(cg)
			writes := writeCalls()
			Expect(fake.User("owner2", timfake.PlatformAndroid).SetNotification(id, "changed by a user")).To(Succeed())
			Eventually(getter(cg), "15s").Should(WithTransform(condition(imv1alpha1.ConditionUpToDate), Equal("False/Drifted")))
			Expect(conditionMessage(fetch(cg), imv1alpha1.ConditionUpToDate)).To(ContainSubstring("notification"))
			Eventually(func() []string { return rec.events(cg, "DriftDetected") }).Should(HaveLen(1))
			// More status churn must not repeat the Event or write to IM.
			for i := int64(1); i <= 5; i++ {
				bumpSeq(cg, i)
			}
			Consistently(func() int { return writeCalls() - writes }, "2s").Should(BeZero())
			Expect(rec.events(cg, "DriftDetected")).To(HaveLen(1))
			g, _ := fake.Group(id)
			Expect(g.Notification).To(Equal("changed by a user"))
		})
	})

	It("makes the group's attributes exactly the declared map when keys are added, changed and removed", func() {
		id := uniq("attrs")
		cg := newChatGroup(ns, "attrs", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{"a": "1", "b": "2"}
		})
		waitSynced(cg)
		attrs := func() map[string]string { g, _ := fake.Group(id); return g.Attributes }
		Expect(attrs()).To(Equal(map[string]string{"a": "1", "b": "2"}))

		update(cg, func(c *imv1alpha1.ChatGroup) {
			c.Spec.Attributes = map[string]imv1alpha1.AttributeValue{"a": "changed", "c": "3"}
		})
		Eventually(attrs, "10s").Should(Equal(map[string]string{"a": "changed", "c": "3"}))
		got := waitSynced(cg)
		Expect(got.Status.Attributes).To(Equal(map[string]string{"a": "changed", "c": "3"}))

		update(cg, func(c *imv1alpha1.ChatGroup) { c.Spec.Attributes = map[string]imv1alpha1.AttributeValue{} })
		Eventually(func() int { return len(attrs()) }, "10s").Should(BeZero())
		got = waitSynced(cg)
		Expect(got.Status.Attributes).To(BeEmpty())
	})

	It("deletes a discovered ChatGroup whose group IM does not have, and keeps one whose group exists", func() {
		made := uniq("made-up")
		existing := uniq("real")
		_, err := fake.Admin().CreateGroup(timfake.GroupSpec{GroupID: existing, Type: "Public", Name: "real"})
		Expect(err).NotTo(HaveOccurred())
		for _, id := range []string{made, existing} {
			cg := &imv1alpha1.ChatGroup{}
			cg.Namespace, cg.Name = ns, id
			cg.Labels = map[string]string{imv1alpha1.LabelDiscovered: "true"}
			cg.Spec = imv1alpha1.ChatGroupSpec{GroupID: id, ManagementPolicy: imv1alpha1.ManagementPolicyObserve}
			Expect(k8s.Create(context.Background(), cg)).To(Succeed())
		}
		Eventually(func() bool {
			err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: made}, &imv1alpha1.ChatGroup{})
			return apierrors.IsNotFound(err)
		}, "20s").Should(BeTrue(), "the ChatGroup of a made-up group ID must be deleted")
		kept := &imv1alpha1.ChatGroup{}
		kept.Namespace, kept.Name = ns, existing
		Expect(waitSynced(kept).Status.Name).To(Equal("real"))
	})

	DescribeTable("replaces a full attribute map at IM's limits (removes before it adds)",
		func(keys int, valueLen int) {
			id := uniq("attrs-full")
			decl := func(prefix string) map[string]imv1alpha1.AttributeValue {
				m := map[string]imv1alpha1.AttributeValue{}
				for i := range keys {
					m[fmt.Sprintf("%s%02d", prefix, i)] = imv1alpha1.AttributeValue(strings.Repeat(prefix, valueLen))
				}
				return m
			}
			want := func(m map[string]imv1alpha1.AttributeValue) map[string]string {
				out := map[string]string{}
				for k, v := range m {
					out[k] = string(v)
				}
				return out
			}
			cg := newChatGroup(ns, id, id, func(s *imv1alpha1.ChatGroupSpec) { s.Attributes = decl("a") })
			waitSynced(cg)
			attrs := func() map[string]string { g, _ := fake.Group(id); return g.Attributes }
			Expect(attrs()).To(Equal(want(decl("a"))))

			update(cg, func(c *imv1alpha1.ChatGroup) { c.Spec.Attributes = decl("b") })
			Eventually(attrs, "10s").Should(Equal(want(decl("b"))))
			got := waitSynced(cg)
			Expect(meta.FindStatusCondition(got.Status.Conditions, imv1alpha1.ConditionSynced).Reason).To(Equal(imv1alpha1.ReasonReconcileSuccess))
		},
		Entry("16 keys", 16, 1),
		Entry("16,000 bytes", 4, 3990),
	)

	It("brings status to the fake's truth with one resync when every callback is lost", func() {
		id := uniq("lost")
		cg := newChatGroup(ns, "lost", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
			s.Attributes = map[string]imv1alpha1.AttributeValue{}
		})
		_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "n0", Owner: "boss"})
		Expect(err).NotTo(HaveOccurred())
		update(cg, func(c *imv1alpha1.ChatGroup) {
			c.Annotations = map[string]string{imv1alpha1.AnnotationResyncRequestedAt: "t1"}
		})
		Eventually(getter(cg), "15s").Should(WithTransform(condition(imv1alpha1.ConditionReady), Equal("True/Available")))

		fake.SetCallbackFaults(timfake.Faults{Drop: 1})
		DeferCleanup(func() { fake.SetCallbackFaults(timfake.Faults{}) })
		boss := fake.User("boss", timfake.PlatformWeb)
		Expect(boss.SetName(id, "renamed")).To(Succeed())
		Expect(boss.SetNotification(id, "new notice")).To(Succeed())
		Expect(boss.ModifyAttrs(id, map[string]string{"k": "v"})).To(Succeed())
		for range 3 {
			_, err := boss.SendText(id, "hi")
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(fake.WaitCallbacksDelivered(context.Background())).To(Succeed())
		Expect(fetch(cg).Status.Name).To(Equal("n0"), "no callback arrived")

		_, err = resync.ResyncOnce(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			st := fetch(cg).Status
			truth, _ := fake.Group(id)
			g.Expect(st.Name).To(Equal(truth.Name))
			g.Expect(st.Notification).To(Equal(truth.Notification))
			g.Expect(st.Attributes).To(Equal(truth.Attributes))
			g.Expect(st.MemberCount).To(Equal(int64(len(truth.Members))))
			g.Expect(st.LastMessageSeq).To(Equal(int64(truth.NextMsgSeq - 1)))
			g.Expect(st.LastResyncTime).NotTo(BeNil())
		}, "10s").Should(Succeed())
		// A second resync finds nothing new and writes nothing.
		stats, err := resync.ResyncOnce(context.Background())
		Expect(err).NotTo(HaveOccurred())
		Expect(stats.Written).To(BeZero())
	})

	It("makes no REST call and no write for 1,000 message-like status changes", func() {
		id := uniq("quiet")
		cg := newChatGroup(ns, "quiet", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.Name = ptr("quiet")
			s.Attributes = map[string]imv1alpha1.AttributeValue{"x": "y"}
		})
		waitSynced(cg)
		Expect(fake.WaitCallbacksDelivered(context.Background())).To(Succeed())
		Eventually(func() int { return webhook.Writer().Pending() }, "10s").Should(BeZero())
		// Wait until the reconciles of the callbacks' writes have settled:
		// the object stops changing.
		Eventually(func(g Gomega) {
			rv := fetch(cg).ResourceVersion
			g.Consistently(func() string { return fetch(cg).ResourceVersion }, "500ms").Should(Equal(rv))
		}, "20s").Should(Succeed())
		before := restCalls()
		cur := fetch(cg)
		ctx := context.Background()
		// Every patch carries the resourceVersion of the one before: a
		// conflict would mean the controller wrote in between, which is
		// exactly what must not happen.
		for i := int64(1); i <= 1000; i++ {
			orig := cur.DeepCopy()
			cur.Status.LastMessageSeq = i
			cur.Status.LastMessageFrom = "user"
			Expect(k8s.Status().Patch(ctx, cur, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))).
				To(Succeed(), "status change %d: someone else wrote", i)
		}
		rv := cur.ResourceVersion
		Consistently(func() string { return fetch(cg).ResourceVersion }, "2s").Should(Equal(rv), "the controller wrote")
		Expect(restCalls() - before).To(BeZero())
		Expect(fetch(cg).Status.LastMessageSeq).To(Equal(int64(1000)))
	})
})
