package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// Hostile input that is well formed and correctly signed but would pin a
// field, grow status or memory, or create objects without limit (issue 13),
// sent to the manager as a process.

func infoChangeBody(groupID, name string, eventTime int64) []byte {
	return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterGroupInfoChanged","GroupId":%q,"Type":"Public","Operator_Account":"administrator","Name":%q,"EventTime":"%d"}`,
		groupID, name, eventTime)
}

func attrsBody(groupID string, attrs map[string]string, eventTime int64) []byte {
	var b strings.Builder
	for k, v := range attrs {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":%q,"value":%q}`, k, v)
	}
	return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterGroupAttrChanged","GroupId":%q,"Type":"Public","Operator_Account":"administrator","OptionType":"modify","GroupAttr":[%s],"EventTime":%d}`,
		groupID, b.String(), eventTime)
}

func forgedMsgBody(groupID string, seq int64) []byte {
	return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":%q,"Type":"Public","From_Account":"forger","Operator_Account":"forger","Random":1,"MsgSeq":%d,"MsgTime":%d,"OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}],"EventTime":"%d"}`,
		groupID, seq, time.Now().Unix(), time.Now().UnixMilli())
}

// waitQuiet waits until m has nothing pending to write.
func waitQuiet(m *managerProc) {
	GinkgoHelper()
	Eventually(func() (float64, error) { return m.metric("chatgroup_webhook_pending_groups", "") }).
		WithTimeout(60 * time.Second).Should(BeZero())
}

var _ = Describe("hostile input within the signature: nothing pinned, nothing grown", Ordered, func() {
	const groupID = "rel-pin-1"
	var ns string
	var m *managerProc
	var owner *timfake.User

	BeforeAll(func() {
		ns = newNamespace()
		owner = fake.User("pinowner", "iOS")
		_, err := owner.CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: groupID, Name: "real name"})
		Expect(err).NotTo(HaveOccurred())
		newChatGroup(ns, groupID, imv1alpha1.ManagementPolicyObserve)
		m = startManager("pin", managerOpts{secret: true})
		fake.SetCallbackURL(m.callbackURL)
		DeferCleanup(func() { fake.SetCallbackURL("") })
		Eventually(func() string { return getCG(ns, groupID).Status.Name }).WithTimeout(30 * time.Second).Should(Equal("real name"))
	})

	It("refuses a forged Name stamped in the future; a later genuine rename wins", func() {
		far := int64(9999999999999)
		hour := time.Now().Add(time.Hour).UnixMilli()
		aheadBefore, _ := m.metric("chatgroup_webhook_callbacks_total", `result="event_time_ahead"`)
		codeFar, err := post(m.callbackURL, timfake.CmdAfterGroupInfoChanged, infoChangeBody(groupID, "forged far", far))
		Expect(err).NotTo(HaveOccurred())
		codeHour, err := post(m.callbackURL, timfake.CmdAfterGroupInfoChanged, infoChangeBody(groupID, "forged hour", hour))
		Expect(err).NotTo(HaveOccurred())
		Expect(codeFar).To(Equal(http.StatusBadRequest))
		Expect(codeHour).To(Equal(http.StatusBadRequest))
		ahead, err := m.metric("chatgroup_webhook_callbacks_total", `result="event_time_ahead"`)
		Expect(err).NotTo(HaveOccurred())
		Expect(ahead - aheadBefore).To(BeEquivalentTo(2))

		By("a genuine rename through IM, delivered as IM's callback")
		distinctMillisecond()
		Expect(owner.SetName(groupID, "genuine rename")).To(Succeed())
		Eventually(func() string { return getCG(ns, groupID).Status.Name }).WithTimeout(30 * time.Second).Should(Equal("genuine rename"))
		waitQuiet(m)
		Expect(getCG(ns, groupID).Status.Name).To(Equal("genuine rename"))
		report("Forged future EventTime | a signed Group.CallbackAfterGroupInfoChanged setting Name with EventTime 9999999999999, another with EventTime now + 1 h; then a genuine rename through the fake IM | %d and %d (counted: chatgroup_webhook_callbacks_total{result=\"event_time_ahead\"} +%.0f); status.name never took a forged value; the genuine rename is in status",
			codeFar, codeHour, ahead-aheadBefore)
	})

	It("brings a forged huge MsgSeq back down with one resync", func() {
		const forged = int64(1) << 40
		code, err := post(m.callbackURL, timfake.CmdAfterSendMsg, forgedMsgBody(groupID, forged))
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK), "a signed MsgSeq up to 2^40 is well formed: only the truth can refute it")
		Eventually(func() int64 { return getCG(ns, groupID).Status.LastMessageSeq }).WithTimeout(30 * time.Second).Should(Equal(forged))

		By("a genuine message does not undo it; a resync (REST read) does")
		seq, err := owner.SendText(groupID, "genuine")
		Expect(err).NotTo(HaveOccurred())
		Expect(fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		waitQuiet(m)
		Expect(getCG(ns, groupID).Status.LastMessageSeq).To(Equal(forged), "a smaller seq from a callback is older, as far as callbacks can tell")
		// A read made within MaxAhead (1 min) of the forged message's time
		// keeps it (it could be a message sent while the read was in
		// flight); the first read after that brings it down. A resync is
		// requested every 5 s until one does.
		forgedAt := time.Now()
		resyncs := 0
		Eventually(func(g Gomega) {
			resyncs++
			requestResync(ns, groupID)
			g.Eventually(func() int64 { return getCG(ns, groupID).Status.LastMessageSeq }).
				WithTimeout(5 * time.Second).Should(BeEquivalentTo(seq))
		}).WithTimeout(150 * time.Second).WithPolling(time.Millisecond).Should(Succeed())
		pinned := time.Since(forgedAt)
		Eventually(func(g Gomega) { matchFake(g, ns, groupID, true, true) }).WithTimeout(30 * time.Second).Should(Succeed())

		By("the next genuine message moves it on")
		seq2, err := owner.SendText(groupID, "after")
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() int64 { return getCG(ns, groupID).Status.LastMessageSeq }).WithTimeout(30 * time.Second).Should(BeEquivalentTo(seq2))
		report("Forged huge MsgSeq | a signed message callback with MsgSeq 2^40 and MsgTime now; a genuine message; a resync requested (annotation) every 5 s; another genuine message | %d; lastMessageSeq = 2^40 until the first read more than a minute (MaxAhead) after the forged message: %.0f s, %d resyncs requested; then %d (the fake's NextMsgSeq - 1), then %d from the next message's callback",
			code, pinned.Seconds(), resyncs, seq, seq2)
	})

	It("refuses attribute callbacks over IM's limits, status unchanged", func() {
		waitQuiet(m)
		before := getCG(ns, groupID)
		now := time.Now().UnixMilli()
		keys17 := map[string]string{}
		for i := range 17 {
			keys17[fmt.Sprintf("k%02d", i)] = "v"
		}
		total := map[string]string{}
		for i := range 5 {
			total[fmt.Sprintf("t%d", i)] = strings.Repeat("x", 3300) // 16,500 bytes in all, each under 4,000
		}
		cases := []struct {
			what string
			body []byte
		}{
			{"17 keys", attrsBody(groupID, keys17, now)},
			{"a 4,001-byte value", attrsBody(groupID, map[string]string{"big": strings.Repeat("x", 4001)}, now)},
			{"a 33-byte key", attrsBody(groupID, map[string]string{strings.Repeat("k", 33): "v"}, now)},
			{"16,500 bytes of values", attrsBody(groupID, total, now)},
		}
		var got []string
		for _, c := range cases {
			code, err := post(m.callbackURL, timfake.CmdAfterGroupAttrChanged, c.body)
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusBadRequest), c.what)
			got = append(got, fmt.Sprintf("%s: %d", c.what, code))
		}
		waitQuiet(m)
		after := getCG(ns, groupID)
		Expect(after.ResourceVersion).To(Equal(before.ResourceVersion))
		Expect(after.Status.Attributes).To(Equal(before.Status.Attributes))
		report("Attributes over IM's limits | signed attribute callbacks with %s | status resourceVersion and attributes unchanged", strings.Join(got, "; "))
	})
})

var _ = Describe("a flood of large unauthenticated bodies", func() {
	It("answers 403 without reading them: memory stays bounded", func() {
		m := startManager("flood-403", managerOpts{})
		const n = 200
		body := bytes.Repeat([]byte("a"), 1<<20)
		wrongApp := strings.Replace(callbackQuery(timfake.CmdAfterSendMsg, time.Now()), strconv.Itoa(sdkAppID), "1400000043", 1)

		heap0, err := m.metric("go_memstats_heap_inuse_bytes", "")
		Expect(err).NotTo(HaveOccurred())
		rss0, err := m.metric("process_resident_memory_bytes", "")
		Expect(err).NotTo(HaveOccurred())

		var peakHeap, peakRSS atomic.Int64
		sampling, stopSampling := context.WithCancel(ctx)
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for sampling.Err() == nil {
				if v, err := m.metric("go_memstats_heap_inuse_bytes", ""); err == nil && int64(v) > peakHeap.Load() {
					peakHeap.Store(int64(v))
				}
				if v, err := m.metric("process_resident_memory_bytes", ""); err == nil && int64(v) > peakRSS.Load() {
					peakRSS.Store(int64(v))
				}
				time.Sleep(20 * time.Millisecond) // sampling period
			}
		}()

		c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}}
		codes := map[int]int{}
		var errs []string
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		t0 := time.Now()
		for range n {
			wg.Go(func() {
				<-start
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.callbackURL+"?"+wrongApp, bytes.NewReader(body))
				if err != nil {
					panic(err)
				}
				resp, err := c.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				codes[resp.StatusCode]++
			})
		}
		close(start)
		wg.Wait()
		elapsed := time.Since(t0)
		stopSampling()
		<-sampled
		heap1, err := m.metric("go_memstats_heap_inuse_bytes", "")
		Expect(err).NotTo(HaveOccurred())

		// The server answers 403 from the query and closes the connection
		// without reading the body: a client still sending its 1 MiB may see
		// the close (broken pipe, reset) before it reads the answer. The
		// server's own count says every request was answered 403.
		for _, e := range errs {
			Expect(e).To(Or(ContainSubstring("broken pipe"), ContainSubstring("connection reset")), "only a close while sending")
		}
		Expect(codes).To(HaveLen(1))
		Expect(codes[http.StatusForbidden] + len(errs)).To(Equal(n))
		forbidden, err := m.metric("chatgroup_webhook_callbacks_total", `result="forbidden"`)
		Expect(err).NotTo(HaveOccurred())
		Expect(forbidden).To(BeEquivalentTo(n), "the server answered each one 403")
		Expect(m.exited()).To(BeFalse())
		// The documented bound is --max-inflight-callbacks x 1 MiB (64 MiB)
		// for authenticated bodies; these are never read at all.
		growth := max(float64(peakHeap.Load()), heap1) - heap0
		Expect(growth).To(BeNumerically("<", 64<<20), "heap grew by %.1f MiB", growth/(1<<20))
		mib := func(v float64) float64 { return v / (1 << 20) }
		report("Unauthenticated flood | %d concurrent requests with another app's SdkAppid, 1 MiB body each (200 MiB offered), answered in %v | server: %.0f answered 403 (chatgroup_webhook_callbacks_total{result=\"forbidden\"}); client: %v, %d saw the connection closed while still sending the body; go_memstats_heap_inuse_bytes %.1f MiB before, peak %.1f MiB (sampled every 20 ms), %.1f MiB after; process_resident_memory_bytes %.1f MiB before, peak %.1f MiB",
			n, elapsed.Round(time.Millisecond), forbidden, codes, len(errs), mib(heap0), mib(float64(peakHeap.Load())), mib(heap1), mib(rss0), mib(float64(peakRSS.Load())))
	})
})

var _ = Describe("the callback token", func() {
	It("is required: the manager refuses to start without it unless --insecure-skip-callback-auth", func() {
		base := []string{
			"--kubeconfig=" + adminKube,
			"--sdkappid=" + strconv.Itoa(sdkAppID),
			"--webhook-bind-address=" + freeLoopbackAddr(),
			"--metrics-bind-address=" + freeLoopbackAddr(),
			"--metrics-secure=false",
			"--health-probe-bind-address=" + freeLoopbackAddr(),
			"--im-endpoint=" + fakeServer.URL,
		}
		runRefused := func(args ...string) (int, string) {
			GinkgoHelper()
			runCtx, stop := context.WithTimeout(ctx, 30*time.Second)
			defer stop()
			out, err := exec.CommandContext(runCtx, managerBin, append(append([]string(nil), base...), args...)...).CombinedOutput()
			var ee *exec.ExitError
			Expect(errors.As(err, &ee)).To(BeTrue(), "the manager must exit with an error: %v %s", err, out)
			return ee.ExitCode(), strings.TrimSpace(string(out))
		}
		noTokenCode, noTokenMsg := runRefused()
		Expect(noTokenCode).To(Equal(1))
		Expect(noTokenMsg).To(ContainSubstring("--callback-token-file is required"))
		discCode, discMsg := runRefused("--insecure-skip-callback-auth", "--discovery-namespace=default")
		Expect(discCode).To(Equal(1))
		Expect(discMsg).To(ContainSubstring("discovery needs a callback token"))

		By("with the explicit opt-out it starts, says so, and accepts an unsigned callback")
		ns := newNamespace()
		newChatGroup(ns, "rel-insecure-1", imv1alpha1.ManagementPolicyObserve)
		// The empty value overrides the suite's --callback-token-file.
		m := startManager("insecure", managerOpts{extra: []string{"--callback-token-file=", "--insecure-skip-callback-auth"}})
		Expect(m.tail()).To(ContainSubstring("WARNING: callback authentication is off"))
		unsigned := fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&contenttype=json", sdkAppID, timfake.CmdAfterSendMsg)
		resp, err := postClient.Post(m.callbackURL+"?"+unsigned, "application/json", bytes.NewReader(msgBody("rel-insecure-1", 7, "anyone"))) //nolint:noctx // loopback
		Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Eventually(func() int64 { return getCG(ns, "rel-insecure-1").Status.LastMessageSeq }).WithTimeout(30 * time.Second).Should(BeEquivalentTo(7))
		report("No callback token | the manager started with --sdkappid and no --callback-token-file; then with --insecure-skip-callback-auth and --discovery-namespace; then with --insecure-skip-callback-auth alone | exit code %d, %q; exit code %d, %q; the last one starts, logs \"WARNING: callback authentication is off ...\" and accepts an unsigned callback (200, applied)",
			noTokenCode, lastLine(noTokenMsg), discCode, lastLine(discMsg))
	})
})

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

var _ = Describe("discovery", func() {
	It("creates at most --discovery-max-groups ChatGroups however many groups call", func() {
		const maxGroups, extra = 10, 50
		ns := newNamespace()
		m := startManager("discovery-cap", managerOpts{extra: []string{
			"--discovery-namespace=" + ns,
			"--discovery-max-groups=" + strconv.Itoa(maxGroups),
			"--discovery-per-minute=100000", // the total cap, not the rate, is under test
		}})
		ids := make(chan string)
		codes := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for id := range ids {
					code, err := post(m.callbackURL, timfake.CmdAfterSendMsg, msgBody(id, 1, "stranger"))
					mu.Lock()
					if err != nil {
						codes[0]++
					} else {
						codes[code]++
					}
					mu.Unlock()
				}
			})
		}
		for i := range maxGroups + extra {
			ids <- fmt.Sprintf("@TGS#made-up-%03d", i)
		}
		close(ids)
		wg.Wait()
		Expect(codes).To(Equal(map[int]int{http.StatusOK: maxGroups + extra}))
		waitQuiet(m)
		count := func() int {
			list := &imv1alpha1.ChatGroupList{}
			Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			return len(list.Items)
		}
		Eventually(count).WithTimeout(30 * time.Second).Should(Equal(maxGroups))
		refused, err := m.metric("chatgroup_webhook_discovery_refused_total", `reason="max_groups"`)
		Expect(err).NotTo(HaveOccurred())
		Expect(refused).To(BeNumerically(">=", extra))

		By("a callback for a discovered group is still applied; a new group is still refused")
		list := &imv1alpha1.ChatGroupList{}
		Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
		known := list.Items[0].Spec.GroupID
		code, err := post(m.callbackURL, timfake.CmdAfterSendMsg, msgBody(known, 2, "stranger"))
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK))
		Eventually(func(g Gomega) {
			cg := &imv1alpha1.ChatGroup{}
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: list.Items[0].Name}, cg)).To(Succeed())
			g.Expect(cg.Status.LastMessageSeq).To(BeEquivalentTo(2))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		code, err = post(m.callbackURL, timfake.CmdAfterSendMsg, msgBody("@TGS#made-up-late", 1, "stranger"))
		Expect(err).NotTo(HaveOccurred())
		Expect(code).To(Equal(http.StatusOK))
		waitQuiet(m)
		Expect(count()).To(Equal(maxGroups))
		refused2, err := m.metric("chatgroup_webhook_discovery_refused_total", `reason="max_groups"`)
		Expect(err).NotTo(HaveOccurred())
		Expect(refused2).To(Equal(refused + 1))
		report("Discovery cap | --discovery-namespace, --discovery-max-groups=%d; %d signed message callbacks for made-up group IDs, 8 at a time; then one for a discovered group and one for another new group | answers %v; exactly %d ChatGroups created; chatgroup_webhook_discovery_refused_total{reason=\"max_groups\"} = %.0f, then %.0f; the discovered group's callback applied",
			maxGroups, maxGroups+extra, codes, maxGroups, refused, refused2)
	})
})
