package controllers_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

// A read's member count lands only when the read is newer than every join
// and exit status holds (otherwise it would count again those it had
// counted). When joins stamped after the read landed first, the count the
// read was to give is missing: for a group observed while members join,
// memberCount is the joins alone. The controller reads such a group again
// soon, backing off, instead of leaving the count short until the next
// resync (an hour in this suite).
var _ = Describe("member count recount", func() {
	It("reads again after a read whose count could not land, until one lands, a bounded number of times", func() {
		ctx := context.Background()
		ns := newNamespace()
		// The operator's clock 10 s behind IM's: each read is stamped
		// before the joins IM reported a moment ago, as a read whose write
		// lost the race with those joins' callbacks is.
		const skew = 10 * time.Second
		startOperator(func(o *controllers.Options, _ *webhookserver.Options) {
			o.Now = func() time.Time { return time.Now().Add(-skew) }
		})
		DeferCleanup(func() { startOperator(nil) })

		id := uniq("recount")
		_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "watched", Owner: "boss"})
		Expect(err).NotTo(HaveOccurred())
		// Paused: no read before the joins are recorded.
		cg := &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "recount", Annotations: map[string]string{imv1alpha1.AnnotationPaused: "true"}},
			Spec:       imv1alpha1.ChatGroupSpec{GroupID: id, ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
		}
		Expect(k8s.Create(ctx, cg)).To(Succeed())
		// The operator has it (the receiver routes callbacks by the same
		// cache): no join's callback arrives before its route.
		Eventually(getter(cg), "20s").Should(WithTransform(condition(imv1alpha1.ConditionSynced), Equal("False/Paused")))
		for _, u := range []string{"ann", "bob", "cyd"} {
			Expect(fake.User(u, timfake.PlatformWeb).Join(id)).To(Succeed())
		}
		Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		Eventually(func() int64 { return fetch(cg).Status.MemberCount }, "10s").Should(Equal(int64(3)), "the three joins, with no count to add them to")
		reads := fake.CallsFor("get_group_info", id)

		annotate(cg, imv1alpha1.AnnotationPaused, "")
		// The first read and the recounts 2 s and 6 s after it are stamped
		// before the joins; the one 14 s after it is not.
		Eventually(func() int64 { return fetch(cg).Status.MemberCount }, "30s").Should(Equal(int64(4)), "the owner and the three joins")
		Expect(fake.CallsFor("get_group_info", id) - reads).To(BeNumerically("<=", 4))
		// The count landed: no more recounts.
		n := fake.CallsFor("get_group_info", id)
		Consistently(func() int { return fake.CallsFor("get_group_info", id) }, "5s", "500ms").Should(Equal(n))
	})
})
