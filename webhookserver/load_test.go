package webhookserver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// call is one callback to post to one receiver.
type call struct {
	to   *receiver
	cmd  string
	body map[string]any
}

// postAll posts calls with a few concurrent senders, each expecting OK.
func postAll(calls []call, senders int) {
	GinkgoHelper()
	ch := make(chan call)
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for range senders {
		wg.Go(func() {
			defer GinkgoRecover()
			for c := range ch {
				code, env := c.to.post(http.MethodPost, query(c.cmd), mustJSON(c.cmd, c.body))
				if code != http.StatusOK {
					errs <- fmt.Errorf("%s answered %d %+v", c.cmd, code, env)
					for range ch { //nolint:revive // drain
					}
					return
				}
			}
		})
	}
	for _, c := range calls {
		ch <- c
	}
	close(ch)
	wg.Wait()
	close(errs)
	for err := range errs {
		Expect(err).NotTo(HaveOccurred())
	}
}

// monotonic watches a namespace and records any status update in which
// lastMessageSeq or eventTimes.attributes went backwards.
func monotonic(ns string) (stop func() []string) {
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(context.Background(), &imv1alpha1.ChatGroupList{}, client.InNamespace(ns))
	Expect(err).NotTo(HaveOccurred())
	var mu sync.Mutex
	var violations []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		seen := map[string]imv1alpha1.ChatGroupStatus{}
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			cg := ev.Object.(*imv1alpha1.ChatGroup)
			prev := seen[cg.Name]
			if cg.Status.LastMessageSeq < prev.LastMessageSeq || cg.Status.EventTimes.Attributes < prev.EventTimes.Attributes {
				mu.Lock()
				violations = append(violations, fmt.Sprintf("%s: seq %d -> %d, attributes time %d -> %d", cg.Name,
					prev.LastMessageSeq, cg.Status.LastMessageSeq, prev.EventTimes.Attributes, cg.Status.EventTimes.Attributes))
				mu.Unlock()
			}
			seen[cg.Name] = cg.Status
		}
	}()
	return func() []string {
		w.Stop()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return violations
	}
}

