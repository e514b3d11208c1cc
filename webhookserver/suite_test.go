package webhookserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/cacheconfig"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
)

// The integration specs run real managers (cache, index, the receiver as a
// Runnable) against a real kube-apiserver and etcd, and talk to the
// receiver over real HTTP.
func TestWebhookServer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Webhook Server Suite")
}

const (
	testAppID = 1400000001
	testToken = "xxxxyyyy"
)

var (
	env       *testenv.Env
	k8sClient client.Client
	shared    *receiver // the shared receiver: token set, no discovery
	nsCounter atomic.Int64
)

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	shared = startReceiver(Options{Token: testToken, MaxSkew: DefaultMaxSkew, WriteQPS: 200, WriteBurst: 50})
})

var _ = AfterSuite(func() {
	if shared != nil {
		shared.stop()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// gate lets a spec hold or fail status writes, as an API server outage or
// a slow one would.
type gate struct {
	mu   sync.Mutex
	mode string // "", "block", "fail"
	open chan struct{}
}

func (g *gate) set(mode string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.mode == "block" && mode != "block" {
		close(g.open)
	}
	if mode == "block" && g.mode != "block" {
		g.open = make(chan struct{})
	}
	g.mode = mode
}

func (g *gate) pass(ctx context.Context) error {
	g.mu.Lock()
	mode, open := g.mode, g.open
	g.mu.Unlock()
	switch mode {
	case "block":
		select {
		case <-open:
		case <-ctx.Done():
			return ctx.Err()
		}
	case "fail":
		return apierrors.NewServiceUnavailable("test: API server unavailable")
	}
	return nil
}

// countingClient counts status updates that reach the API server and runs
// them through a gate.
type countingClient struct {
	client.Client
	updates *atomic.Int64
	gate    *gate
}

func (c countingClient) Status() client.SubResourceWriter {
	return countingStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type countingStatus struct {
	client.SubResourceWriter
	c countingClient
}

func (s countingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	if err := s.c.gate.pass(ctx); err != nil {
		return err
	}
	s.c.updates.Add(1)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if err := s.c.gate.pass(ctx); err != nil {
		return err
	}
	s.c.updates.Add(1)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

type receiver struct {
	srv     *Server
	cancel  context.CancelFunc
	done    chan error
	updates atomic.Int64
	gate    gate
	url     string
}

// startReceiver runs a manager of its own with the receiver on a free port.
func startReceiver(opts Options) *receiver {
	r := &receiver{done: make(chan error, 1)}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  cacheconfig.Options(""), // as main.go
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return countingClient{Client: c, updates: &r.updates, gate: &r.gate}, nil
		},
	})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if opts.SDKAppID == 0 {
		opts.SDKAppID = testAppID
	}
	opts.BindAddress = "127.0.0.1:0"
	r.srv, err = New(mgr, opts)
	Expect(err).NotTo(HaveOccurred())
	Expect(r.srv.ReadyCheck(nil)).NotTo(Succeed(), "ready before listening")
	Expect(mgr.Add(r.srv)).To(Succeed())
	go func() {
		defer GinkgoRecover()
		r.done <- mgr.Start(ctx)
	}()
	Eventually(r.srv.Addr, 30*time.Second, 20*time.Millisecond).ShouldNot(BeEmpty())
	Expect(r.srv.ReadyCheck(nil)).To(Succeed())
	r.url = "http://" + r.srv.Addr() + r.srv.opts.Path
	return r
}

// stop cancels the manager and waits until the receiver has flushed.
func (r *receiver) stop() {
	r.gate.set("")
	r.cancel()
	Eventually(r.done, 60*time.Second).Should(Receive(BeNil()))
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// query is the documented query string for cmd, signed when token is set.
func query(cmd string) url.Values {
	q := url.Values{
		"SdkAppid":        {strconv.Itoa(testAppID)},
		"CallbackCommand": {cmd},
		"contenttype":     {"json"},
		"ClientIP":        {"127.0.0.1"},
		"OptPlatform":     {"RESTAPI"},
	}
	sign(q, time.Now())
	return q
}

func sign(q url.Values, at time.Time) {
	rt := strconv.FormatInt(at.Unix(), 10)
	q.Set("RequestTime", rt)
	q.Set("Sign", callbacksign.Sign(testToken, rt))
}

// post sends one request and returns the status and decoded envelope.
func (r *receiver) post(method string, q url.Values, body []byte) (int, envelope) {
	req, err := http.NewRequest(method, r.url+"?"+q.Encode(), bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	resp, err := httpClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	var env envelope
	Expect(json.Unmarshal(b, &env)).To(Succeed(), "response is not the JSON envelope: %s", b)
	Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	return resp.StatusCode, env
}

// send posts a callback body (a map or struct) for its command and expects OK.
func (r *receiver) send(cmd string, body any) {
	GinkgoHelper()
	code, env := r.post(http.MethodPost, query(cmd), mustJSON(cmd, body))
	Expect(code).To(Equal(http.StatusOK), "%+v", env)
	Expect(env).To(Equal(envelope{ActionStatus: "OK"}))
}

func mustJSON(cmd string, body any) []byte {
	if b, ok := body.([]byte); ok {
		return b
	}
	m := map[string]any{}
	b, err := json.Marshal(body)
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(b, &m)).To(Succeed())
	m["CallbackCommand"] = cmd
	b, err = json.Marshal(m)
	Expect(err).NotTo(HaveOccurred())
	return b
}

// newNamespace creates a namespace for one spec.
func newNamespace() string {
	name := fmt.Sprintf("wh-%d-%d", GinkgoParallelProcess(), nsCounter.Add(1))
	Expect(k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
	return name
}

// newChatGroup declares a ChatGroup claiming groupID.
func newChatGroup(ns, name, groupID string) types.NamespacedName {
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       imv1alpha1.ChatGroupSpec{GroupID: groupID, ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
	}
	Expect(k8sClient.Create(context.Background(), cg)).To(Succeed())
	return client.ObjectKeyFromObject(cg)
}

func getStatus(key types.NamespacedName) imv1alpha1.ChatGroupStatus {
	GinkgoHelper()
	cg := &imv1alpha1.ChatGroup{}
	Expect(k8sClient.Get(context.Background(), key, cg)).To(Succeed())
	return cg.Status
}

func resourceVersion(key types.NamespacedName) func() string {
	return func() string {
		cg := &imv1alpha1.ChatGroup{}
		Expect(k8sClient.Get(context.Background(), key, cg)).To(Succeed())
		return cg.ResourceVersion
	}
}

// waitCached waits until every receiver's routing table knows groupID, so a
// callback right after the ChatGroup is created is not taken as unclaimed.
func waitCached(groupID string, n int, rs ...*receiver) {
	GinkgoHelper()
	for _, r := range rs {
		Eventually(func() int { return len(r.srv.handler.routes.lookup(apps.DefaultName, groupID)) },
			10*time.Second, 10*time.Millisecond).Should(Equal(n))
	}
}

// settle waits until the receivers have nothing pending.
func settle(rs ...*receiver) {
	GinkgoHelper()
	for _, r := range rs {
		Eventually(r.srv.writer.Pending, 60*time.Second, 10*time.Millisecond).Should(BeZero())
	}
}
