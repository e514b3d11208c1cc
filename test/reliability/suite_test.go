// Package reliability runs the manager as a real process (built by the
// suite) against a real kube-apiserver and etcd (envtest) and the fake IM
// backend over real HTTP, and injects faults: API server restarts, SIGTERM
// and SIGKILL, two replicas with leader election, IM REST faults, callback
// faults, hostile input and credential rotation under a callback flood. It
// asserts that nothing accepted is lost, that what could not be seen heals
// through the resync, and that the receiver cannot be knocked over from
// outside.
//
// It runs only through `make test-reliability`, which sets
// CHATGROUP_RELIABILITY_TEST=1; a plain `go test ./...` skips it (several
// minutes, and it restarts the control plane).
package reliability

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

func TestReliability(t *testing.T) {
	if os.Getenv("CHATGROUP_RELIABILITY_TEST") != "1" {
		t.Skip("reliability tests run only through `make test-reliability` (minutes; they restart the control plane and kill manager processes)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "reliability: real processes, real faults")
}

const (
	sdkAppID      = 1400000042
	secretKey     = "reliability-secret-key-0123456789"
	callbackToken = "reliability-callback-token"
)

var (
	ctx        context.Context
	cancel     context.CancelFunc
	env        *testenv.Env
	k8s        client.Client // direct (uncached) client of a cluster admin
	workDir    string
	logDir     string
	adminKube  string
	managerBin string
	tokenFile  string
	keyFile    string
	fake       *timfake.Server
	fakeServer *httptest.Server
	nsCounter  atomic.Int32
)

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	var err error
	workDir, err = os.MkdirTemp("", "chatgroup-reliability-")
	Expect(err).NotTo(HaveOccurred())
	// Manager logs are kept after the run, for the report and for debugging.
	logDir = filepath.Join(testenv.RepoRoot(), "bin", "reliability-logs")
	Expect(os.RemoveAll(logDir)).To(Succeed())
	Expect(os.MkdirAll(logDir, 0o755)).To(Succeed())
	fmt.Fprintf(GinkgoWriter, "manager logs: %s\n", logDir)

	By("building the manager")
	managerBin = filepath.Join(workDir, "manager")
	build := exec.Command("go", "build", "-o", managerBin, ".")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed())

	By("starting kube-apiserver and etcd, with a fixed cert dir so that the API server can be restarted on the same port with the same certificates")
	certDir := filepath.Join(workDir, "apiserver")
	Expect(os.MkdirAll(certDir, 0o700)).To(Succeed())
	env, err = testenv.Start(func(e *envtest.Environment) {
		// kube-apiserver's graceful shutdown with open watches can take
		// longer than envtest's default 20 s stop timeout.
		e.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir}
		e.ControlPlaneStopTimeout = 90 * time.Second
	})
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := env.AddUser(envtest.User{Name: "reliability-admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	adminKube = filepath.Join(workDir, "admin.kubeconfig")
	Expect(os.WriteFile(adminKube, kc, 0o600)).To(Succeed())
	_, err = clientcmd.LoadFromFile(adminKube)
	Expect(err).NotTo(HaveOccurred())

	tokenFile = filepath.Join(workDir, "token")
	Expect(os.WriteFile(tokenFile, []byte(callbackToken), 0o600)).To(Succeed())
	keyFile = filepath.Join(workDir, "secret-key")
	Expect(os.WriteFile(keyFile, []byte(secretKey), 0o600)).To(Succeed())

	By("starting the fake IM backend over real HTTP on 127.0.0.1")
	fake = timfake.New(timfake.Options{
		SDKAppID:        sdkAppID,
		SecretKey:       secretKey,
		AdminIdentifier: "administrator",
		CallbackToken:   callbackToken,
		Seed:            42,
	})
	fakeServer = httptest.NewServer(fake)
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if fakeServer != nil {
		fakeServer.Close()
		fake.Close()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
	if workDir != "" {
		_ = os.RemoveAll(workDir)
	}
})

// freeLoopbackAddr returns a loopback address with a port nothing listens on.
func freeLoopbackAddr() string {
	GinkgoHelper()
	addr, err := testenv.FreeLoopbackAddr()
	Expect(err).NotTo(HaveOccurred())
	return addr
}

// newNamespace creates a namespace of its own for one spec.
func newNamespace() string {
	GinkgoHelper()
	name := fmt.Sprintf("rel-%d", nsCounter.Add(1))
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	return name
}

// ---- the manager as a process ----

type managerProc struct {
	name                                 string
	cmd                                  *exec.Cmd
	callbackAddr, probeAddr, metricsAddr string
	done                                 chan struct{}
	waitErr                              error
	logPath                              string
	logFile                              *os.File
	args                                 []string
	callbackURL, healthURL, metricsURL   string
}

type managerOpts struct {
	secret        bool          // --secret-key-file (Enforce and resync)
	resync        time.Duration // --resync-interval (0: default)
	leaderElectNS string        // --leader-elect in this namespace
	callbackAddr  string        // reuse an address (a restart)
	operatorNS    string        // --operator-namespace (ChatApps' Secrets)
	tokenFile     string        // --callback-token-file ("": the suite's)
	keyFile       string        // --secret-key-file with secret ("": the suite's)
	imEndpoint    string        // --im-endpoint ("": the suite's fake)
	extra         []string
}

var managerCount atomic.Int32

// startManager runs bin/manager and waits until /readyz answers 200 (the
// receiver listens, the cache has synced).
func startManager(name string, o managerOpts) *managerProc {
	GinkgoHelper()
	m := &managerProc{
		name:         fmt.Sprintf("%02d-%s", managerCount.Add(1), name),
		callbackAddr: o.callbackAddr,
		probeAddr:    freeLoopbackAddr(),
		metricsAddr:  freeLoopbackAddr(),
		done:         make(chan struct{}),
	}
	if m.callbackAddr == "" {
		m.callbackAddr = freeLoopbackAddr()
	}
	tokens, key, endpoint := cmp.Or(o.tokenFile, tokenFile), cmp.Or(o.keyFile, keyFile), cmp.Or(o.imEndpoint, fakeServer.URL)
	m.args = []string{
		"--kubeconfig=" + adminKube,
		"--sdkappid=" + strconv.Itoa(sdkAppID),
		"--callback-token-file=" + tokens,
		"--webhook-bind-address=" + m.callbackAddr,
		"--metrics-bind-address=" + m.metricsAddr,
		// The suite reads counters with a plain GET on loopback; the e2e
		// suite tests the authenticated HTTPS endpoint.
		"--metrics-secure=false",
		"--health-probe-bind-address=" + m.probeAddr,
		"--im-endpoint=" + endpoint,
	}
	if o.secret {
		m.args = append(m.args, "--secret-key-file="+key)
	}
	if o.operatorNS != "" {
		m.args = append(m.args, "--operator-namespace="+o.operatorNS)
	}
	if o.resync > 0 {
		m.args = append(m.args, "--resync-interval="+o.resync.String())
	}
	if o.leaderElectNS != "" {
		m.args = append(m.args, "--leader-elect=true", "--leader-election-namespace="+o.leaderElectNS)
	}
	m.args = append(m.args, o.extra...)
	m.logPath = filepath.Join(logDir, m.name+".log")
	f, err := os.Create(m.logPath)
	Expect(err).NotTo(HaveOccurred())
	m.logFile = f
	fmt.Fprintf(f, "$ manager %s\n", strings.Join(m.args, " "))
	m.cmd = exec.Command(managerBin, m.args...)
	m.cmd.Stdout, m.cmd.Stderr = f, f
	Expect(m.cmd.Start()).To(Succeed())
	go func() {
		m.waitErr = m.cmd.Wait()
		_ = f.Close()
		close(m.done)
	}()
	DeferCleanup(func() {
		if !m.exited() {
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	})
	m.callbackURL = "http://" + m.callbackAddr + "/callback"
	m.healthURL = "http://" + m.probeAddr + "/readyz"
	m.metricsURL = "http://" + m.metricsAddr + "/metrics"
	Eventually(func() (int, error) {
		if m.exited() {
			return 0, StopTrying("manager exited: " + m.tail())
		}
		return httpStatus(m.healthURL)
	}).WithTimeout(60*time.Second).WithPolling(200*time.Millisecond).Should(Equal(http.StatusOK), "manager %s not ready; log %s", m.name, m.logPath)
	return m
}

func (m *managerProc) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// signal sends sig and waits (bounded) for the process to exit.
func (m *managerProc) signal(sig syscall.Signal, within time.Duration) {
	GinkgoHelper()
	Expect(m.cmd.Process.Signal(sig)).To(Succeed())
	Eventually(m.done).WithTimeout(within).Should(BeClosed(), "manager %s did not exit after %v", m.name, sig)
}

// tail returns the last lines of the manager's log.
func (m *managerProc) tail() string {
	b, _ := os.ReadFile(m.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// metric returns the sum of the samples of a metric family (matching the
// label filter, if any) from the manager's /metrics.
func (m *managerProc) metric(name, labelFilter string) (float64, error) {
	resp, err := http.Get(m.metricsURL) //nolint:noctx // loopback, bounded by the default transport
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || (len(line) > len(name) && line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		if labelFilter != "" && !strings.Contains(line, labelFilter) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			continue
		}
		sum += v
		found = true
	}
	if !found {
		return 0, fmt.Errorf("metric %s%s not found", name, labelFilter)
	}
	return sum, sc.Err()
}

func httpStatus(url string) (int, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url) //nolint:noctx // loopback
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// ---- callbacks made by the test ----

// callbackQuery is the documented query, signed for requestTime.
func callbackQuery(cmd string, requestTime time.Time) string {
	return callbackQueryFor(sdkAppID, callbackToken, cmd, requestTime)
}

// callbackQueryFor is callbackQuery for another app, or signed with another
// token.
func callbackQueryFor(appID uint64, token, cmd string, requestTime time.Time) string {
	rt := strconv.FormatInt(requestTime.Unix(), 10)
	return fmt.Sprintf("SdkAppid=%d&CallbackCommand=%s&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI&Sign=%s&RequestTime=%s",
		appID, cmd, callbacksign.Sign(token, rt), rt)
}

var postClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// post sends one callback and returns the HTTP status (0 with an error when
// there was no answer).
func post(url, cmd string, body []byte) (int, error) {
	return postAs(url, sdkAppID, callbackToken, cmd, body)
}

// postAs is post for the app appID, signed with token.
func postAs(url string, appID uint64, token, cmd string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"?"+callbackQueryFor(appID, token, cmd, time.Now()), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := postClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func msgBody(groupID string, seq int64, from string) []byte {
	return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":%q,"Type":"Public","From_Account":%q,"Operator_Account":%q,"Random":%d,"MsgSeq":%d,"MsgTime":%d,"OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"m%d"}}],"EventTime":"%d"}`,
		groupID, from, from, seq, seq, time.Now().Unix(), seq, time.Now().UnixMilli())
}

func attrModifyBody(groupID, key, value string, eventTime int64) []byte {
	return fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterGroupAttrChanged","GroupId":%q,"Type":"Public","Operator_Account":"administrator","OptionType":"modify","GroupAttr":[{"key":%q,"value":%q}],"EventTime":%d}`,
		groupID, key, value, eventTime)
}

