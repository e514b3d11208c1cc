package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/cacheconfig"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

const (
	appID  = 1400000001
	secret = "controller-suite-secret-key"
	token  = "controller-suite-callback-token"
)

var (
	env      *testenv.Env
	k8s      client.Client
	fake     *timfake.Server
	fakeHTTP *httptest.Server
	bodies   *bodyLog
	im       *swapIM
	rec      *recorder
	resync   *controllers.Resyncer
	webhook  *webhookserver.Server
	cached   client.Reader // the manager's cache, what the controller reads
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

// bodyLog keeps the request bodies the fake received per command, so a test
// can check what a push carried, not only how many calls there were.
type bodyLog struct {
	mu sync.Mutex
	m  map[string][][]byte
}

func (b *bodyLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cmd := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		b.mu.Lock()
		b.m[cmd] = append(b.m[cmd], body)
		b.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.ServeHTTP(w, r)
	})
}

func (b *bodyLog) since(cmd string, n int) []map[string]any {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, raw := range b.m[cmd][n:] {
		var m map[string]any
		Expect(json.Unmarshal(raw, &m)).To(Succeed())
		out = append(out, m)
	}
	return out
}

func (b *bodyLog) count(cmd string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m[cmd])
}

// swapIM lets one test run the controller with other credentials.
type swapIM struct {
	mu sync.RWMutex
	controllers.IM
}

func (s *swapIM) get() controllers.IM  { s.mu.RLock(); defer s.mu.RUnlock(); return s.IM }
func (s *swapIM) set(c controllers.IM) { s.mu.Lock(); s.IM = c; s.mu.Unlock() }
func (s *swapIM) GetGroupInfoFiltered(ctx context.Context, ids []string, f *tim.ResponseFilter) ([]tim.GroupInfoResult, error) {
	return s.get().GetGroupInfoFiltered(ctx, ids, f)
}
func (s *swapIM) GetGroupAttr(ctx context.Context, id string) (map[string]string, error) {
	return s.get().GetGroupAttr(ctx, id)
}
func (s *swapIM) CreateGroup(ctx context.Context, req tim.CreateGroupRequest) (string, error) {
	return s.get().CreateGroup(ctx, req)
}
func (s *swapIM) ModifyGroupBaseInfo(ctx context.Context, req tim.ModifyGroupBaseInfoRequest) error {
	return s.get().ModifyGroupBaseInfo(ctx, req)
}
func (s *swapIM) ModifyGroupAttr(ctx context.Context, id string, a map[string]string) error {
	return s.get().ModifyGroupAttr(ctx, id, a)
}
func (s *swapIM) DeleteGroupAttr(ctx context.Context, id string, k []string) error {
	return s.get().DeleteGroupAttr(ctx, id, k)
}
func (s *swapIM) DestroyGroup(ctx context.Context, id string) error {
	return s.get().DestroyGroup(ctx, id)
}

// recorder keeps every Event the controller emits (and forwards it to the
// running manager's recorder). It outlives restarts of the operator.
type recorder struct {
	mu   sync.Mutex
	next controllers.EventRecorder
	evs  []recorded
}

func (r *recorder) setNext(n controllers.EventRecorder) { r.mu.Lock(); r.next = n; r.mu.Unlock() }

type recorded struct{ key, typ, reason, msg string }

func (r *recorder) Eventf(regarding, related runtime.Object, typ, reason, action, note string, args ...any) {
	if o, ok := regarding.(client.Object); ok {
		r.mu.Lock()
		r.evs = append(r.evs, recorded{o.GetNamespace() + "/" + o.GetName(), typ, reason, fmt.Sprintf(note, args...)})
		r.mu.Unlock()
	}
	r.mu.Lock()
	next := r.next
	r.mu.Unlock()
	next.Eventf(regarding, related, typ, reason, action, note, args...)
}

// events returns the messages of reason Events for cg.
func (r *recorder) events(cg client.Object, reason string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.evs {
		if e.key == cg.GetNamespace()+"/"+cg.GetName() && e.reason == reason {
			out = append(out, e.msg)
		}
	}
	return out
}

