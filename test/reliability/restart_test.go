package reliability

import (
	"fmt"
	"net/http"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

var _ = Describe("the API server restarts during a callback flood", func() {
	It("keeps every accepted callback: its effect is in status afterwards", func() {
		ns := newNamespace()
		groups := []string{"rel-apis-1", "rel-apis-2", "rel-apis-3", "rel-apis-4", "rel-apis-5", "rel-apis-6"}
		for _, id := range groups {
			newChatGroup(ns, id, imv1alpha1.ManagementPolicyObserve)
		}
		// No secret key: the receiver alone writes status. A bound of 3
		// pending groups (of 6) makes the receiver refuse with 503 while the
		// API server is down, so the refusal path is exercised too.
		m := startManager("apiserver-restart", managerOpts{extra: []string{"--max-pending-groups=3"}})

		stop := make(chan struct{})
		f := startFlood(m.callbackURL, groups, 4000, 20*time.Millisecond, stop)
		DeferCleanup(func() { close(stop); f.wait() }, Offset(0))
		stopped := false
		defer func() {
			if stopped { // never leave the suite without an API server
				Expect(env.ControlPlane.APIServer.Start()).To(Succeed())
			}
		}()

		Eventually(func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.codes[http.StatusOK] }).
			WithTimeout(30 * time.Second).Should(BeNumerically(">", 50))
		By("stopping kube-apiserver for 10 s while callbacks keep coming")
		stopAt := time.Now()
		stopAPIServer()
		stopped = true
		down := time.Now()
		fmt.Fprintf(GinkgoWriter, "kube-apiserver stopped in %v\n", down.Sub(stopAt))
		time.Sleep(10 * time.Second) // the fault's duration, not a wait for convergence
		Expect(env.ControlPlane.APIServer.Start()).To(Succeed())
		stopped = false
		outage := time.Since(stopAt)
		fmt.Fprintf(GinkgoWriter, "API server unreachable for %v (stopped %v, restarted in %v)\n", outage, down.Sub(stopAt), time.Since(down)-10*time.Second)
		Eventually(func() int {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.codes[http.StatusOK] + f.codes[http.StatusServiceUnavailable]
		}).
			WithTimeout(30 * time.Second).Should(BeNumerically(">", 0))
		time.Sleep(3 * time.Second) // a few more seconds of flood after the restart
		close(stop)
		f.wait()
		stop = make(chan struct{}) // for the cleanup

		Expect(m.exited()).To(BeFalse(), "the manager must survive the outage: %s", m.tail())
		Eventually(func(g Gomega) { expectFloodInStatus(g, ns, f, groups) }).
			WithTimeout(90 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		f.mu.Lock()
		defer f.mu.Unlock()
		Expect(f.noAnswer).To(BeZero(), "every callback must get an answer: %v", f.codes)
		for code := range f.codes {
			Expect(code).To(BeElementOf(http.StatusOK, http.StatusServiceUnavailable), "answers: %v", f.codes)
		}
		report("API server restart | kube-apiserver stopped (SIGTERM, SIGKILL after 5 s of graceful shutdown), kept down 10 s, started again on the same port: unreachable %.0f s in all, during a flood on 6 groups (one sequential sender per group, 50 callbacks/s each, --max-pending-groups=3) | %d accepted (200), %d refused (503, counted), 0 unanswered, no other code; afterwards lastMessageSeq = max accepted seq and attributes = fold of accepted changes for all 6 groups; manager stayed up",
			outage.Seconds(), f.codes[http.StatusOK], f.codes[http.StatusServiceUnavailable])
	})
})

var _ = Describe("the manager is stopped mid-flood", func() {
	It("on SIGTERM writes every pending update before exiting", func() {
		ns := newNamespace()
		groups := []string{"rel-term-1", "rel-term-2", "rel-term-3", "rel-term-4"}
		for _, id := range groups {
			newChatGroup(ns, id, imv1alpha1.ManagementPolicyObserve)
		}
		// A low write rate keeps updates pending, so SIGTERM finds work to flush.
		m := startManager("sigterm", managerOpts{extra: []string{"--status-write-qps=2", "--status-write-burst=1"}})
		stop := make(chan struct{})
		f := startFlood(m.callbackURL, groups, 4000, 10*time.Millisecond, stop)
		Eventually(func() int { f.mu.Lock(); defer f.mu.Unlock(); return f.codes[http.StatusOK] }).
			WithTimeout(30 * time.Second).Should(BeNumerically(">", 200))
		pending, err := m.metric("chatgroup_webhook_pending_groups", "")
		Expect(err).NotTo(HaveOccurred())
		Expect(pending).To(BeNumerically(">", 0), "SIGTERM must find unwritten updates, or the flush is not tested")
		By(fmt.Sprintf("SIGTERM with %v groups pending", pending))
		m.signal(syscall.SIGTERM, 40*time.Second)
		close(stop)
		f.wait()
		Expect(m.waitErr).NotTo(HaveOccurred(), "clean exit: %s", m.tail())
		// Nothing writes any more: status must be complete right now.
		expectFloodInStatus(Default, ns, f, groups)
		f.mu.Lock()
		defer f.mu.Unlock()
		report("Manager SIGTERM | SIGTERM mid-flood on 4 groups, status writes throttled to 2/s so %v groups were pending | %d accepted (200) before exit; the senders kept going until the process was gone, %d requests after the listener closed were refused at connect (not accepted); after exit every accepted callback's effect is in status; exit code 0",
			pending, f.codes[http.StatusOK], f.noAnswer)
	})

	It("after SIGKILL, one resync brings status to the IM backend's truth", func() {
		ns := newNamespace()
		groups := []string{"rel-kill-1", "rel-kill-2", "rel-kill-3"}
		owner := fake.User("killowner", "iOS")
		for _, id := range groups {
			_, err := owner.CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "before " + id})
			Expect(err).NotTo(HaveOccurred())
			newChatGroup(ns, id, imv1alpha1.ManagementPolicyObserve)
		}
		m := startManager("sigkill-a", managerOpts{secret: true, resync: 5 * time.Second})
		fake.SetCallbackURL(m.callbackURL)
		DeferCleanup(func() { fake.SetCallbackURL("") })
		act := func(round int) {
			for i, id := range groups {
				distinctMillisecond()
				_, err := owner.SendText(id, fmt.Sprintf("r%d", round))
				Expect(err).NotTo(HaveOccurred())
				modifyAttrs(owner, id, map[string]string{fmt.Sprintf("k%d", round%5): fmt.Sprintf("r%d", round)})
				if round%4 == i {
					distinctMillisecond()
					Expect(owner.SetName(id, fmt.Sprintf("name %d", round))).To(Succeed())
				}
				if round%3 == 0 {
					Expect(fake.User(fmt.Sprintf("u%d", round), "Android").Join(id)).To(Succeed())
				}
			}
		}
		for round := range 10 {
			act(round)
		}
		failedBefore := fake.CallbackStats().Failed
		By("SIGKILL mid-activity; the activity goes on while no manager runs")
		Expect(m.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		Eventually(m.done).WithTimeout(10 * time.Second).Should(BeClosed())
		for round := 10; round < 30; round++ {
			act(round)
		}
		Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		lost := fake.CallbackStats().Failed - failedBefore
		Expect(lost).To(BeNumerically(">", 0), "callbacks must have been lost while the manager was dead")

		restarted := metav1.Now()
		m2 := startManager("sigkill-b", managerOpts{secret: true, resync: 5 * time.Second, callbackAddr: m.callbackAddr})
		_ = m2
		Eventually(func(g Gomega) {
			for _, id := range groups {
				expectStatusMatchesFake(g, ns, id, true)
				cg := getCG(ns, id)
				g.Expect(cg.Status.LastResyncTime).NotTo(BeNil())
				g.Expect(!cg.Status.LastResyncTime.Before(&restarted)).To(BeTrue(), "a resync after the restart")
			}
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
		report("Manager SIGKILL | SIGKILL during user activity on 3 groups, then 20 more rounds of messages/attributes/names/joins with no manager (%d callbacks lost), restart with --resync-interval=5s | seq, name, introduction, notification, attributes and member count of every group equal the fake's truth after the restart's resync",
			lost)
	})
})