// flood sends callbacks for each group from one goroutine per group, in
// order (so the expected result of the accepted ones is exact), until stop
// is closed or perGroup callbacks were sent. Every answer is counted.
type flood struct {
	mu       sync.Mutex
	maxSeq   map[string]int64
	attrs    map[string]map[string]string
	codes    map[int]int
	noAnswer int
	wg       sync.WaitGroup
}

func startFlood(url string, groups []string, perGroup int, pace time.Duration, stop <-chan struct{}) *flood {
	f := &flood{maxSeq: map[string]int64{}, attrs: map[string]map[string]string{}, codes: map[int]int{}}
	base := time.Now().UnixMilli()
	for _, g := range groups {
		f.attrs[g] = map[string]string{}
		f.wg.Go(func() {
			defer GinkgoRecover()
			for n := 1; n <= perGroup; n++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				var code int
				var err error
				if n%3 == 0 {
					key, val := fmt.Sprintf("k%d", n%7), fmt.Sprintf("v%d", n)
					code, err = post(url, timfake.CmdAfterGroupAttrChanged, attrModifyBody(g, key, val, base+int64(n)))
					if err == nil && code == http.StatusOK {
						f.mu.Lock()
						f.attrs[g][key] = val
						f.mu.Unlock()
					}
				} else {
					code, err = post(url, timfake.CmdAfterSendMsg, msgBody(g, int64(n), "flooder"))
					if err == nil && code == http.StatusOK {
						f.mu.Lock()
						f.maxSeq[g] = max(f.maxSeq[g], int64(n))
						f.mu.Unlock()
					}
				}
				f.mu.Lock()
				if err != nil {
					f.noAnswer++
				} else {
					f.codes[code]++
				}
				f.mu.Unlock()
				time.Sleep(pace) // pacing, not waiting: keeps 2 cores for the API server
			}
		})
	}
	return f
}