func newIMClient(key string) *tim.Client {
	c, err := tim.New(tim.Config{
		Endpoint: fakeHTTP.URL, SDKAppID: appID, SecretKey: key, QPS: 1000,
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
	})
	Expect(err).NotTo(HaveOccurred())
	return c
}

var _ = BeforeSuite(func() {
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })

	fake = timfake.New(timfake.Options{SDKAppID: appID, SecretKey: secret, CallbackToken: token, Seed: 7})
	bodies = &bodyLog{m: map[string][][]byte{}}
	fakeHTTP = httptest.NewServer(bodies.wrap(fake))
	DeferCleanup(func() { fakeHTTP.Close(); fake.Close() })
	im = &swapIM{IM: newIMClient(secret)}

	// Tests read and write straight to the API server: no cache lag.
	k8s, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	rec = &recorder{}
	startOperator(nil)
	DeferCleanup(stopOperator)
})

// suiteOptions are the controller options of the suite's operator; a spec
// that needs others restarts it with startOperator(mutate).
func suiteOptions() controllers.Options {
	return controllers.Options{
		IM: im, Recorder: rec,
		ResyncInterval:   time.Hour, // tests call ResyncOnce
		RateLimitBackoff: 200 * time.Millisecond, RateLimitBackoffMax: 2 * time.Second,
		CredentialsRetry: time.Hour, RejectedRetry: time.Hour,
		DriftCorrectionInterval: 2 * time.Second,
		BudgetNamespace:         operatorNS, MaxDestroysPerHour: 10000,
		OperatorNamespace: operatorNS, InsecureHTTP: true,
	}
}

// running is the operator process of the suite: a manager with the
// receiver and the controller, as main.go wires them.
var running struct {
	cancel context.CancelFunc
	done   chan error
}

// startOperator starts the operator (stopping a running one first, as a
// restart does): a new manager, new caches, no memory of the last one.
// mutate changes the controller and receiver options of this run.
func startOperator(mutate func(*controllers.Options, *webhookserver.Options)) {
	stopOperator()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Cache:                  cacheconfig.Options(operatorNS), // as main.go
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	ctx, c := context.WithCancel(context.Background())
	opts := suiteOptions()
	wopts := webhookserver.Options{
		SDKAppID: appID, Token: token, BindAddress: "127.0.0.1:0", Path: "/callback", WriteQPS: 500, WriteBurst: 100,
	}
	if mutate != nil {
		mutate(&opts, &wopts)
	}
	if opts.Apps == nil {
		// One registry for the receiver and the controller, as main.go
		// builds it: the flags' app with the controller's client.
		opts.Apps = apps.New()
		if a, ok := wopts.DefaultApp(); ok {
			a.Client, a.NoClient = opts.IM, opts.NoIMMessage
			opts.Apps.Set(a)
		}
	}
	wopts.Apps = opts.Apps
	webhook, err = webhookserver.Setup(mgr, wopts)
	Expect(err).NotTo(HaveOccurred())
	rec.setNext(mgr.GetEventRecorder("chatgroup-controller"))
	_, resync, err = controllers.Setup(mgr, opts)
	Expect(err).NotTo(HaveOccurred())
	cached = mgr.GetCache()
	done := make(chan error, 1)
	go func() { defer GinkgoRecover(); done <- mgr.Start(ctx) }()
	running.cancel, running.done = c, done
	Eventually(webhook.Addr, 10*time.Second).ShouldNot(BeEmpty())
	fake.SetCallbackURL("http://" + webhook.Addr() + "/callback")
}

// stopOperator stops the running operator, if any, and waits for it.
func stopOperator() {
	if running.cancel == nil {
		return
	}
	running.cancel()
	Eventually(running.done, 30*time.Second).Should(Receive(BeNil()))
	running.cancel, running.done = nil, nil
}

func ptr[T any](v T) *T { return &v }

// operatorNS is the operator's own namespace in the suite: its Leases and
// the ChatApps' credentials Secrets.
const operatorNS = "default"
