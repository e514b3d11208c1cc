// Command imsim runs the fake Tencent Cloud IM backend (internal/timfake) as
// a server: the REST group API on --listen and callbacks to --callback-url,
// optionally with simulated users acting on groups at --rate events per
// second. The demo and the benchmark use it in place of the real backend,
// which cannot be reached from development machines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "imsim:", err)
		}
		os.Exit(2)
	}
}

type options struct {
	listen, adminID, callbackURL   string
	secretFile, tokenFile          string
	sdkAppID                       uint64
	qps, rate                      float64
	groups, users                  int
	seed                           uint64
	eventTimeNumeric               bool
	simInitialOnly                 bool
	logLevel                       string
	callbackRetries, callbackQueue int
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("imsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8091", "address for the REST API")
	fs.Uint64Var(&o.sdkAppID, "sdkappid", 0, "SDKAppID of the simulated app (required)")
	fs.StringVar(&o.secretFile, "secret-key-file", "", "file holding the app secret key that UserSigs are checked against (required)")
	fs.StringVar(&o.adminID, "admin-identifier", "administrator", "the app admin account REST calls must use")
	fs.StringVar(&o.callbackURL, "callback-url", "", "where callbacks are POSTed; empty sends none")
	fs.StringVar(&o.tokenFile, "callback-token-file", "", "file holding the callback token; adds Sign and RequestTime when set")
	fs.Float64Var(&o.qps, "qps", 0, "REST calls per second before 60007; 0 = unlimited")
	fs.IntVar(&o.groups, "groups", 0, "groups to create at start (sim-group-000...); 0 = none")
	fs.IntVar(&o.users, "users", 10, "simulated users (user-000...)")
	fs.Float64Var(&o.rate, "rate", 0, "simulated user events per second over all groups; 0 = no simulation")
	fs.BoolVar(&o.simInitialOnly, "sim-initial-groups-only", false, "simulate users only in the --groups created at start, leaving groups created later (e.g. by an operator under test) alone")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for generated IDs, simulation and faults")
	fs.BoolVar(&o.eventTimeNumeric, "event-time-numeric", false, "send EventTime as a JSON number instead of a string like the doc samples")
	fs.IntVar(&o.callbackRetries, "callback-retries", 0, "retries of a failed callback (IM default: none)")
	fs.IntVar(&o.callbackQueue, "callback-queue", 4096, "callbacks queued per delivery worker before new ones are lost")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var problems []string
	if o.sdkAppID == 0 {
		problems = append(problems, "--sdkappid is required")
	}
	if o.secretFile == "" {
		problems = append(problems, "--secret-key-file is required")
	}
	if o.adminID == "" {
		problems = append(problems, "--admin-identifier must not be empty")
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		problems = append(problems, fmt.Sprintf("--listen %q: %v", o.listen, err))
	}
	if o.callbackURL != "" {
		u, err := url.Parse(o.callbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("--callback-url %q must be an http:// or https:// URL", o.callbackURL))
		}
	}
	if o.qps < 0 {
		problems = append(problems, "--qps must not be negative")
	}
	if o.rate < 0 {
		problems = append(problems, "--rate must not be negative")
	}
	if o.groups < 0 || o.groups > 100000 {
		problems = append(problems, "--groups must be 0-100000")
	}
	if o.users < 1 {
		problems = append(problems, "--users must be at least 1")
	}
	if o.callbackRetries < 0 || o.callbackQueue < 1 {
		problems = append(problems, "--callback-retries must be >= 0 and --callback-queue >= 1")
	}
	if _, err := parseLevel(o.logLevel); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return o, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// readSecret reads a one-line secret file; the trailing newline editors add
// is not part of the secret.
func readSecret(flagName, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("%s: %s is empty", flagName, path)
	}
	return s, nil
}

// safeURL is the callback URL without query or user info, for logging.
func safeURL(raw string) string {
	if raw == "" {
		return "(none)"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

// run is main without the process: ready, if not nil, receives the address
// actually listened on.
func run(ctx context.Context, args []string, stderr io.Writer, ready chan<- string) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level, _ := parseLevel(o.logLevel)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	key, err := readSecret("--secret-key-file", o.secretFile)
	if err != nil {
		return err
	}
	token := ""
	if o.tokenFile != "" {
		if token, err = readSecret("--callback-token-file", o.tokenFile); err != nil {
			return err
		}
	}

	fake := timfake.New(timfake.Options{
		SDKAppID: o.sdkAppID, SecretKey: key, AdminIdentifier: o.adminID,
		CallbackURL: o.callbackURL, CallbackToken: token, QPS: o.qps, Logger: log,
		EventTimeNumeric: o.eventTimeNumeric, Seed: o.seed,
		CallbackRetries: o.callbackRetries, CallbackQueue: o.callbackQueue,
	})
	defer fake.Close()

	users := make([]string, o.users)
	for i := range users {
		users[i] = fmt.Sprintf("user-%03d", i)
	}
	var initial []string
	for i := range o.groups {
		spec := timfake.GroupSpec{
			Type: timfake.TypePublic, GroupID: fmt.Sprintf("sim-group-%03d", i), Name: fmt.Sprintf("Simulated group %d", i),
			Owner: users[i%len(users)],
		}
		for j := 1; j <= 2 && j < len(users); j++ {
			spec.Members = append(spec.Members, users[(i+j)%len(users)])
		}
		if _, err := fake.Admin().CreateGroup(spec); err != nil {
			return fmt.Errorf("creating %s: %w", spec.GroupID, err)
		}
		initial = append(initial, spec.GroupID)
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("imsim listening", "addr", ln.Addr().String(), "sdkappid", o.sdkAppID, "admin", o.adminID,
		"callbackURL", safeURL(o.callbackURL), "callbackAuth", token != "", "qps", o.qps,
		"groups", o.groups, "users", o.users, "rate", o.rate, "seed", o.seed)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	simDone := make(chan struct{})
	var sim *timfake.Simulator
	if o.rate > 0 {
		cfg := timfake.SimConfig{Users: users, Rate: o.rate, Seed: o.seed}
		if o.simInitialOnly {
			if len(initial) == 0 {
				return errors.New("--sim-initial-groups-only needs --groups > 0")
			}
			cfg.Groups = initial
		}
		sim, err = fake.NewSimulator(cfg)
		if err != nil {
			return err
		}
		go func() {
			defer close(simDone)
			_ = sim.Run(ctx)
		}()
	} else {
		close(simDone)
	}

	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	logStats := func(msg string) {
		cb := fake.CallbackStats()
		attrs := []any{"groups", len(fake.Groups()), "callbacksDelivered", cb.Delivered, "callbacksFailed", cb.Failed,
			"callbacksDropped", cb.Dropped, "callbacksOverflowed", cb.Overflowed}
		if sim != nil {
			st := sim.Stats()
			attrs = append(attrs, "simSteps", st.Steps, "simRefused", st.Failed)
		}
		log.Info(msg, attrs...)
	}
wait:
	for {
		select {
		case err := <-serveErr:
			return fmt.Errorf("serving: %w", err)
		case <-tick.C:
			logStats("imsim stats")
		case <-ctx.Done():
			break wait
		}
	}

	log.Info("imsim shutting down")
	<-simDone
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		log.Warn("imsim: HTTP shutdown", "err", err)
	}
	if err := fake.WaitCallbacksDelivered(shCtx); err != nil {
		log.Warn("imsim: callbacks still queued at exit", "err", err)
	}
	logStats("imsim stopped")
	return nil
}