func (f *flood) wait() { f.wg.Wait() }

// expectFloodInStatus checks every accepted callback's effect on status.
func expectFloodInStatus(g Gomega, ns string, f *flood, groups []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, id := range groups {
		cg := &imv1alpha1.ChatGroup{}
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: cgName(id)}, cg)).To(Succeed())
		g.Expect(cg.Status.LastMessageSeq).To(Equal(f.maxSeq[id]), "lastMessageSeq of %s", id)
		g.Expect(normMap(cg.Status.Attributes)).To(Equal(normMap(f.attrs[id])), "attributes of %s", id)
	}
}

func normMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return map[string]string{}
	}
	return m
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

func cgName(groupID string) string {
	return strings.Trim(nonName.ReplaceAllString(strings.ToLower(groupID), "-"), "-")
}

// newChatGroup declares a ChatGroup for groupID in ns.
func newChatGroup(ns, groupID string, policy imv1alpha1.ManagementPolicy, mutate ...func(*imv1alpha1.ChatGroup)) *imv1alpha1.ChatGroup {
	GinkgoHelper()
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cgName(groupID)},
		Spec: imv1alpha1.ChatGroupSpec{
			GroupID:          groupID,
			Type:             "Public",
			Owner:            "owner",
			ManagementPolicy: policy,
		},
	}
	for _, m := range mutate {
		m(cg)
	}
	Expect(k8s.Create(ctx, cg)).To(Succeed())
	return cg
}

