package reliability

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// roundRobin is a tiny reverse proxy on 127.0.0.1 in front of the replicas'
// receivers: each callback goes to the next backend; a backend that refuses
// the connection is skipped, as a load balancer's health check would.
type roundRobin struct {
	mu       sync.Mutex
	backends []string
	next     int
	hits     []int
	client   *http.Client
	trail    []string // attribute callbacks: backend, status, body (for diagnosis)
}

func (p *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		http.Error(w, "proxy: reading body", http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	start := p.next
	p.next = (p.next + 1) % len(p.backends)
	p.mu.Unlock()
	for i := range p.backends {
		idx := (start + i) % len(p.backends)
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.backends[idx]+"?"+r.URL.RawQuery, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := p.client.Do(req)
		if err != nil {
			continue // dead backend: try the next one
		}
		p.mu.Lock()
		p.hits[idx]++
		if bytes.Contains(body, []byte("AttrChanged")) {
			p.trail = append(p.trail, fmt.Sprintf("%s -> backend %d: %d %s", time.Now().Format("15:04:05.000"), idx, resp.StatusCode, body))
		}
		p.mu.Unlock()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		_ = resp.Body.Close()
		return
	}
	http.Error(w, "proxy: no backend", http.StatusBadGateway)
}

func (p *roundRobin) hitCounts() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.hits...)
}

const leaderMetric = "leader_election_master_status"

func isLeader(m *managerProc) bool {
	if m.exited() {
		return false
	}
	v, err := m.metric(leaderMetric, "")
	return err == nil && v == 1
}