var _ = Describe("two receivers on one API server", func() {
	It("take an interleaved stream of 10,000 callbacks for the same groups and lose or regress nothing", func() {
		r1 := startReceiver(Options{Token: testToken, WriteQPS: 100, WriteBurst: 10})
		defer r1.stop()
		r2 := startReceiver(Options{Token: testToken, WriteQPS: 100, WriteBurst: 10})
		defer r2.stop()
		ns := newNamespace()
		const groups, msgsPerGroup, attrOpsPerGroup = 4, 2400, 99
		ids := make([]string, groups)
		keys := make([]types.NamespacedName, groups)
		for g := range groups {
			ids[g] = fmt.Sprintf("@TGS#TWO%d", g)
			keys[g] = newChatGroup(ns, fmt.Sprintf("two-%d", g), ids[g])
		}
		for _, id := range ids {
			waitCached(id, 1, r1, r2)
		}
		stop := monotonic(ns)

		rng := rand.New(rand.NewPCG(1, 2))
		pick := func() *receiver {
			if rng.IntN(2) == 0 {
				return r1
			}
			return r2
		}
		// Messages in random order; attribute operations in EventTime
		// order per group, spread through the stream.
		var msgs, attrs []call
		for g, id := range ids {
			for seq := int64(1); seq <= msgsPerGroup; seq++ {
				msgs = append(msgs, call{pick(), CmdAfterSendMsg, map[string]any{"GroupId": id, "MsgSeq": seq,
					"MsgTime": 1_700_000_000 + seq, "From_Account": fmt.Sprintf("g%d-u%d", g, seq)}})
			}
			for i := int64(1); i <= attrOpsPerGroup; i++ {
				op := map[string]any{"GroupId": id, "EventTime": fmt.Sprint(1_000_000 + i), "OptionType": AttrModify,
					"GroupAttr": []GroupAttr{{Key: fmt.Sprintf("k%d", i%5), Value: fmt.Sprint(i)}}}
				if i%10 == 0 {
					op["OptionType"] = AttrSet
					op["GroupAttr"] = []GroupAttr{{Key: "set", Value: fmt.Sprint(i)}}
				}
				attrs = append(attrs, call{pick(), CmdAfterGroupAttrChanged, op})
			}
		}
		rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
		stream := make([]call, 0, len(msgs)+len(attrs))
		step := len(msgs) / len(attrs)
		for i, a := range attrs {
			stream = append(stream, msgs[i*step:(i+1)*step]...)
			stream = append(stream, a)
		}
		stream = append(stream, msgs[len(attrs)*step:]...)
		// The last operation of each group, sent once the stream is in:
		// whatever was dropped as stale before, this one must land.
		var final []call
		for _, id := range ids {
			final = append(final, call{pick(), CmdAfterGroupAttrChanged, map[string]any{"GroupId": id,
				"EventTime": fmt.Sprint(2_000_000), "OptionType": AttrSet,
				"GroupAttr": []GroupAttr{{Key: "final", Value: id}, {Key: "n", Value: "100"}}}})
		}
		Expect(len(stream) + len(final)).To(Equal(10_000))

		postAll(stream, 8)
		postAll(final, 2)
		settle(r1, r2)

		for g, key := range keys {
			st := getStatus(key)
			Expect(st.LastMessageSeq).To(BeEquivalentTo(msgsPerGroup), key.Name)
			Expect(st.LastMessageFrom).To(Equal(fmt.Sprintf("g%d-u%d", g, msgsPerGroup)))
			Expect(st.LastMessageTime.Unix()).To(BeEquivalentTo(1_700_000_000 + msgsPerGroup))
			Expect(st.Attributes).To(Equal(map[string]string{"final": ids[g], "n": "100"}))
			Expect(st.EventTimes.Attributes).To(BeEquivalentTo(2_000_000))
		}
		Expect(stop()).To(BeEmpty(), "status went backwards")
		s1, s2 := r1.srv.Writer().Stats(), r2.srv.Writer().Stats()
		GinkgoWriter.Printf("writes r1=%+v r2=%+v updates r1=%d r2=%d\n", s1, s2, r1.updates.Load(), r2.updates.Load())
		Expect(r1.updates.Load()+r2.updates.Load()).To(BeNumerically("<", 5_000), "callbacks were coalesced")
	})
})