// setSpecName sets spec.name of the ChatGroup of groupID, without waiting
// for IM.
func setSpecName(ns, groupID, name string) {
	GinkgoHelper()
	Eventually(func() error {
		cg := getCG(ns, groupID)
		cg.Spec.Name = ptr.To(name)
		return k8s.Update(ctx, cg)
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

// awaitSyncedName waits until f holds groupID named name and its ChatGroup
// reports Synced=True for its current generation.
func awaitSyncedName(f *timfake.Server, ns, groupID, name string, timeout time.Duration) {
	GinkgoHelper()
	Eventually(func(g Gomega) {
		snap, ok := f.Group(groupID)
		g.Expect(ok).To(BeTrue())
		g.Expect(snap.Name).To(Equal(name))
		cg := getCG(ns, groupID)
		g.Expect(cg.Status.ObservedGeneration).To(Equal(cg.Generation))
		g.Expect(condition(cg, imv1alpha1.ConditionSynced)).To(BeEquivalentTo("True"))
	}).WithTimeout(timeout).WithPolling(250*time.Millisecond).Should(Succeed(), "%s named %q", groupID, name)
}

func getCG(ns, groupID string) *imv1alpha1.ChatGroup {
	GinkgoHelper()
	cg := &imv1alpha1.ChatGroup{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: cgName(groupID)}, cg)).To(Succeed())
	return cg
}

// condition returns the status of a condition ("" when absent).
func condition(cg *imv1alpha1.ChatGroup, t string) metav1.ConditionStatus {
	for _, c := range cg.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// expectStatusMatchesFake compares status with the fake backend's truth.
func expectStatusMatchesFake(g Gomega, ns, id string, members bool) {
	matchFake(g, ns, id, members, true)
}

// matchFake is expectStatusMatchesFake with attributes optional.
func matchFake(g Gomega, ns, id string, members, attrs bool) {
	snap, ok := fake.Group(id)
	g.Expect(ok).To(BeTrue(), "group %s in the fake", id)
	cg := &imv1alpha1.ChatGroup{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: cgName(id)}, cg)).To(Succeed())
	st := cg.Status
	g.Expect(st.LastMessageSeq).To(Equal(int64(snap.NextMsgSeq)-1), "lastMessageSeq of %s", id)
	g.Expect(st.Name).To(Equal(snap.Name), "name of %s", id)
	g.Expect(st.Introduction).To(Equal(snap.Introduction), "introduction of %s", id)
	g.Expect(st.Notification).To(Equal(snap.Notification), "notification of %s", id)
	if attrs {
		g.Expect(normMap(st.Attributes)).To(Equal(normMap(snap.Attributes)), "attributes of %s", id)
	}
	if members {
		g.Expect(st.MemberCount).To(Equal(int64(len(snap.Members))), "memberCount of %s", id)
	}
}

