package reliability

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// The group ID the corpus bodies carry.
const canaryGroupID = "@TGS#2J4SZEAEL"

type sample struct {
	cmd  string
	body []byte
}

// corpus is the fuzz corpus of the callback decoder: the callback goldens
// (internal/timfake/testdata, the one set), the extra seeds of
// FuzzDecodeMerge, and any saved inputs under webhookserver/testdata/fuzz.
func corpus() []sample {
	GinkgoHelper()
	root := filepath.Join(testenv.RepoRoot(), "webhookserver", "testdata")
	var out []sample
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "internal", "timfake", "testdata", "callbacks", "*.json"))
	Expect(err).NotTo(HaveOccurred())
	Expect(files).NotTo(BeEmpty())
	for _, f := range files {
		b, err := os.ReadFile(f)
		Expect(err).NotTo(HaveOccurred())
		out = append(out, sample{strings.TrimSuffix(filepath.Base(f), ".json"), b})
	}
	out = append(out,
		sample{timfake.CmdAfterSendMsg, []byte(`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#2J4SZEAEL","MsgSeq":-1}`)},
		sample{timfake.CmdAfterGroupAttrChanged, []byte(`{"CallbackCommand":"Group.CallbackAfterGroupAttrChanged","GroupId":"@TGS#2J4SZEAEL","OptionType":"delete","GroupAttr":[{"key":"x"}],"EventTime":1}`)},
		sample{"Group.CallbackBeforeSendMsg", []byte(`{"CallbackCommand":"Group.CallbackBeforeSendMsg"}`)},
		sample{timfake.CmdAfterSendMsg, []byte(`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#2J4SZEAEL","MsgSeq":1,"EventTime":"x"}`)},
	)
	// Inputs saved by `go test -fuzz` (go test fuzz v1: one Go literal a line).
	_ = filepath.Walk(filepath.Join(root, "fuzz"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil //nolint:nilerr // a missing or unreadable corpus entry is skipped, not fatal
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil //nolint:nilerr // likewise
		}
		var vals []string
		for _, line := range strings.Split(string(b), "\n") {
			for _, pre := range []string{"string(", "[]byte("} {
				if strings.HasPrefix(line, pre) && strings.HasSuffix(line, ")") {
					if v, err := strconv.Unquote(line[len(pre) : len(line)-1]); err == nil {
						vals = append(vals, v)
					}
				}
			}
		}
		if len(vals) == 2 {
			out = append(out, sample{vals[0], []byte(vals[1])})
		}
		return nil
	})
	return out
}

var hugeValues = []string{
	`1e400`, `-1e400`, `18446744073709551616`, `99999999999999999999999999999999`, `-9223372036854775809`,
	`9223372036854775807`, `-1`, `0`, `0.5`, `1E+308`, `"99999999999999999999999"`, `"-1"`, `"1e999"`,
}
var swapValues = []string{`"s"`, `""`, `123`, `true`, `false`, `null`, `[]`, `{}`, `[1,"a",null]`, `{"a":{"b":[]}}`, `"\u0000"`, `"\ud800"`}

// mutate returns a hostile variant of body.
func mutate(r *rand.Rand, body []byte) []byte {
	b := append([]byte(nil), body...)
	switch r.IntN(7) {
	case 0: // bit flips
		for range 1 + r.IntN(4) {
			if len(b) > 0 {
				b[r.IntN(len(b))] ^= 1 << r.IntN(8)
			}
		}
		return b
	case 1: // truncation
		return b[:r.IntN(len(b)+1)]
	case 2, 3: // type swap or huge number on a top-level field
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) != nil || len(m) == 0 {
			return b[:len(b)/2]
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		k := keys[r.IntN(len(keys))]
		if r.IntN(2) == 0 {
			m[k] = json.RawMessage(hugeValues[r.IntN(len(hugeValues))])
		} else {
			m[k] = json.RawMessage(swapValues[r.IntN(len(swapValues))])
		}
		out, err := json.Marshal(m)
		if err != nil {
			return b
		}
		return out
	case 4: // deep nesting in a field, or as the whole body
		depth := []int{64, 1000, 10001, 100000}[r.IntN(4)]
		nest := strings.Repeat("[", depth) + strings.Repeat("]", depth)
		if r.IntN(2) == 0 {
			nest = strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
		}
		if i := bytes.IndexByte(b, ':'); i > 0 && r.IntN(3) > 0 {
			j := bytes.IndexAny(b[i:], ",}")
			if j > 0 {
				return append(append(append([]byte(nil), b[:i+1]...), nest...), b[i+j:]...)
			}
		}
		return []byte(nest)
	case 5: // duplicated keys and odd structure
		return append(append([]byte(`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"x",`), bytes.TrimPrefix(bytes.TrimSpace(b), []byte("{"))...), []byte("]]")...)
	default: // random bytes
		n := r.IntN(512)
		out := make([]byte, n)
		for i := range out {
			out[i] = byte(r.IntN(256))
		}
		return out
	}
}

type hostileReq struct {
	cmd  string
	body []byte
}