var _ = Describe("coalescing", func() {
	It("writes a hot group at most at the flush rate", func() {
		const qps, burst = 20, 5
		r := startReceiver(Options{Token: testToken, WriteQPS: qps, WriteBurst: burst})
		defer r.stop()
		const groupID = "@TGS#HOT"
		key := newChatGroup(newNamespace(), "hot", groupID)
		waitCached(groupID, 1, r)

		calls := make([]call, 0, 10_000)
		for seq := int64(1); seq <= 10_000; seq++ {
			calls = append(calls, call{r, CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": seq, "From_Account": "hot"}})
		}
		// In seq order (give or take the senders' interleaving): nearly
		// every callback raises lastMessageSeq, so without coalescing and
		// the rate limit nearly every one would cost a write.
		start := time.Now()
		postAll(calls, 8)
		settle(r)
		elapsed := time.Since(start)

		Expect(getStatus(key).LastMessageSeq).To(BeEquivalentTo(10_000))
		writes := r.updates.Load()
		bound := burst + int64(qps*elapsed.Seconds()) + 1
		GinkgoWriter.Printf("10000 callbacks in %v: %d status writes (bound %d), stats %+v\n", elapsed, writes, bound, r.srv.Writer().Stats())
		Expect(writes).To(BeNumerically(">=", 1))
		Expect(writes).To(BeNumerically("<=", bound))
		// Every callback either started a pending update, which a flush
		// then wrote or found already applied, or was coalesced into one.
		st := r.srv.Writer().Stats()
		Expect(st.Coalesced + st.Writes + st.Unchanged).To(BeNumerically(">=", 10_000))
	})
})

var _ = Describe("backpressure and outages", func() {
	It("answers 503 past --max-pending-groups and loses nothing it accepted", func() {
		r := startReceiver(Options{Token: testToken, MaxPendingGroups: 2})
		defer r.stop()
		ns := newNamespace()
		ids := []string{"@TGS#BP1", "@TGS#BP2", "@TGS#BP3"}
		var keys []types.NamespacedName
		for i, id := range ids {
			keys = append(keys, newChatGroup(ns, fmt.Sprintf("bp%d", i+1), id))
			waitCached(id, 1, r)
		}
		rv3 := resourceVersion(keys[2])()
		r.gate.set("block")

		r.send(CmdAfterSendMsg, map[string]any{"GroupId": ids[0], "MsgSeq": 1, "From_Account": "a"})
		r.send(CmdAfterSendMsg, map[string]any{"GroupId": ids[1], "MsgSeq": 1, "From_Account": "b"})
		code, env := r.post(http.MethodPost, query(CmdAfterSendMsg), mustJSON(CmdAfterSendMsg,
			map[string]any{"GroupId": ids[2], "MsgSeq": 1}))
		Expect(code).To(Equal(http.StatusServiceUnavailable))
		Expect(env.ActionStatus).To(Equal("FAIL"))
		// A group already pending still takes callbacks: they cost no memory.
		r.send(CmdAfterSendMsg, map[string]any{"GroupId": ids[0], "MsgSeq": 2, "From_Account": "a2"})
		r.send(CmdAfterGroupInfoChanged, map[string]any{"GroupId": ids[1], "Name": "B", "EventTime": 5})
		Expect(r.srv.Writer().Pending()).To(Equal(2))

		r.gate.set("")
		settle(r)
		Expect(getStatus(keys[0]).LastMessageSeq).To(BeEquivalentTo(2))
		Expect(getStatus(keys[0]).LastMessageFrom).To(Equal("a2"))
		Expect(getStatus(keys[1]).LastMessageSeq).To(BeEquivalentTo(1))
		Expect(getStatus(keys[1]).Name).To(Equal("B"))
		Expect(resourceVersion(keys[2])()).To(Equal(rv3), "the refused callback must not be recorded")
		r.send(CmdAfterSendMsg, map[string]any{"GroupId": ids[2], "MsgSeq": 1})
		Eventually(func() int64 { return getStatus(keys[2]).LastMessageSeq }, 10*time.Second).Should(BeEquivalentTo(1))
	})

	It("keeps pending work through an API server outage and writes it after", func() {
		r := startReceiver(Options{Token: testToken})
		defer r.stop()
		const groupID = "@TGS#OUTAGE"
		key := newChatGroup(newNamespace(), "outage", groupID)
		waitCached(groupID, 1, r)
		r.gate.set("fail")
		for seq := int64(1); seq <= 3; seq++ {
			r.send(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": seq, "From_Account": fmt.Sprint(seq)})
		}
		Eventually(func() int64 { return r.srv.Writer().Stats().Errors }, 10*time.Second).Should(BeNumerically(">=", 2))
		r.send(CmdAfterGroupInfoChanged, map[string]any{"GroupId": groupID, "Introduction": "during outage", "EventTime": 9})
		Expect(getStatus(key).LastMessageSeq).To(BeZero())
		Expect(r.srv.Writer().Pending()).To(Equal(1))
		r.gate.set("")
		Eventually(func(g Gomega) {
			st := getStatus(key)
			g.Expect(st.LastMessageSeq).To(BeEquivalentTo(3))
			g.Expect(st.LastMessageFrom).To(Equal("3"))
			g.Expect(st.Introduction).To(Equal("during outage"))
		}, 60*time.Second, 50*time.Millisecond).Should(Succeed())
	})

	It("flushes pending updates on shutdown", func() {
		// One write every 4 s: the second callback is still pending when
		// the manager is told to stop.
		r := startReceiver(Options{Token: testToken, WriteQPS: 0.25, WriteBurst: 1})
		const groupID = "@TGS#SHUTDOWN"
		key := newChatGroup(newNamespace(), "shutdown", groupID)
		waitCached(groupID, 1, r)
		r.send(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": 1, "From_Account": "first"})
		Eventually(func() int64 { return getStatus(key).LastMessageSeq }, 10*time.Second).Should(BeEquivalentTo(1))
		r.send(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": 2, "From_Account": "second"})
		Expect(r.srv.Writer().Pending()).To(Equal(1))
		addr := r.srv.Addr()
		r.stop() // returns once the manager (and the receiver's flush) is done
		Expect(r.srv.ReadyCheck(nil)).NotTo(Succeed(), "not ready once stopped")
		st := getStatus(key)
		Expect(st.LastMessageSeq).To(BeEquivalentTo(2))
		Expect(st.LastMessageFrom).To(Equal("second"))
		_, err := http.Post("http://"+addr+"/callback", "application/json", nil)
		Expect(err).To(HaveOccurred(), "the receiver must stop listening")
	})
})

// The final flush is not held to the steady-state cap: at 0.1 writes/s
// only one of 30 pending groups would be written in the grace period.
var _ = Describe("shutdown drain", func() {
	It("writes every pending group within the grace period, on a budget of its own", func() {
		r := startReceiver(Options{Token: testToken, WriteQPS: 0.1, WriteBurst: 1, ShutdownTimeout: 10 * time.Second})
		ns := newNamespace()
		const n = 30
		keys := make([]types.NamespacedName, n)
		for i := range n {
			id := fmt.Sprintf("@TGS#DRAIN%02d", i)
			keys[i] = newChatGroup(ns, fmt.Sprintf("drain-%02d", i), id)
			waitCached(id, 1, r)
		}
		for i := range n {
			r.send(CmdAfterSendMsg, map[string]any{"GroupId": fmt.Sprintf("@TGS#DRAIN%02d", i), "MsgSeq": 7, "From_Account": "x"})
		}
		Expect(r.srv.Writer().Pending()).To(BeNumerically(">=", n-1), "the cap holds the updates back")
		r.stop()
		for _, k := range keys {
			Expect(getStatus(k).LastMessageSeq).To(BeEquivalentTo(7), "%s not flushed", k)
		}
	})
})

var _ = Describe("discovery", func() {
	It("creates an Observe ChatGroup with the deterministic name, once, across racing replicas", func() {
		ns := newNamespace()
		r1 := startReceiver(Options{Token: testToken, DiscoveryNamespace: ns})
		defer r1.stop()
		r2 := startReceiver(Options{Token: testToken, DiscoveryNamespace: ns})
		defer r2.stop()
		const groupID = "@TGS#2J4DISCOV"
		var wg sync.WaitGroup
		wg.Go(func() {
			defer GinkgoRecover()
			r1.send(CmdAfterCreateGroup, map[string]any{"GroupId": groupID, "Type": "Public", "Name": "Found", "Owner_Account": "o"})
		})
		wg.Go(func() {
			defer GinkgoRecover()
			r2.send(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": 7, "From_Account": "m"})
		})
		wg.Wait()
		name := DiscoveryName(groupID)
		Expect(name).To(MatchRegexp(`^tgs-2j4discov-[0-9a-f]{8}$`))
		key := types.NamespacedName{Namespace: ns, Name: name}
		Eventually(func(g Gomega) {
			cg := &imv1alpha1.ChatGroup{}
			g.Expect(k8sClient.Get(context.Background(), key, cg)).To(Succeed())
			g.Expect(cg.Spec.GroupID).To(Equal(groupID))
			g.Expect(cg.Spec.ManagementPolicy).To(Equal(imv1alpha1.ManagementPolicyObserve))
			g.Expect(cg.Status.Name).To(Equal("Found"))
			g.Expect(cg.Status.LastMessageSeq).To(BeEquivalentTo(7))
		}, 20*time.Second, 50*time.Millisecond).Should(Succeed())
		var l imv1alpha1.ChatGroupList
		Expect(k8sClient.List(context.Background(), &l, client.InNamespace(ns))).To(Succeed())
		Expect(l.Items).To(HaveLen(1))
	})

	It("without a discovery namespace, answers OK for an unclaimed group and creates nothing", func() {
		const groupID = "@TGS#UNCLAIMED"
		shared.send(CmdAfterCreateGroup, map[string]any{"GroupId": groupID, "Type": "Public", "Name": "Nobody's"})
		Consistently(func(g Gomega) {
			var l imv1alpha1.ChatGroupList
			g.Expect(k8sClient.List(context.Background(), &l)).To(Succeed())
			for _, cg := range l.Items {
				g.Expect(cg.Spec.GroupID).NotTo(Equal(groupID))
				g.Expect(cg.Name).NotTo(Equal(DiscoveryName(groupID)))
			}
		}, time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(shared.srv.Writer().Pending()).To(BeZero())
	})
})