// report lines, printed at the end of the suite for the README table.
var (
	reportMu    sync.Mutex
	reportLines []string
)

func report(format string, args ...any) {
	reportMu.Lock()
	defer reportMu.Unlock()
	line := fmt.Sprintf(format, args...)
	reportLines = append(reportLines, line)
	fmt.Fprintf(GinkgoWriter, "REPORT: %s\n", line)
}

var _ = ReportAfterSuite("reliability outcomes", func(r Report) {
	reportMu.Lock()
	defer reportMu.Unlock()
	if len(reportLines) == 0 {
		return
	}
	path := filepath.Join(testenv.RepoRoot(), "bin", "reliability-report.txt")
	_ = os.WriteFile(path, []byte(strings.Join(reportLines, "\n")+"\n"), 0o644)
	fmt.Printf("\nreliability outcomes (also in %s):\n  %s\n", path, strings.Join(reportLines, "\n  "))
})

// modifyAttrs upserts attributes as user u, retrying while IM answers its
// per-group attribute write limit (10049: 5 writes a second).
func modifyAttrs(u *timfake.User, groupID string, attrs map[string]string) {
	GinkgoHelper()
	distinctMillisecond()
	Eventually(func() error { return u.ModifyAttrs(groupID, attrs) }).
		WithTimeout(10 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
}

// distinctMillisecond keeps two user actions out of the same millisecond.
// IM stamps callbacks with EventTime in ms and sends no sequence number for
// info or attribute changes: two changes of one group's attributes in the
// same ms that reach different replicas (or are reordered) cannot be put
// back in order by any receiver; only the resync can. Real users do not act
// twice in a millisecond; in-process simulated users would.
func distinctMillisecond() { time.Sleep(2 * time.Millisecond) }

// stopAPIServer stops kube-apiserver: SIGTERM, and SIGKILL when it is not
// gone within 5 s (its graceful shutdown waits up to the 60 s request
// timeout for in-flight requests, which would stretch a 10 s outage to a
// minute), then lets envtest clean up.
func stopAPIServer() {
	GinkgoHelper()
	certDir := env.ControlPlane.APIServer.CertDir
	pid := 0
	entries, err := os.ReadDir("/proc")
	Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if strings.HasSuffix(args[0], "kube-apiserver") && slices.Contains(args, "--cert-dir="+certDir) {
			pid = n
		}
	}
	Expect(pid).NotTo(BeZero(), "our kube-apiserver process")
	p, err := os.FindProcess(pid)
	Expect(err).NotTo(HaveOccurred())
	Expect(p.Signal(syscall.SIGTERM)).To(Succeed())
	gone := func() bool { return p.Signal(syscall.Signal(0)) != nil || isZombie(pid) }
	for i := 0; i < 50 && !gone(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !gone() {
		fmt.Fprintf(GinkgoWriter, "kube-apiserver still shutting down after 5 s: SIGKILL\n")
		_ = p.Signal(syscall.SIGKILL)
	}
	Expect(env.ControlPlane.APIServer.Stop()).To(Succeed())
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

// requestResync sets a new resync-requested-at annotation value on the
// ChatGroup of groupID: the leader reads the group through the REST API.
func requestResync(ns, groupID string) {
	GinkgoHelper()
	v := time.Now().Format(time.RFC3339Nano)
	Eventually(func() error {
		cg := getCG(ns, groupID)
		if cg.Annotations == nil {
			cg.Annotations = map[string]string{}
		}
		cg.Annotations[imv1alpha1.AnnotationResyncRequestedAt] = v
		return k8s.Update(ctx, cg)
	}).WithTimeout(10 * time.Second).Should(Succeed())
}