// send posts a hostile request with a valid, fresh Sign: only the body (or
// the command) is hostile.
func (h hostileReq) send(url string) (int, error) {
	return post(url, h.cmd, h.body)
}

var _ = Describe("hostile input", Ordered, func() {
	var ns string
	var m *managerProc

	BeforeAll(func() {
		ns = newNamespace()
		newChatGroup(ns, canaryGroupID, imv1alpha1.ManagementPolicyObserve)
		m = startManager("hostile", managerOpts{})
	})

	// quiet waits until the receiver has nothing pending and returns the
	// canary's resourceVersion.
	quiet := func() string {
		GinkgoHelper()
		Eventually(func() (float64, error) { return m.metric("chatgroup_webhook_pending_groups", "") }).
			WithTimeout(60 * time.Second).Should(BeZero())
		return getCG(ns, canaryGroupID).ResourceVersion
	}

	It("the fuzz corpus and 10,000 mutated bodies: no crash, right codes, no state change from a rejected request", func() {
		r := rand.New(rand.NewPCG(8, 8))
		base := corpus()
		var reqs []hostileReq
		for _, s := range base {
			reqs = append(reqs, hostileReq(s))
		}
		cmds := []string{timfake.CmdAfterSendMsg, timfake.CmdAfterGroupAttrChanged, "Group.CallbackAfterUnknown", "", "Group.CallbackBeforeCreateGroup"}
		for range 10000 {
			s := base[r.IntN(len(base))]
			cmd := s.cmd
			if r.IntN(10) == 0 {
				cmd = cmds[r.IntN(len(cmds))]
			}
			reqs = append(reqs, hostileReq{cmd, mutate(r, s.body)})
		}

		By(fmt.Sprintf("posting %d requests over HTTP, 4 at a time", len(reqs)))
		codes := map[int]int{}
		var rejected []hostileReq
		var mu sync.Mutex
		var noAnswer int
		work := make(chan hostileReq)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for h := range work {
					code, err := h.send(m.callbackURL)
					mu.Lock()
					if err != nil {
						noAnswer++
					} else {
						codes[code]++
						if code >= 400 && code < 500 {
							rejected = append(rejected, h)
						}
					}
					mu.Unlock()
				}
			})
		}
		for _, h := range reqs {
			work <- h
		}
		close(work)
		wg.Wait()
		Expect(noAnswer).To(BeZero(), "every request answered")
		for code := range codes {
			Expect(code).To(Or(BeNumerically("<", 500), Equal(http.StatusServiceUnavailable)), "codes: %v", codes)
		}
		Expect(m.exited()).To(BeFalse(), "the manager must survive: %s", m.tail())
		Expect(httpStatus(m.healthURL)).To(Equal(http.StatusOK))
		Expect(rejected).NotTo(BeEmpty())

		By(fmt.Sprintf("replaying the %d rejected requests: each refused again, the canary's resourceVersion unchanged", len(rejected)))
		rv := quiet()
		replayCodes := map[int]int{}
		for _, h := range rejected {
			code, err := h.send(m.callbackURL)
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(BeNumerically(">=", 400))
			Expect(code).To(BeNumerically("<", 500))
			replayCodes[code]++
		}
		Expect(quiet()).To(Equal(rv), "a rejected request must not change state")
		log, err := os.ReadFile(m.logPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).NotTo(ContainSubstring("panic"), "no panic, recovered or not")
		report("Hostile bodies | the decoder's fuzz corpus (%d inputs) and 10,000 mutations (bit flips, truncations, type swaps, huge numbers, nesting up to 100,000 deep, duplicate keys, random bytes, wrong commands) posted with a valid Sign | answers %v, no 5xx, no unanswered request, no panic in the log, process alive and ready; the %d rejected (4xx) requests replayed: all refused again (%v) and the canary ChatGroup's resourceVersion unchanged",
			len(base), codes, len(rejected), replayCodes)
	})

	It("slow clients that trickle bytes do not exhaust the server", func() {
		const conns, bodyConns = 200, 20
		rv := quiet()
		type result struct {
			closedAfter time.Duration
			err         error
		}
		results := make(chan result, conns+bodyConns)
		start := time.Now()
		for i := range conns + bodyConns {
			go func() {
				c, err := net.DialTimeout("tcp", m.callbackAddr, 5*time.Second)
				if err != nil {
					results <- result{err: err}
					return
				}
				defer c.Close()
				closed := make(chan struct{})
				go func() {
					_, _ = io.Copy(io.Discard, c) // returns when the server closes
					close(closed)
				}()
				head := "POST /callback?" + callbackQuery(timfake.CmdAfterSendMsg, time.Now()) + " HTTP/1.1\r\nHost: x\r\n"
				var trickle string
				if i < conns { // headers that never end
					trickle = "X-Slow: " + strings.Repeat("a", 60)
				} else { // complete headers, a body that never ends
					head += "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
					trickle = strings.Repeat(" ", 60)
				}
				if _, err := c.Write([]byte(head)); err != nil {
					results <- result{closedAfter: time.Since(start)}
					return
				}
				t := time.NewTicker(time.Second)
				defer t.Stop()
				for j := range len(trickle) { // at most 60 s
					select {
					case <-closed:
						results <- result{closedAfter: time.Since(start)}
						return
					case <-t.C:
					}
					if _, err := c.Write([]byte{trickle[j]}); err != nil {
						<-closed
						results <- result{closedAfter: time.Since(start)}
						return
					}
				}
				results <- result{err: fmt.Errorf("connection %d still open after 60 s of trickling", i)}
			}()
		}
		By("a normal callback succeeds while 220 slow connections are open")
		time.Sleep(2 * time.Second) // let the slow connections get established
		quick := &http.Client{Timeout: 5 * time.Second}
		body := msgBody(canaryGroupID, 1_000_000, "normal")
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.callbackURL+"?"+callbackQuery(timfake.CmdAfterSendMsg, time.Now()), bytes.NewReader(body))
		t0 := time.Now()
		resp, err := quick.Do(req)
		Expect(err).NotTo(HaveOccurred())
		_ = resp.Body.Close()
		normal := time.Since(t0)
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		Eventually(func() int64 { return getCG(ns, canaryGroupID).Status.LastMessageSeq }).WithTimeout(30 * time.Second).Should(BeEquivalentTo(1_000_000))
		Expect(getCG(ns, canaryGroupID).ResourceVersion).NotTo(Equal(rv))

		By("the server closes every slow connection by its timeouts")
		var longest time.Duration
		for range conns + bodyConns {
			var res result
			Eventually(results).WithTimeout(90 * time.Second).Should(Receive(&res))
			Expect(res.err).NotTo(HaveOccurred())
			longest = max(longest, res.closedAfter)
		}
		Expect(m.exited()).To(BeFalse())
		report("Slowloris | 200 connections trickling a header byte a second, 20 trickling a body byte a second | a normal callback answered 200 in %v while they were open, and applied; every slow connection closed by the server (the last after %.0fs: ReadHeaderTimeout 5s, ReadTimeout 10s)",
			normal.Round(time.Millisecond), longest.Seconds())
	})

	It("refuses oversized bodies (413), forged Signs (401) and replayed Signs with a stale RequestTime (401), changing nothing", func() {
		rv := quiet()
		good := msgBody(canaryGroupID, 2_000_000, "attacker")
		send := func(query string, body []byte) int {
			GinkgoHelper()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.callbackURL+"?"+query, bytes.NewReader(body))
			Expect(err).NotTo(HaveOccurred())
			resp, err := postClient.Do(req)
			Expect(err).NotTo(HaveOccurred())
			var env struct{ ActionStatus string }
			Expect(json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&env)).To(Succeed(), "the documented envelope")
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				Expect(env.ActionStatus).To(Equal("FAIL"))
			}
			return resp.StatusCode
		}
		now := time.Now()
		q := func(sign, rt string) string {
			return fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&Sign=%s&RequestTime=%s", sdkAppID, timfake.CmdAfterSendMsg, sign, rt)
		}
		rt := strconv.FormatInt(now.Unix(), 10)
		stale := strconv.FormatInt(now.Add(-10*time.Minute).Unix(), 10)
		future := strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10)
		huge := append(append([]byte(`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#2J4SZEAEL","MsgSeq":3000000,"X":"`),
			bytes.Repeat([]byte("a"), 1<<20)...), []byte(`"}`)...)
		cases := []struct {
			what  string
			query string
			body  []byte
			want  int
		}{
			{"oversized body (1 MiB + ~100 bytes)", callbackQuery(timfake.CmdAfterSendMsg, now), huge, http.StatusRequestEntityTooLarge},
			{"forged Sign (another token)", q(callbacksign.Sign("not-the-token", rt), rt), good, http.StatusUnauthorized},
			{"Sign of another RequestTime", q(callbacksign.Sign(callbackToken, stale), rt), good, http.StatusUnauthorized},
			{"replayed Sign, stale RequestTime (10 min old)", q(callbacksign.Sign(callbackToken, stale), stale), good, http.StatusUnauthorized},
			{"Sign for a RequestTime 10 min ahead", q(callbacksign.Sign(callbackToken, future), future), good, http.StatusUnauthorized},
			{"no Sign", fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&RequestTime=%s", sdkAppID, timfake.CmdAfterSendMsg, rt), good, http.StatusUnauthorized},
			{"another app's SdkAppid", strings.Replace(callbackQuery(timfake.CmdAfterSendMsg, now), strconv.Itoa(sdkAppID), "1400000043", 1), good, http.StatusForbidden},
		}
		var got []string
		for _, c := range cases {
			code := send(c.query, c.body)
			Expect(code).To(Equal(c.want), c.what)
			got = append(got, fmt.Sprintf("%s: %d", c.what, code))
		}
		Expect(quiet()).To(Equal(rv), "refused requests change nothing")
		Expect(getCG(ns, canaryGroupID).Status.LastMessageSeq).To(BeNumerically("<", 2_000_000))
		report("Oversized, forged, replayed | %s | all refused with the documented envelope; canary resourceVersion unchanged", strings.Join(got, "; "))
	})
})
