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
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatgroups,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Options configure the receiver; main fills them from flags.
type Options struct {
	// SDKAppID is the app's SDKAppID; callbacks for another are refused.
	SDKAppID uint64
	// Token is the callback authentication token; empty disables the Sign
	// check (a warning is logged at start).
	Token string
	// MaxSkew bounds |now - RequestTime|: zero means DefaultMaxSkew, a
	// negative value disables the freshness check.
	MaxSkew time.Duration
	// BindAddress and Path are where callbacks are received.
	BindAddress string
	Path        string
	// DiscoveryNamespace, when set, receives a ChatGroup (Observe) for each
	// group that no ChatGroup claims.
	DiscoveryNamespace string
	// WriteQPS and WriteBurst bound status writes (token bucket).
	WriteQPS   float64
	WriteBurst int
	// MaxPendingGroups bounds the ChatGroups with unwritten changes; past
	// it callbacks are refused with 503.
	MaxPendingGroups int
	// Workers is the number of concurrent status writers (default 4).
	Workers int
	// ShutdownTimeout bounds the final flush on shutdown (default 20s,
	// below the manager's 30s graceful shutdown timeout).
	ShutdownTimeout time.Duration
	// AlarmRegarding is the object IM's alarm callbacks are raised on as
	// Warning Events (the manager's Pod); nil: logged and counted only.
	AlarmRegarding *corev1.ObjectReference
	// CertDir, when set, holds tls.crt and tls.key: callbacks are received
	// over HTTPS, and a changed certificate is served without a restart.
	CertDir string
}

// Defaults for Options left zero.
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
)

func (o *Options) defaults() {
	if o.BindAddress == "" {
		o.BindAddress = DefaultBindAddress
	}
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = DefaultMaxSkew
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
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
}

// Validate reports an option that cannot work.
func (o *Options) Validate() error {
	switch {
	case o.SDKAppID == 0:
		return errors.New("the SDKAppID is required")
	case o.WriteQPS < 0 || o.WriteBurst < 0:
		return errors.New("WriteQPS and WriteBurst must not be negative")
	case o.MaxPendingGroups < 0:
		return errors.New("MaxPendingGroups must not be negative")
	case o.Path != "" && o.Path[0] != '/':
		return errors.New("the callback path must start with '/'")
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
}

// New builds the receiver for mgr.
func New(mgr manager.Manager, opts Options) (*Server, error) {
	opts.defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	log := mgr.GetLogger().WithName("webhookserver")
	w := NewWriter(mgr.GetClient(), mgr.GetAPIReader(), eventSink{rec: mgr.GetEventRecorder("chatgroup-webhook")},
		opts.WriteQPS, opts.WriteBurst, opts.MaxPendingGroups, log.WithName("writer"))
	h := &handler{opts: opts, routes: newRoutes(), writer: w, log: log, now: time.Now,
		alarms: newAlarmSink(mgr.GetEventRecorder("chatgroup-webhook"), opts.AlarmRegarding, log.WithName("alarms"))}
	certs, err := newCertWatcher(opts.CertDir)
	if err != nil {
		return nil, err
	}
	return &Server{opts: opts, mgr: mgr, handler: h, writer: w, log: log, certs: certs}, nil
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
	if s.opts.Token == "" {
		s.log.Info("WARNING: no callback token (--callback-token-file unset or empty): the Sign of callbacks is not checked; anyone who can reach the receiver can write ChatGroup status")
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
