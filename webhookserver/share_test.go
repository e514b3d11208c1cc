package webhookserver

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rateLog keeps the last budget a share set.
type rateLog struct {
	mu    sync.Mutex
	qps   float64
	burst int
}

func (r *rateLog) set(qps float64, burst int) {
	r.mu.Lock()
	r.qps, r.burst = qps, burst
	r.mu.Unlock()
}
func (r *rateLog) get() float64 { r.mu.Lock(); defer r.mu.Unlock(); return r.qps }

var _ = Describe("the status-write budget shared by the replicas", func() {
	newShare := func(ns, identity string, log *rateLog) *share {
		return &share{reader: k8sClient, c: k8sClient, namespace: ns, identity: identity, total: 20, burst: 10,
			expected: 1, renew: 200 * time.Millisecond, now: time.Now, set: log.set, log: logr.Discard()}
	}
	start := func(s *share) context.CancelFunc {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer GinkgoRecover(); Expect(s.Start(ctx)).To(Succeed()); close(done) }()
		DeferCleanup(func() { cancel(); Eventually(done).Should(BeClosed()) })
		return func() { cancel(); Eventually(done).Should(BeClosed()) }
	}

	It("divides --status-write-qps among the live receivers and takes the share back when one goes", func() {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "share-"}}
		Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
		a, b := &rateLog{}, &rateLog{}
		start(newShare(ns.Name, "pod-a", a))
		Eventually(a.get).Should(Equal(20.0), "alone, a replica has the whole budget")
		stopB := start(newShare(ns.Name, "pod-b", b))
		Eventually(a.get).Should(Equal(10.0))
		Eventually(b.get).Should(Equal(10.0))
		stopB() // gives its Lease up on the way out
		Eventually(a.get).Should(Equal(20.0))
	})

	It("divides by --expected-replicas when the receivers cannot be counted", func() {
		log := &rateLog{}
		s := newShare("", "pod", log)
		s.expected = 4
		start(s)
		Eventually(log.get).Should(Equal(5.0))
	})
})

func TestSplitRoundsTheBurstUp(t *testing.T) {
	for _, c := range []struct {
		total     float64
		burst, n  int
		qps       float64
		wantBurst int
	}{{20, 10, 1, 20, 10}, {20, 10, 3, 20.0 / 3, 4}, {20, 1, 5, 4, 1}, {20, 10, 0, 20, 10}} {
		qps, burst := split(c.total, c.burst, c.n)
		if math.Abs(qps-c.qps) > 1e-9 || burst != c.wantBurst {
			t.Errorf("split(%v, %d, %d) = %v, %d; want %v, %d", c.total, c.burst, c.n, qps, burst, c.qps, c.wantBurst)
		}
	}
}

// The final flush keeps its own budget: a share computed meanwhile does not
// lower it.
func TestSetRateKeepsTheDrainBudget(t *testing.T) {
	w := NewWriter(nil, nil, nil, eventSink{}, 20, 10, 10, logr.Discard())
	w.setRate(10, 5)
	if w.limiter.Limit() != rate.Limit(10) || w.limiter.Burst() != 5 {
		t.Fatalf("share not applied: %v/%d", w.limiter.Limit(), w.limiter.Burst())
	}
	w.startDrain(200, 20)
	w.setRate(5, 3)
	if w.limiter.Limit() != rate.Limit(200) || w.limiter.Burst() != 20 {
		t.Fatalf("the drain budget was lowered to %v/%d", w.limiter.Limit(), w.limiter.Burst())
	}
}
