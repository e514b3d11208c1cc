package reliability

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

var _ = Describe("callback faults from the IM backend", Ordered, func() {
	var ns string
	groups := []string{"rel-cbf-1", "rel-cbf-2", "rel-cbf-3"}
	owner := func() *timfake.User { return fake.User("cbfowner", "iOS") }
	var joined int
	var m *managerProc

	BeforeAll(func() {
		ns = newNamespace()
		for _, id := range groups {
			_, err := owner().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "start"})
			Expect(err).NotTo(HaveOccurred())
			newChatGroup(ns, id, imv1alpha1.ManagementPolicyObserve)
		}
		// The periodic resync is far away: only callbacks, or an explicit
		// resync request, can change status in this test.
		m = startManager("callback-faults", managerOpts{secret: true, resync: time.Hour})
		fake.SetCallbackURL(m.callbackURL)
		DeferCleanup(func() { fake.SetCallbackFaults(timfake.Faults{}); fake.SetCallbackURL("") })
		Eventually(func(g Gomega) {
			for _, id := range groups {
				expectStatusMatchesFake(g, ns, id, true)
			}
		}).WithTimeout(60 * time.Second).Should(Succeed())
	})

	activity := func(tag string, rounds int) {
		GinkgoHelper()
		u := owner()
		for r := range rounds {
			for i, id := range groups {
				distinctMillisecond()
				_, err := u.SendText(id, fmt.Sprintf("%s %d", tag, r))
				Expect(err).NotTo(HaveOccurred())
				distinctMillisecond()
				switch (r + i) % 4 {
				case 0:
					Expect(u.SetName(id, fmt.Sprintf("%s name %d", tag, r))).To(Succeed())
				case 1:
					modifyAttrs(u, id, map[string]string{fmt.Sprintf("k%d", r%3): fmt.Sprintf("%s-%d", tag, r)})
				case 2:
					Expect(u.SetNotification(id, fmt.Sprintf("%s notice %d", tag, r))).To(Succeed())
				case 3:
					joined++
					Expect(fake.User(fmt.Sprintf("cbf%d", joined), "Android").Join(id)).To(Succeed())
				}
			}
		}
		Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
	}

	resyncAll := func() {
		GinkgoHelper()
		for _, id := range groups {
			requestResync(ns, id)
		}
	}

	It("duplicates and reordering: seq, info and attributes exact from callbacks alone; member counts healed by the resync", func() {
		before := fake.CallbackStats()
		fake.SetCallbackFaults(timfake.Faults{Duplicate: 0.3, Reorder: 0.3})
		activity("dup", 24)
		fake.SetCallbackFaults(timfake.Faults{})
		st := fake.CallbackStats()
		dups := st.Duplicated - before.Duplicated
		Expect(dups).To(BeNumerically(">", 0))
		Eventually(func(g Gomega) {
			for _, id := range groups {
				expectStatusMatchesFake(g, ns, id, false)
			}
		}).WithTimeout(60 * time.Second).Should(Succeed())
		membersOff := 0
		for _, id := range groups {
			snap, _ := fake.Group(id)
			if getCG(ns, id).Status.MemberCount != int64(len(snap.Members)) {
				membersOff++
			}
		}
		resyncAll()
		Eventually(func(g Gomega) {
			for _, id := range groups {
				expectStatusMatchesFake(g, ns, id, true)
			}
		}).WithTimeout(60 * time.Second).Should(Succeed())
		report("Callback duplicates and reordering | 288 user actions on 3 groups with 30%% of callbacks duplicated and 30%% held back behind the next (%d duplicates sent), resync 1h | seq, name, introduction, notification and attributes equal the fake's truth from callbacks alone; member count (counted deltas) was off in %d of 3 groups after duplicate joins and was exact after one resync (annotation)",
			dups, membersOff)
	})

	// Attribute changes of different keys, reordered: each key is ordered by
	// its own event time (internal/attrmerge), so all of them land from the
	// callbacks alone; no resync is needed.
	It("reordered attribute changes of different keys: exact from callbacks alone", func() {
		before := fake.CallbackStats()
		fake.SetCallbackFaults(timfake.Faults{Reorder: 0.5})
		u := owner()
		for k := range 8 {
			for _, id := range groups {
				modifyAttrs(u, id, map[string]string{fmt.Sprintf("r%d", k): fmt.Sprintf("x%d", k)})
			}
		}
		Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		fake.SetCallbackFaults(timfake.Faults{})
		Expect(fake.CallbackStats().Delivered - before.Delivered).To(BeNumerically(">=", 24))
		// Every delivered callback was merged before it was answered: once
		// nothing is pending, status holds all the receiver will make of them.
		Eventually(func() (float64, error) { return m.metric("chatgroup_webhook_pending_groups", "") }).
			WithTimeout(30 * time.Second).Should(BeZero())
		for _, id := range groups {
			snap, _ := fake.Group(id)
			Expect(getCG(ns, id).Status.Attributes).To(Equal(snap.Attributes), "attributes of %s from callbacks alone", id)
		}
		report("Callback reordering of attribute changes | 24 attribute modifies of different keys on 3 groups, 50%% of callbacks held back behind the next | attributes equal the fake's in 3 of 3 groups from callbacks alone (per-key event times), no resync")
	})

	It("drops: healed by one resync", func() {
		before := fake.CallbackStats()
		fake.SetCallbackFaults(timfake.Faults{Drop: 0.5})
		activity("drop", 12)
		fake.SetCallbackFaults(timfake.Faults{})
		dropped := fake.CallbackStats().Dropped - before.Dropped
		Expect(dropped).To(BeNumerically(">", 0))
		resyncAll()
		Eventually(func(g Gomega) {
			for _, id := range groups {
				expectStatusMatchesFake(g, ns, id, true)
			}
		}).WithTimeout(60 * time.Second).Should(Succeed())
		report("Callback drops | 144 user actions on 3 groups with 50%% of callbacks dropped (%d lost) | after one resync (resync-requested-at annotation) seq, info, attributes and member count equal the fake's truth", dropped)
	})
})

func equalAttrs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
