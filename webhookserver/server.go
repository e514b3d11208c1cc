// Package webhookserver receives Tencent Cloud IM group callbacks and
// records them as ChatGroup status. It authenticates each request (SdkAppid,
// Sign), decodes it, finds the ChatGroups that claim the group in a routing
// table fed by the ChatGroup informer, and merges it into a pending update that a rate-limited
// writer flushes to the status subresource. It never calls the IM REST API.
package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/objwrite"
)

// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatgroups,verbs=get;list;watch
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Options configure the receiver; main fills them from flags. Validate is
// the one place they are checked.
type Options struct {
	// SDKAppID is the default app's SDKAppID (the flags' app); zero: no
	// default app, only those in Apps. Callbacks for an app that is not
	// served are refused.
	SDKAppID uint64
	// Token is the default app's callback authentication token. It is required unless
	// InsecureSkipAuth says, explicitly, that callbacks are not signed:
	// without it anyone who can reach the receiver could write status.
	Token            string
	InsecureSkipAuth bool
	// MaxSkew bounds |now - RequestTime|; zero disables the check.
	MaxSkew time.Duration
	// BindAddress and Path are where callbacks are received.
	BindAddress string
	Path        string
	// DiscoveryNamespace, when set, receives a ChatGroup (Observe) for each
	// group of the default app that no ChatGroup claims (a ChatApp sets its
	// own); it needs a Token (an unsigned request
	// must not create objects). At most DiscoveryMaxGroups ChatGroups are
	// kept there, created at most DiscoveryPerMinute a minute per app.
	DiscoveryNamespace string
	DiscoveryMaxGroups int
	DiscoveryPerMinute float64
	// Apps is the registry of served apps, shared with the controller; nil:
	// one of its own holding the app the options define (DefaultApp).
	Apps *apps.Registry
	// WriteQPS and WriteBurst bound status writes (token bucket), for all
	// replicas together: each replica takes its share (see share.go).
	WriteQPS   float64
	WriteBurst int
	// Namespace holds the receivers' Leases, which count the live
	// replicas; empty: they are not counted, and ExpectedReplicas divides
	// the budget. Identity names this replica's Lease (default: the host
	// name, which is the pod's name in a pod).
	Namespace string
	Identity  string
	// ExpectedReplicas divides the budget when the live receivers cannot
	// be counted (default 1).
	ExpectedReplicas int
	// ShareRenew is how often the Lease is renewed and the budget
	// re-divided (default DefaultShareRenew).
	ShareRenew time.Duration
	// MaxPendingGroups bounds the ChatGroups with unwritten changes; past
	// it callbacks are refused with 503.
	MaxPendingGroups int
	// MaxInFlight bounds the callbacks being read and decoded at once;
	// past it requests are refused with 503 before their body is read, so
	// memory under any flood stays below MaxInFlight x MaxBodyBytes.
	MaxInFlight int
	// Workers is the number of concurrent status writers (default 4).
	Workers int
	// ShutdownTimeout bounds the final flush on shutdown (default 20s,
	// below the manager's 30s graceful shutdown timeout).
	ShutdownTimeout time.Duration
	// DrainQPS is the write rate of that final flush (default
	// DefaultDrainQPS). The steady-state cap would flush only
	// WriteQPS x ShutdownTimeout groups (about 400 at the defaults) of up to
	// MaxPendingGroups; the drain is short and happens once per pod.
	DrainQPS float64
	// Objects is the process's shared object writer (conflict retries and
	// read-your-writes); nil: the receiver makes its own.
	Objects *objwrite.Writer
	// AlarmRegarding is the object IM's alarm callbacks are raised on as
	// Warning Events (the manager's Pod); nil: logged and counted only.
	AlarmRegarding *corev1.ObjectReference
	// CertDir, when set, holds tls.crt and tls.key: callbacks are received
	// over HTTPS, and a changed certificate is served without a restart.
	CertDir string
}

