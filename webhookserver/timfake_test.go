package webhookserver

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// The fake IM backend sends the callbacks its state changes cause, signed,
// to the receiver: the status must end equal to the fake's own state.
var _ = Describe("callbacks from the fake IM backend", func() {
	It("leave the status equal to the backend's state", func() {
		ns := newNamespace()
		r := startReceiver(Options{Token: testToken, DiscoveryNamespace: ns})
		defer r.stop()
		for i, numeric := range []bool{false, true} { // EventTime as string, then number
			fake := timfake.New(timfake.Options{SDKAppID: testAppID, SecretKey: "secret", CallbackURL: r.url,
				CallbackToken: testToken, EventTimeNumeric: numeric, Seed: uint64(7 + i)})
			leckie := fake.User("leckie", "iOS")
			gid, err := leckie.CreateGroup(timfake.GroupSpec{Type: "Public", Name: "Fake", Members: []string{"bob", "peter"}})
			Expect(err).NotTo(HaveOccurred())
			Expect(leckie.SetName(gid, "Renamed")).To(Succeed())
			Expect(leckie.SetNotification(gid, "Hello")).To(Succeed())
			Expect(leckie.SetIntroduction(gid, "Intro")).To(Succeed())
			Expect(leckie.SetFaceURL(gid, "https://example.com/f.png")).To(Succeed())
			Expect(leckie.SetAttrs(gid, map[string]string{"a": "1", "b": "2"})).To(Succeed())
			Expect(leckie.ModifyAttrs(gid, map[string]string{"b": "3", "c": "4"})).To(Succeed())
			Expect(leckie.DeleteAttrs(gid, "a")).To(Succeed())
			bob := fake.User("bob", "Android")
			for range 20 {
				_, err := bob.SendText(gid, "hi")
				Expect(err).NotTo(HaveOccurred())
			}
			Expect(leckie.Invite(gid, "tom", "jerry")).To(Succeed())
			Expect(leckie.Kick(gid, "peter")).To(Succeed())
			Expect(leckie.ChangeOwner(gid, "bob")).To(Succeed())

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
			cancel()
			stats := fake.CallbackStats()
			Expect(stats.Failed+stats.Dropped).To(BeZero(), "%+v", stats)
			settle(r)

			want, ok := fake.Group(gid)
			Expect(ok).To(BeTrue())
			key := types.NamespacedName{Namespace: ns, Name: DiscoveryName(gid)}
			Eventually(func(g Gomega) {
				st := getStatus(key)
				g.Expect(st.GroupID).To(Equal(gid))
				g.Expect(string(st.Type)).To(Equal(want.Type))
				g.Expect(st.Name).To(Equal(want.Name))
				g.Expect(st.Notification).To(Equal(want.Notification))
				g.Expect(st.Introduction).To(Equal(want.Introduction))
				g.Expect(st.FaceURL).To(Equal(want.FaceURL))
				g.Expect(st.Owner).To(Equal(want.Owner))
				g.Expect(st.Attributes).To(Equal(want.Attributes))
				g.Expect(st.MemberCount).To(BeEquivalentTo(len(want.Members)))
				g.Expect(st.LastMessageSeq).To(BeEquivalentTo(want.NextMsgSeq - 1))
				g.Expect(st.LastMessageFrom).To(Equal("bob"))
				g.Expect(st.Destroyed).To(BeFalse())
			}, 10*time.Second, 50*time.Millisecond).Should(Succeed())

			Expect(leckie.Destroy(gid)).NotTo(Succeed(), "leckie is no longer the owner")
			Expect(bob.Destroy(gid)).To(Succeed())
			Expect(fake.WaitCallbacksDelivered(context.Background())).To(Succeed())
			Eventually(func() bool { return getStatus(key).Destroyed }, 10*time.Second).Should(BeTrue())
			var cg imv1alpha1.ChatGroup
			Expect(k8sClient.Get(context.Background(), key, &cg)).To(Succeed())
			Expect(cg.Spec.ManagementPolicy).To(Equal(imv1alpha1.ManagementPolicyObserve))
			fake.Close()
		}
	})
})
