package reliability

import (
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

var _ = Describe("the manager is stopped with many groups pending", func() {
	It("on SIGTERM flushes them at the drain's own budget: the count is measured", func() {
		const groups = 4000 // more than the 20 s budget at DrainQPS can write
		ns := newNamespace()
		By(fmt.Sprintf("declaring %d ChatGroups", groups))
		ids := make([]string, groups)
		for i := range ids {
			ids[i] = fmt.Sprintf("rel-drain-%04d", i)
		}
		parallel(ids, 8, func(id string) {
			cg := &imv1alpha1.ChatGroup{}
			cg.Namespace, cg.Name = ns, cgName(id)
			cg.Spec = imv1alpha1.ChatGroupSpec{GroupID: id, Type: "Public", Owner: "owner", ManagementPolicy: imv1alpha1.ManagementPolicyObserve}
			Expect(k8s.Create(ctx, cg)).To(Succeed())
		})
		// Removed at the end: every later spec's manager serves every
		// ChatGroup in the cluster, and 4,000 left here would keep it busy
		// for minutes (it reads each and writes its status at the client's
		// 20 requests a second), past what those specs wait. This spec's
		// manager is gone by then, so the finalizers it added come off here.
		DeferCleanup(func() {
			Expect(k8s.DeleteAllOf(ctx, &imv1alpha1.ChatGroup{}, client.InNamespace(ns))).To(Succeed())
			left := &imv1alpha1.ChatGroupList{}
			Expect(k8s.List(ctx, left, client.InNamespace(ns))).To(Succeed())
			var held []string
			for _, cg := range left.Items {
				if len(cg.Finalizers) > 0 {
					held = append(held, cg.Name)
				}
			}
			parallel(held, 8, func(name string) {
				cg := &imv1alpha1.ChatGroup{}
				cg.Namespace, cg.Name = ns, name
				Expect(client.IgnoreNotFound(k8s.Patch(ctx, cg, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))))).To(Succeed())
			})
			Eventually(func() ([]imv1alpha1.ChatGroup, error) {
				l := &imv1alpha1.ChatGroupList{}
				err := k8s.List(ctx, l, client.InNamespace(ns))
				return l.Items, err
			}).WithTimeout(60 * time.Second).Should(BeEmpty())
		})

		// One status write a second in steady state: nearly every update is
		// still pending at SIGTERM. The drain (DrainQPS, 200/s) is not held
		// to that cap; it is bounded by the 20 s ShutdownTimeout, which 4,000
		// pending groups outlast.
		m := startManager("drain", managerOpts{extra: []string{"--status-write-qps=1", "--status-write-burst=1"}})
		By("one message callback per group")
		var mu sync.Mutex
		codes := map[int]int{}
		parallel(ids, 8, func(id string) {
			code, err := post(m.callbackURL, timfake.CmdAfterSendMsg, msgBody(id, 1, "drainer"))
			Expect(err).NotTo(HaveOccurred())
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
		Expect(codes).To(Equal(map[int]int{http.StatusOK: groups}))
		pending, err := m.metric("chatgroup_webhook_pending_groups", "")
		Expect(err).NotTo(HaveOccurred())
		Expect(pending).To(BeNumerically(">", groups/2), "most updates must be pending, or the drain is not measured")

		By(fmt.Sprintf("SIGTERM with %.0f groups pending", pending))
		t0 := time.Now()
		m.signal(syscall.SIGTERM, 60*time.Second)
		exitAfter := time.Since(t0)
		Expect(m.waitErr).NotTo(HaveOccurred(), "clean exit: %s", m.tail())

		list := &imv1alpha1.ChatGroupList{}
		Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		Expect(list.Items).To(HaveLen(groups))
		written := 0
		for _, cg := range list.Items {
			if cg.Status.LastMessageSeq == 1 {
				written++
			}
		}
		flushed := written - (groups - int(pending))
		Expect(flushed).To(BeNumerically(">", 0))
		report("SIGTERM drain | %d ChatGroups, one message callback each (all 200), --status-write-qps=1 so %.0f were pending; SIGTERM | exit code 0 after %.1f s; %d of the %.0f pending groups written by then (%.0f a second; DrainQPS is 200), %d in status in all; the other %d were logged as not written (the resync heals them)",
			groups, pending, exitAfter.Seconds(), flushed, pending, float64(flushed)/exitAfter.Seconds(), written, groups-written)
	})
})

// parallel runs f on every item, n at a time.
func parallel(items []string, n int, f func(string)) {
	work := make(chan string)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			defer GinkgoRecover()
			for it := range work {
				f(it)
			}
		})
	}
	for _, it := range items {
		work <- it
	}
	close(work)
	wg.Wait()
}