// Defaults for Options left zero (MaxSkew excepted: zero disables it).
const (
	DefaultBindAddress = ":8090"
	DefaultPath        = "/callback"
	DefaultMaxSkew     = 60 * time.Second
	// DefaultWriteQPS is the status-write cap. Each write costs the API
	// server and etcd about 10 ms of CPU (make bench), so 20/s is a fifth of
	// a core, and 20 is also the request rate Kubernetes' own controllers
	// default to (kube-controller-manager --kube-api-qps). With A groups
	// receiving callbacks, each status is refreshed about every A/20 s.
	DefaultWriteQPS         = 20
	DefaultWriteBurst       = 10
	DefaultMaxPendingGroups = 20000
	DefaultMaxInFlight      = 64
	DefaultDrainQPS         = 200
	// Discovery: a real app's undeclared groups trickle in with their
	// first callbacks; a flood of made-up group IDs must not fill the
	// namespace (nor etcd).
	DefaultDiscoveryMaxGroups = 1000
	DefaultDiscoveryPerMinute = 60
)

func (o *Options) defaults() {
	if o.BindAddress == "" {
		o.BindAddress = DefaultBindAddress
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.WriteQPS == 0 {
		o.WriteQPS = DefaultWriteQPS
	}
	if o.WriteBurst == 0 {
		o.WriteBurst = DefaultWriteBurst
	}
	if o.MaxPendingGroups == 0 {
		o.MaxPendingGroups = DefaultMaxPendingGroups
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.DiscoveryMaxGroups == 0 {
		o.DiscoveryMaxGroups = DefaultDiscoveryMaxGroups
	}
	if o.DiscoveryPerMinute == 0 {
		o.DiscoveryPerMinute = DefaultDiscoveryPerMinute
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.Apps == nil {
		// Without a registry of its own the receiver serves the one app
		// its options define (tests, and a manager without ChatApps).
		o.Apps = apps.New()
		if a, ok := o.DefaultApp(); ok {
			o.Apps.Set(a)
		}
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
	if o.ExpectedReplicas == 0 {
		o.ExpectedReplicas = 1
	}
	if o.ShareRenew <= 0 {
		o.ShareRenew = DefaultShareRenew
	}
	if o.Identity == "" {
		o.Identity, _ = os.Hostname()
	}
	if o.DrainQPS == 0 {
		o.DrainQPS = DefaultDrainQPS
	}
}

// DefaultApp is the app the options define (the flags' app), as the
// receiver serves it; ok is false without SDKAppID. main adds the REST
// client and registers it; this is the one place the receiver's flags
// become an app.
func (o *Options) DefaultApp() (app apps.App, ok bool) {
	if o.SDKAppID == 0 {
		return apps.App{}, false
	}
	a := apps.App{Name: apps.DefaultName, SDKAppID: o.SDKAppID, SkipAuth: o.InsecureSkipAuth && o.Token == "",
		DiscoveryNamespace: o.DiscoveryNamespace}
	if o.Token != "" {
		a.Tokens = []string{o.Token}
	}
	return a, true
}

// OptionError names the option that cannot work, so that main can name
// the flag that set it.
type OptionError struct {
	Option string // the Options field
	Msg    string
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Msg }

// Validate reports the first option that cannot work. It checks options
// as given: New fills zero fields with their defaults first, main checks
// the flags' values as they are (where zero is a mistake).
func (o *Options) Validate() error {
	bad := func(opt, format string, args ...any) error {
		return &OptionError{Option: opt, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case o.SDKAppID == 0 && (o.Token != "" || o.InsecureSkipAuth):
		return bad("SDKAppID", "a callback token (or the insecure opt-out) is the default app's, and there is no default app without its SDKAppID")
	case o.SDKAppID != 0 && o.Token == "" && !o.InsecureSkipAuth:
		return bad("Token", "a callback token is required: without it anyone who can reach the receiver can write ChatGroup status (to run without one on purpose, set InsecureSkipAuth)")
	case o.MaxSkew < 0:
		return bad("MaxSkew", "must not be negative, got %v", o.MaxSkew)
	case o.Path == "" || o.Path[0] != '/':
		return bad("Path", "must start with '/', got %q", o.Path)
	case o.WriteQPS <= 0:
		return bad("WriteQPS", "must be positive, got %v", o.WriteQPS)
	case o.WriteBurst < 1:
		return bad("WriteBurst", "must be at least 1, got %d", o.WriteBurst)
	case o.ExpectedReplicas < 1:
		return bad("ExpectedReplicas", "must be at least 1, got %d", o.ExpectedReplicas)
	case o.MaxPendingGroups < 1:
		return bad("MaxPendingGroups", "must be at least 1, got %d", o.MaxPendingGroups)
	case o.MaxInFlight < 1:
		return bad("MaxInFlight", "must be at least 1, got %d", o.MaxInFlight)
	case o.DiscoveryMaxGroups < 1:
		return bad("DiscoveryMaxGroups", "must be at least 1, got %d", o.DiscoveryMaxGroups)
	case o.DiscoveryPerMinute <= 0:
		return bad("DiscoveryPerMinute", "must be positive, got %v", o.DiscoveryPerMinute)
	}
	if _, _, err := net.SplitHostPort(o.BindAddress); err != nil {
		return bad("BindAddress", "%q: %v", o.BindAddress, err)
	}
	if o.CertDir != "" {
		if fi, err := os.Stat(o.CertDir); err != nil {
			return bad("CertDir", "%v", err)
		} else if !fi.IsDir() {
			return bad("CertDir", "%q is not a directory", o.CertDir)
		}
	}
	if ns := o.DiscoveryNamespace; ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return bad("DiscoveryNamespace", "%q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
		if o.SDKAppID == 0 {
			return bad("DiscoveryNamespace", "discovery for the default app needs its SDKAppID (a ChatApp sets spec.discovery.namespace instead)")
		}
		if o.Token == "" {
			return bad("DiscoveryNamespace", "discovery needs a callback token: an unsigned request must not create ChatGroups")
		}
	}
	return nil
}

// Server is the callback receiver as a manager Runnable. It runs on every
// replica: callbacks may reach any of them.
type Server struct {
	opts    Options
	mgr     manager.Manager
	handler *handler
	writer  *Writer
	log     logr.Logger
	addr    atomic.Pointer[string]
	certs   *certwatcher.CertWatcher // nil: plain HTTP
	share   *share                   // this replica's part of the write budget
}

// New builds the receiver for mgr.
func New(mgr manager.Manager, opts Options) (*Server, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := mgr.GetLogger().WithName("webhookserver")
	w := NewWriter(mgr.GetClient(), mgr.GetAPIReader(), opts.Objects, eventSink{rec: mgr.GetEventRecorder("chatgroup-webhook")},
		opts.WriteQPS, opts.WriteBurst, opts.MaxPendingGroups, log.WithName("writer"))
	h := &handler{opts: opts, routes: newRoutes(), writer: w, log: log, now: time.Now,
		inflight:    make(chan struct{}, opts.MaxInFlight),
		discoveries: newDiscoveryPace(opts.DiscoveryPerMinute),
		alarms:      newAlarmSink(mgr.GetEventRecorder("chatgroup-webhook"), opts.AlarmRegarding, log.WithName("alarms")),
		appSeen:     newAppCallbacks(mgr.GetClient())}
	certs, err := newCertWatcher(opts.CertDir)
	if err != nil {
		return nil, err
	}
	sh := &share{reader: mgr.GetAPIReader(), c: mgr.GetClient(), namespace: opts.Namespace, identity: opts.Identity,
		total: opts.WriteQPS, burst: opts.WriteBurst, expected: opts.ExpectedReplicas, renew: opts.ShareRenew,
		now: time.Now, set: w.setRate, log: log.WithName("budget")}
	return &Server{opts: opts, mgr: mgr, handler: h, writer: w, log: log, certs: certs, share: sh}, nil
}

// Setup builds the receiver, adds it to mgr and adds its readiness check.
func Setup(mgr manager.Manager, opts Options) (*Server, error) {
	s, err := New(mgr, opts)
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(s); err != nil {
		return nil, err
	}
	if err := mgr.Add(s.share); err != nil {
		return nil, err
	}
	if err := mgr.Add(s.handler.appSeen); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("webhook", s.ReadyCheck); err != nil {
		return nil, err
	}
	return s, nil
}

// NeedLeaderElection is false: every replica receives callbacks.
func (s *Server) NeedLeaderElection() bool { return false }

// Handler is the callback http.Handler (for tests and benchmarks).
func (s *Server) Handler() http.Handler { return s.handler }

// Writer is the receiver's status writer.
func (s *Server) Writer() *Writer { return s.writer }

// Addr is the address the receiver listens on, "" until it does and once
// it stops.
func (s *Server) Addr() string {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return ""
}

// ReadyCheck fails until the receiver listens, so a Service sends no
// callbacks to a replica that would refuse the connection.
func (s *Server) ReadyCheck(*http.Request) error {
	if s.Addr() == "" {
		return errors.New("callback receiver not listening yet")
	}
	return nil
}

// Start serves until ctx ends, then stops accepting requests and flushes
// every pending update (bounded by ShutdownTimeout) before returning.
func (s *Server) Start(ctx context.Context) error {
	if s.opts.SDKAppID != 0 && s.opts.Token == "" {
		s.log.Info("WARNING: callback authentication is off (insecure-skip-callback-auth): the Sign of callbacks is not checked, so anyone who can reach the receiver can write ChatGroup status; discovery is off")
	}
	// The routing table must hold every cached ChatGroup before the first
	// callback, or a claimed group looks unclaimed.
	inf, err := s.mgr.GetCache().GetInformer(ctx, &imv1alpha1.ChatGroup{})
	if err != nil {
		return fmt.Errorf("webhookserver: ChatGroup informer: %w", err)
	}
	reg, err := inf.AddEventHandler(s.handler.routes.eventHandler())
	if err != nil {
		return fmt.Errorf("webhookserver: watching ChatGroups: %w", err)
	}
	defer func() { _ = inf.RemoveEventHandler(reg) }()
	if !s.mgr.GetCache().WaitForCacheSync(ctx) || !toolscache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("webhookserver: cache did not sync")
	}

	// The writers outlive ctx: they must flush after the listener closes.
	wctx, stopWriters := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Go(func() { s.writer.run(wctx) })
	}
	defer func() { stopWriters(); wg.Wait() }()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.BindAddress)
	if err != nil {
		return fmt.Errorf("webhookserver: listening on %s: %w", s.opts.BindAddress, err)
	}
	scheme := "http"
	if s.certs != nil {
		ln = s.serveTLS(ctx, ln)
		scheme = "https"
	}
	mux := http.NewServeMux()
	mux.Handle(s.opts.Path, s.handler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		// IM keeps connections open between callbacks.
		IdleTimeout: 2 * time.Minute,
	}
	addr := ln.Addr().String()
	s.addr.Store(&addr)
	s.log.Info("receiving callbacks", "address", addr, "path", s.opts.Path, "scheme", scheme)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	s.addr.Store(nil) // not ready any more: let the Service route elsewhere
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(shutdownCtx); serr != nil {
		s.log.Error(serr, "stopping the callback receiver")
	}
	// The final flush has a budget of its own, not the steady-state cap.
	s.writer.startDrain(max(s.opts.DrainQPS, s.opts.WriteQPS), max(s.opts.WriteBurst, int(s.opts.DrainQPS/10)))
	if derr := s.writer.drain(shutdownCtx); derr != nil {
		s.log.Error(derr, "shutdown: pending status updates not written; the resync will heal them",
			"pending", s.writer.Pending())
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

var _ manager.LeaderElectionRunnable = (*Server)(nil)