var _ = Describe("two replicas with leader election behind one address", func() {
	It("round-robins callbacks, keeps state exact, pushes only from the leader, and fails over", func() {
		ns := newNamespace()
		enforced, observed := "rel-ha-enforced", "rel-ha-observed"
		users := fake.User("haowner", "Web")
		_, err := users.CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: observed, Name: "observed"})
		Expect(err).NotTo(HaveOccurred())
		newChatGroup(ns, observed, imv1alpha1.ManagementPolicyObserve)

		a := startManager("replica-a", managerOpts{secret: true, leaderElectNS: ns, extra: []string{"--zap-log-level=debug"}})
		b := startManager("replica-b", managerOpts{secret: true, leaderElectNS: ns, extra: []string{"--zap-log-level=debug"}})
		proxy := &roundRobin{backends: []string{a.callbackURL, b.callbackURL}, hits: make([]int, 2),
			client: &http.Client{Timeout: 5 * time.Second}}
		ps := httptest.NewServer(proxy)
		DeferCleanup(ps.Close)
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				proxy.mu.Lock()
				fmt.Fprintf(GinkgoWriter, "attribute callbacks through the proxy:\n%s\n", strings.Join(proxy.trail, "\n"))
				proxy.mu.Unlock()
				cg := getCG(ns, observed)
				fmt.Fprintf(GinkgoWriter, "status of %s: attributes %v eventTimes %+v\n", observed, cg.Status.Attributes, cg.Status.EventTimes)
				evs := &eventsv1.EventList{}
				_ = k8s.List(ctx, evs, client.InNamespace(ns))
				for _, e := range evs.Items {
					fmt.Fprintf(GinkgoWriter, "event %s %s %s %s: %s\n", e.EventTime.Format("15:04:05.000"), e.ReportingInstance, e.Regarding.Name, e.Reason, e.Note)
				}
			}
		})
		fake.SetCallbackURL(ps.URL + "/callback")
		DeferCleanup(func() { fake.SetCallbackURL("") })

		var leader, follower *managerProc
		Eventually(func() bool { return isLeader(a) || isLeader(b) }).WithTimeout(60 * time.Second).Should(BeTrue())
		leader, follower = a, b
		if isLeader(b) {
			leader, follower = b, a
		}
		Expect(isLeader(follower)).To(BeFalse(), "one leader only")

		By("an Enforce ChatGroup is created in IM by the leader, then renamed N times")
		newChatGroup(ns, enforced, imv1alpha1.ManagementPolicyEnforce, func(cg *imv1alpha1.ChatGroup) { cg.Spec.Name = ptr.To("v0") })
		Eventually(func(g Gomega) {
			snap, ok := fake.Group(enforced)
			g.Expect(ok).To(BeTrue())
			g.Expect(snap.Name).To(Equal("v0"))
			g.Expect(condition(getCG(ns, enforced), imv1alpha1.ConditionSynced)).To(BeEquivalentTo("True"))
		}).WithTimeout(60 * time.Second).Should(Succeed())
		const renames = 5
		before := fake.CallsFor("modify_group_base_info", enforced)
		for i := 1; i <= renames; i++ {
			rename(ns, enforced, fmt.Sprintf("v%d", i))
		}
		Expect(fake.CallsFor("modify_group_base_info", enforced)-before).To(Equal(renames),
			"exactly one modify_group_base_info per spec change: only the leader pushes")

		// The users act at once, racing the leader's first read of the
		// observed group: a join applied before that read lands but stamped
		// after it makes the read's count skip (it cannot tell which joins
		// it already counted), and the controller then reads again until a
		// count lands (a recount, 2 s later and doubling), well within the
		// minute the checks below wait.
		By("simulated users act on the observed group; callbacks alternate between the replicas")
		for i := range 30 {
			distinctMillisecond()
			_, err := users.SendText(observed, fmt.Sprintf("hello %d", i))
			Expect(err).NotTo(HaveOccurred())
			if i%5 == 0 {
				modifyAttrs(users, observed, map[string]string{fmt.Sprintf("k%d", i%3): fmt.Sprintf("v%d", i)})
				Expect(fake.User(fmt.Sprintf("ha%d", i), "iOS").Join(observed)).To(Succeed())
			}
		}
		Expect(users.SetNotification(observed, "both replicas")).To(Succeed())
		Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		hits := proxy.hitCounts()
		Expect(hits[0]).To(BeNumerically(">", 5))
		Expect(hits[1]).To(BeNumerically(">", 5))
		// Attributes included: each key is ordered by its own event time, so
		// interleaved batches from two replicas land exactly.
		Eventually(func(g Gomega) {
			matchFake(g, ns, observed, true, true)
			expectStatusMatchesFake(g, ns, enforced, false)
		}).WithTimeout(60 * time.Second).Should(Succeed())
		attrsExact := func() bool {
			snap, _ := fake.Group(observed)
			return equalAttrs(getCG(ns, observed).Status.Attributes, snap.Attributes)
		}
		attrsBefore := attrsExact()

		By("SIGKILL the leader: the follower takes over within the lease duration and keeps pushing")
		Expect(leader.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
		killed := time.Now()
		Eventually(leader.done).WithTimeout(10 * time.Second).Should(BeClosed())
		// controller-runtime's defaults: LeaseDuration 15s, RetryPeriod 2s.
		// client-go counts the lease from when the follower last saw it
		// change (it polls every RetryPeriod), then tries every RetryPeriod:
		// the takeover bound is LeaseDuration + 2*RetryPeriod = 19s; 5s of
		// slack for a shared 2-core machine.
		Eventually(func() bool { return isLeader(follower) }).WithTimeout(15*time.Second + 2*2*time.Second + 5*time.Second).
			WithPolling(250 * time.Millisecond).Should(BeTrue())
		takeover := time.Since(killed)
		before = fake.CallsFor("modify_group_base_info", enforced)
		rename(ns, enforced, "after failover")
		Expect(fake.CallsFor("modify_group_base_info", enforced) - before).To(Equal(1))
		_, err = users.SendText(observed, "after failover")
		Expect(err).NotTo(HaveOccurred())
		Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		Eventually(func(g Gomega) {
			matchFake(g, ns, observed, true, false)
			expectStatusMatchesFake(g, ns, enforced, false)
		}).WithTimeout(60 * time.Second).Should(Succeed())
		By("one resync (annotation), handled by the new leader, makes the attributes exact too")
		requestResync(ns, observed)
		Eventually(func(g Gomega) {
			expectStatusMatchesFake(g, ns, observed, true)
		}).WithTimeout(60 * time.Second).Should(Succeed())
		hits = proxy.hitCounts()
		report("Two replicas | 2 managers with --leader-elect behind a round-robin proxy; %d spec renames; 30 messages, attribute changes, joins; then SIGKILL of the leader and one more rename | callbacks split %d/%d between replicas; seq, info and member count equal the fake's truth from callbacks alone; attributes from callbacks alone exact: %v, and after one resync by the new leader; exactly %d modify_group_base_info for %d renames (only the leader pushes); follower became leader %.1fs after the kill (lease 15s; client-go's bound lease + 2 retry periods = 19s); the rename after the kill reached IM exactly once",
			renames, hits[0], hits[1], attrsBefore, renames, renames, takeover.Seconds())
	})
})

var _ = Describe("two replicas, attributes from callbacks alone", func() {
})

// rename sets spec.name and waits until the IM backend has it.
func rename(ns, groupID, name string) {
	GinkgoHelper()
	setSpecName(ns, groupID, name)
	awaitSyncedName(fake, ns, groupID, name, 60*time.Second)
}
