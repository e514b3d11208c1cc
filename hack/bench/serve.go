package main

// The two targets, each run as a child process of the harness (the harness
// re-executes its own binary with -serve), so that their CPU and RSS can be
// read from /proc and neither shares a Go runtime with the load generator:
//
//   - ours: a manager with the informer cache, the spec.groupID index and
//     the callback receiver (webhookserver.Setup), wired as main.go wires
//     them, without the ChatGroup controller (no IM credentials to read
//     with, and it is not what is measured here), plus pprof and a /stats
//     endpoint with the writer's counters.
//   - bare: a net/http server whose handler reads the body, JSON-decodes
//     it and answers the OK envelope: what this machine can do at all.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/chatgroup-operator/chatgroup-operator/internal/cacheconfig"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

// serveConfig is what the harness passes to a child.
type serveConfig struct {
	Mode       string  `json:"mode"` // ours | bare
	Addr       string  `json:"addr"`
	StatsAddr  string  `json:"statsAddr"`
	PprofAddr  string  `json:"pprofAddr"`
	Kubeconfig string  `json:"kubeconfig"`
	AppID      uint64  `json:"appID"`
	Token      string  `json:"token"`
	WriteQPS   float64 `json:"writeQPS"`
	WriteBurst int     `json:"writeBurst"`
	Profile    bool    `json:"profile"`
	// Namespace and Identity make the receiver share the write budget
	// with the others through Leases (the replicas phase); empty: the
	// whole budget is its own.
	Namespace string `json:"namespace,omitempty"`
	Identity  string `json:"identity,omitempty"`
}

// childStats is what /stats answers.
type childStats struct {
	Writer    webhookserver.WriterStats `json:"writer"`
	Pending   int                       `json:"pending"`
	HeapAlloc uint64                    `json:"heapAlloc"`
	Sys       uint64                    `json:"sys"`
	NumGC     uint32                    `json:"numGC"`
	Ready     bool                      `json:"ready"`
}

func serve(cfgJSON string) error {
	var cfg serveConfig
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch cfg.Mode {
	case "bare":
		return serveBare(ctx, cfg)
	case "ours":
		return serveOurs(ctx, cfg)
	}
	return fmt.Errorf("unknown mode %q", cfg.Mode)
}

// bareBody is the union of the fields of the callbacks sent: the bare
// handler decodes every body into it, as a typed decoder would.
type bareBody struct {
	CallbackCommand string          `json:"CallbackCommand"`
	GroupID         string          `json:"GroupId"`
	Type            string          `json:"Type"`
	OperatorAccount string          `json:"Operator_Account"`
	FromAccount     string          `json:"From_Account"`
	Random          int64           `json:"Random"`
	MsgSeq          int64           `json:"MsgSeq"`
	MsgTime         int64           `json:"MsgTime"`
	OnlineOnlyFlag  int64           `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	Name            *string         `json:"Name"`
	Introduction    *string         `json:"Introduction"`
	Notification    *string         `json:"Notification"`
	OptionType      string          `json:"OptionType"`
	GroupAttr       []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"GroupAttr"`
	NewMemberList []struct {
		MemberAccount string `json:"Member_Account"`
	} `json:"NewMemberList"`
	ExitMemberList []struct {
		MemberAccount string `json:"Member_Account"`
	} `json:"ExitMemberList"`
	EventTime json.RawMessage `json:"EventTime"`
}

func bareHandler(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhookserver.MaxBodyBytes))
	var b bareBody
	if err == nil {
		err = json.Unmarshal(body, &b)
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"ActionStatus":"FAIL","ErrorInfo":"bad body","ErrorCode":400}`))
		return
	}
	_, _ = w.Write([]byte(`{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`))
}

// httpServer has the receiver's timeouts (webhookserver/server.go).
func httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
}

func serveBare(ctx context.Context, cfg serveConfig) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/callback", bareHandler)
	srv := httpServer(mux)
	go func() { <-ctx.Done(); _ = srv.Close() }()
	go statsServer(ctx, cfg.StatsAddr, func() childStats { return memStats(childStats{Ready: true}) })
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func memStats(s childStats) childStats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.HeapAlloc, s.Sys, s.NumGC = m.HeapAlloc, m.Sys, m.NumGC
	return s
}

func statsServer(ctx context.Context, addr string, stats func() childStats) {
	mux := http.NewServeMux()
	mux.HandleFunc("/writes", func(w http.ResponseWriter, r *http.Request) {
		from, _ := strconv.Atoi(r.URL.Query().Get("from"))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(writeLog.since(from))
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(stats())
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	_ = srv.ListenAndServe()
}

func serveOurs(ctx context.Context, cfg serveConfig) error {
	ctrl.SetLogger(zap.New(zap.UseDevMode(false)))
	if cfg.Profile {
		runtime.SetMutexProfileFraction(10)
		runtime.SetBlockProfileRate(int(50 * time.Microsecond))
	}
	os.Setenv("KUBECONFIG", cfg.Kubeconfig) //nolint:errcheck
	rc, err := ctrl.GetConfig()             // as main.go: QPS -1, API priority and fairness only
	if err != nil {
		return err
	}
	scheme, err := testenv.Scheme()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(rc, ctrl.Options{
		Scheme: scheme,
		Cache:  cacheconfig.Options(""),
		NewClient: func(cfg *rest.Config, o client.Options) (client.Client, error) {
			c, err := client.New(cfg, o)
			if err != nil {
				return nil, err
			}
			return recordingClient{Client: c}, nil
		},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		PprofBindAddress:       cfg.PprofAddr,
	})
	if err != nil {
		return err
	}
	srv, err := webhookserver.Setup(mgr, webhookserver.Options{
		SDKAppID:         cfg.AppID,
		Token:            cfg.Token,
		InsecureSkipAuth: cfg.Token == "", // the bench signs when it has a token
		BindAddress:      cfg.Addr,
		Path:             "/callback",
		WriteQPS:         cfg.WriteQPS,
		WriteBurst:       cfg.WriteBurst,
		Namespace:        cfg.Namespace,
		Identity:         cfg.Identity,
		// Replicas find each other within seconds, not the default 10 s.
		ShareRenew: 2 * time.Second,
	})
	if err != nil {
		return err
	}
	go statsServer(ctx, cfg.StatsAddr, func() childStats {
		return memStats(childStats{Writer: srv.Writer().Stats(), Pending: srv.Writer().Pending(), Ready: srv.Addr() != ""})
	})
	return mgr.Start(ctx)
}

// writeLog records when each status write request (and discovery create)
// was sent to the API server, so the harness can check the write cap
// exactly instead of from watch events, which a busy API server delivers
// in bunches.
var writeLog = &tsLog{}

type tsLog struct {
	mu sync.Mutex
	ts []int64 // Unix ns
}

func (l *tsLog) add() {
	now := time.Now().UnixNano()
	l.mu.Lock()
	l.ts = append(l.ts, now)
	l.mu.Unlock()
}

func (l *tsLog) since(i int) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < 0 || i > len(l.ts) {
		i = len(l.ts)
	}
	return append([]int64(nil), l.ts[i:]...)
}

type recordingClient struct{ client.Client }

func (c recordingClient) Status() client.SubResourceWriter {
	return recordingStatus{c.Client.Status()}
}

type recordingStatus struct{ client.SubResourceWriter }

func (s recordingStatus) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	writeLog.add()
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}

func (s recordingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	writeLog.add()
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}
