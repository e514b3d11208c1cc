package reliability

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"k8s.io/utils/ptr"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

const modifyCmd = "modify_group_base_info"

var _ = Describe("IM REST faults", Ordered, func() {
	var ns string
	const id = "rel-imfaults"

	BeforeAll(func() {
		ns = newNamespace()
		_, err := fake.User("imowner", "Web").CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "start"})
		Expect(err).NotTo(HaveOccurred())
		startManager("im-faults", managerOpts{secret: true})
		newChatGroup(ns, id, imv1alpha1.ManagementPolicyEnforce, func(cg *imv1alpha1.ChatGroup) { cg.Spec.Name = ptr.To("n0") })
		Eventually(func(g Gomega) {
			snap, _ := fake.Group(id)
			g.Expect(snap.Name).To(Equal("n0"))
			g.Expect(condition(getCG(ns, id), imv1alpha1.ConditionSynced)).To(BeEquivalentTo("True"))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		DeferCleanup(fake.ClearInjections)
	})

	// setName changes spec.name without waiting.
	setName := func(name string) {
		GinkgoHelper()
		setSpecName(ns, id, name)
	}
	synced := func(name string) {
		GinkgoHelper()
		awaitSyncedName(fake, ns, id, name, 120*time.Second)
	}

	It("HTTP 5xx from IM: retried with backoff, bounded, then Synced", func() {
		before := restCalls(id)
		fake.FailHTTP(http.StatusBadGateway, 6)
		setName("n1")
		synced("n1")
		calls := restCalls(id) - before
		// A pass is at most 3 calls (group info, attributes, modify). Each
		// of the 6 failures ends a pass (or is retried inside the client),
		// after at most 2 calls that succeeded, and one final pass succeeds:
		// at most 6 + 6*2 + 3 = 21. A hot loop would be far more.
		Expect(calls).To(BeNumerically("<=", 21))
		report("IM REST 5xx | the next 6 REST answers are HTTP 502, during a spec change | %d REST calls in all (bound 21 = 6 failures + 2 successful calls before each + one clean pass of 3), then Synced=True and the name is in IM", calls)
	})

	It("IM answers slower than the client timeout: no pile-up, Synced once it answers", func() {
		before, modBefore := restCalls(id), fake.CallsFor(modifyCmd, id)
		fake.SetLatency(7 * time.Second) // the client's timeout is 6 s
		setName("n2")
		Eventually(func() int { return restCalls(id) }).WithTimeout(60 * time.Second).Should(BeNumerically(">=", before+2))
		time.Sleep(20 * time.Second) // an observation window, not a wait for convergence
		during := restCalls(id) - before
		fake.SetLatency(0)
		synced("n2")
		total, mods := restCalls(id)-before, fake.CallsFor(modifyCmd, id)-modBefore
		Expect(during).To(BeNumerically("<=", 12), "a timed-out call must not be retried in a tight loop")
		report("IM REST timeouts | every REST answer delayed 7 s (client timeout 6 s) for ~25 s during a spec change | %d REST calls while slow (bound 12: each waits out its 6 s timeout, then backoff), %d in all (%d modify_group_base_info); Synced=True and the name in IM after the latency was removed", during, total, mods)
	})

	It("a 60007 storm: backs off (no hot loop), Synced when it ends", func() {
		before := fake.CallsFor(modifyCmd, id)
		fake.InjectError(modifyCmd, timfake.CodeRESTOverLimit, -1)
		setName("n3")
		Eventually(func() int { return fake.CallsFor(modifyCmd, id) - before }).WithTimeout(30 * time.Second).Should(BeNumerically(">=", 2))
		Eventually(func() string {
			cg := getCG(ns, id)
			for _, c := range cg.Status.Conditions {
				if c.Type == imv1alpha1.ConditionSynced {
					return string(c.Status) + "/" + c.Reason
				}
			}
			return ""
		}).WithTimeout(30 * time.Second).Should(Equal("False/" + imv1alpha1.ReasonRateLimited))
		start := fake.CallsFor(modifyCmd, id)
		time.Sleep(20 * time.Second) // an observation window, not a wait for convergence
		during := fake.CallsFor(modifyCmd, id) - start
		fake.ClearInjections()
		synced("n3")
		total := fake.CallsFor(modifyCmd, id) - before
		Expect(during).To(BeNumerically("<=", 40), "rate-limit answers must be backed off, not hammered")
		report("IM 60007 storm | every modify_group_base_info answered 60007 until cleared | Synced=False/RateLimited shown; %d calls in a 20 s window (bound 40; a hot loop would be thousands), %d in all; Synced=True once the storm ended", during, total)
	})
})

// restCalls is the number of REST calls the fake has received naming group
// id, every command the operator uses together. Counted per group: the
// manager also serves the ChatGroups earlier specs left, and their reads
// (the start, recounts, the resync) are not this spec's.
func restCalls(id string) int {
	n := 0
	for _, c := range []string{"get_group_info", "get_group_attr", "create_group", modifyCmd,
		"modify_group_attr", "delete_group_attr", "destroy_group", "clear_group_attr", "set_group_attr"} {
		n += fake.CallsFor(c, id)
	}
	return n
}
