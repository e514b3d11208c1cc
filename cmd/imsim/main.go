// Command imsim runs the fake Tencent Cloud IM backend (internal/timfake) as
// a server: the REST group API on --listen and callbacks to --callback-url,
// optionally with simulated users acting on groups at --rate events per
// second. The demo and the benchmark use it in place of the real backend,
// which cannot be reached from development machines.
//
// The flags --sdkappid, --secret-key-file and friends describe one app; each
// --app adds another on the same --listen address, as the real backend
// serves every app from one host and picks the app by the sdkappid URL
// parameter. Every app sends its callbacks to --callback-url, signed with its
// own token.
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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
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
	primary                        appSpec // the single-app flags
	listen, callbackURL            string
	users                          int
	seed                           uint64
	eventTimeNumeric               bool
	simInitialOnly                 bool
	logLevel                       string
	callbackRetries, callbackQueue int
	apps                           appsFlag
}

// appSpec is one app: the single-app flags' or one of --app.
type appSpec struct {
	sdkAppID              uint64
	secretFile, tokenFile string
	adminID               string
	groups                int
	qps, rate             float64
}

// appKeys are the keys --app accepts, in the order the usage lists them.
var appKeys = []string{"sdkappid", "secret-key-file", "callback-token-file", "admin-identifier", "groups", "qps", "rate"}

// appsFlag collects repeated --app flags.
type appsFlag []appSpec

// String lists the SDKAppIDs only: the flag package may print it, and the
// rest is paths nobody needs in a usage message.
func (f *appsFlag) String() string {
	if f == nil {
		return ""
	}
	ids := make([]string, len(*f))
	for i, a := range *f {
		ids[i] = strconv.FormatUint(a.sdkAppID, 10)
	}
	return strings.Join(ids, ",")
}

func (f *appsFlag) Set(v string) error {
	a, err := parseApp(v)
	if err != nil {
		return err
	}
	*f = append(*f, a)
	return nil
}

// parseApp reads key=value pairs separated by commas (so paths must not
// contain commas). sdkappid and secret-key-file are required, like the
// primary app's flags; the rest default as those do.
func parseApp(v string) (appSpec, error) {
	a := appSpec{adminID: "administrator"}
	seen := map[string]bool{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return a, fmt.Errorf("%q is not key=value (keys: %s)", kv, strings.Join(appKeys, ", "))
		}
		if seen[k] {
			return a, fmt.Errorf("%s given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "sdkappid":
			a.sdkAppID, err = strconv.ParseUint(val, 10, 64)
		case "secret-key-file":
			a.secretFile = val
		case "callback-token-file":
			a.tokenFile = val
		case "admin-identifier":
			a.adminID = val
		case "groups":
			a.groups, err = strconv.Atoi(val)
		case "qps":
			a.qps, err = strconv.ParseFloat(val, 64)
		case "rate":
			a.rate, err = strconv.ParseFloat(val, 64)
		default:
			return a, fmt.Errorf("unknown key %q (keys: %s)", k, strings.Join(appKeys, ", "))
		}
		if err != nil {
			return a, fmt.Errorf("%s=%q: not a valid number", k, val)
		}
	}
	if problems := a.problems(""); len(problems) > 0 {
		return a, errors.New(strings.Join(problems, "; "))
	}
	return a, nil
}

// problems checks an app's settings, the same for the single-app flags
// (prefix "--") and for the keys of --app (prefix "").
func (a appSpec) problems(prefix string) []string {
	var problems []string
	if a.sdkAppID == 0 {
		problems = append(problems, prefix+"sdkappid is required and must not be 0")
	}
	if a.secretFile == "" {
		problems = append(problems, prefix+"secret-key-file is required")
	}
	if a.adminID == "" {
		problems = append(problems, prefix+"admin-identifier must not be empty")
	}
	if a.groups < 0 || a.groups > 100000 {
		problems = append(problems, prefix+"groups must be 0-100000")
	}
	if a.qps < 0 {
		problems = append(problems, prefix+"qps must not be negative")
	}
	if a.rate < 0 {
		problems = append(problems, prefix+"rate must not be negative")
	}
	return problems
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("imsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8091", "address for the REST API")
	fs.Uint64Var(&o.primary.sdkAppID, "sdkappid", 0, "SDKAppID of the simulated app (required)")
	fs.StringVar(&o.primary.secretFile, "secret-key-file", "", "file holding the app secret key that UserSigs are checked against (required)")
	fs.StringVar(&o.primary.adminID, "admin-identifier", "administrator", "the app admin account REST calls must use")
	fs.StringVar(&o.callbackURL, "callback-url", "", "where callbacks are POSTed; empty sends none")
	fs.StringVar(&o.primary.tokenFile, "callback-token-file", "", "file holding the callback token; adds Sign and RequestTime when set")
	fs.Float64Var(&o.primary.qps, "qps", 0, "REST calls per second before 60007; 0 = unlimited")
	fs.IntVar(&o.primary.groups, "groups", 0, "groups to create at start (sim-group-000...); 0 = none")
	fs.IntVar(&o.users, "users", 10, "simulated users (user-000...)")
	fs.Float64Var(&o.primary.rate, "rate", 0, "simulated user events per second over all groups; 0 = no simulation")
	fs.BoolVar(&o.simInitialOnly, "sim-initial-groups-only", false, "simulate users only in the --groups created at start, leaving groups created later (e.g. by an operator under test) alone")
	fs.Uint64Var(&o.seed, "seed", 1, "seed for generated IDs, simulation and faults")
	fs.BoolVar(&o.eventTimeNumeric, "event-time-numeric", false, "send EventTime as a JSON number instead of a string like the doc samples")
	fs.IntVar(&o.callbackRetries, "callback-retries", 0, "retries of a failed callback (IM default: none)")
	fs.IntVar(&o.callbackQueue, "callback-queue", 4096, "callbacks queued per delivery worker before new ones are lost")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.Var(&o.apps, "app", "another app on the same --listen address, repeatable: "+
		"sdkappid=N,secret-key-file=PATH[,callback-token-file=PATH][,admin-identifier=NAME][,groups=N][,qps=N][,rate=N] "+
		"(defaults as the single-app flags; the other flags, --callback-url included, apply to every app)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	problems := o.primary.problems("--")
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		problems = append(problems, fmt.Sprintf("--listen %q: %v", o.listen, err))
	}
	if o.callbackURL != "" {
		u, err := url.Parse(o.callbackURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("--callback-url %q must be an http:// or https:// URL", o.callbackURL))
		}
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
	// Checked here rather than when the simulators start, so nothing is
	// listening yet when the flags are wrong.
	if o.simInitialOnly {
		for _, a := range append([]appSpec{o.primary}, o.apps...) {
			if a.rate > 0 && a.groups == 0 {
				if a.sdkAppID == o.primary.sdkAppID {
					problems = append(problems, "--sim-initial-groups-only needs --groups > 0")
				} else {
					problems = append(problems, fmt.Sprintf("--app sdkappid=%d: --sim-initial-groups-only needs groups > 0 with a rate", a.sdkAppID))
				}
			}
		}
	}
	// One endpoint can serve an app only once: requests name the app, not
	// which of two Servers of it they mean.
	served := map[uint64]bool{o.primary.sdkAppID: true}
	for _, a := range o.apps {
		if served[a.sdkAppID] {
			problems = append(problems, fmt.Sprintf("--app sdkappid=%d: app served twice", a.sdkAppID))
		}
		served[a.sdkAppID] = true
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

// readSecret reads a secret file by the operator's own rule for it
// (tim.SecretKeyFrom, callbacksign.TokenFrom), so that both sides agree on
// what the file holds.
func readSecret(flagName, path string, from func([]byte) string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	s := from(b)
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

// app is one served app: its Server, the groups made at start and, with a
// rate, its simulated users.
type app struct {
	spec    appSpec
	fake    *timfake.Server
	signed  bool // callbacks carry Sign
	initial []string
	sim     *timfake.Simulator
	// attrs start this app's log lines: nothing with one app, so its lines
	// stay as they always were, the sdkappid with several.
	attrs []any
}

// startApp reads the app's secrets, builds its Server and creates its
// initial groups. flagName names a setting in errors the way the user gave
// it: --secret-key-file for the primary app, "--app sdkappid=N
// secret-key-file" for another.
func startApp(spec appSpec, o options, seed uint64, users []string, log *slog.Logger, attrs []any, flagName func(string) string) (*app, error) {
	key, err := readSecret(flagName("secret-key-file"), spec.secretFile, tim.SecretKeyFrom)
	if err != nil {
		return nil, err
	}
	token := ""
	if spec.tokenFile != "" {
		if token, err = readSecret(flagName("callback-token-file"), spec.tokenFile, callbacksign.TokenFrom); err != nil {
			return nil, err
		}
	}
	fake := timfake.New(timfake.Options{
		SDKAppID: spec.sdkAppID, SecretKey: key, AdminIdentifier: spec.adminID,
		CallbackURL: o.callbackURL, CallbackToken: token, QPS: spec.qps, Logger: log.With(attrs...),
		EventTimeNumeric: o.eventTimeNumeric, Seed: seed,
		CallbackRetries: o.callbackRetries, CallbackQueue: o.callbackQueue,
	})
	a := &app{spec: spec, fake: fake, signed: token != "", attrs: attrs}
	for i := range spec.groups {
		gs := timfake.GroupSpec{
			Type: timfake.TypePublic, GroupID: fmt.Sprintf("sim-group-%03d", i), Name: fmt.Sprintf("Simulated group %d", i),
			Owner: users[i%len(users)],
		}
		for j := 1; j <= 2 && j < len(users); j++ {
			gs.Members = append(gs.Members, users[(i+j)%len(users)])
		}
		if _, err := fake.Admin().CreateGroup(gs); err != nil {
			fake.Close()
			return nil, fmt.Errorf("creating %s: %w", gs.GroupID, err)
		}
		a.initial = append(a.initial, gs.GroupID)
	}
	return a, nil
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

	users := make([]string, o.users)
	for i := range users {
		users[i] = fmt.Sprintf("user-%03d", i)
	}
	multi := len(o.apps) > 0
	var apps []*app
	defer func() {
		for _, a := range apps {
			a.fake.Close()
		}
	}()
	for i, spec := range append([]appSpec{o.primary}, o.apps...) {
		flagName := func(k string) string { return "--" + k }
		var attrs []any
		if i > 0 {
			flagName = func(k string) string { return fmt.Sprintf("--app sdkappid=%d %s", spec.sdkAppID, k) }
		}
		if multi {
			attrs = []any{"sdkappid", spec.sdkAppID}
		}
		// Each app its own seed, so apps do not generate the same IDs or
		// simulate in lockstep; the primary keeps --seed as it is.
		a, err := startApp(spec, o, o.seed+uint64(i), users, log, attrs, flagName)
		if err != nil {
			return err
		}
		apps = append(apps, a)
	}

	// Simulators are built before listening, so a refused configuration
	// leaves nothing running; they start once the endpoint is up.
	for i, a := range apps {
		if a.spec.rate <= 0 {
			continue
		}
		cfg := timfake.SimConfig{Users: users, Rate: a.spec.rate, Seed: o.seed + uint64(i)}
		if o.simInitialOnly {
			cfg.Groups = a.initial
		}
		if a.sim, err = a.fake.NewSimulator(cfg); err != nil {
			return err
		}
	}

	var handler http.Handler = apps[0].fake
	if multi {
		all, err := timfake.NewApps()
		if err != nil {
			return err
		}
		for _, a := range apps {
			if err := all.Add(a.fake); err != nil {
				return err
			}
		}
		handler = all
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", o.listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	for _, a := range apps[1:] {
		log.Info("imsim app", "sdkappid", a.spec.sdkAppID, "admin", a.spec.adminID, "callbackAuth", a.signed,
			"qps", a.spec.qps, "groups", a.spec.groups, "rate", a.spec.rate)
	}
	log.Info("imsim listening", "addr", ln.Addr().String(), "sdkappid", o.primary.sdkAppID, "admin", o.primary.adminID,
		"callbackURL", safeURL(o.callbackURL), "callbackAuth", apps[0].signed, "qps", o.primary.qps,
		"groups", o.primary.groups, "users", o.users, "rate", o.primary.rate, "seed", o.seed)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	simDone := make(chan struct{})
	var sims sync.WaitGroup
	for _, a := range apps {
		if a.sim != nil {
			sims.Go(func() { _ = a.sim.Run(ctx) })
		}
	}
	go func() {
		sims.Wait()
		close(simDone)
	}()

	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	logStats := func(msg string) {
		for _, a := range apps {
			cb := a.fake.CallbackStats()
			attrs := append(append([]any(nil), a.attrs...), "groups", len(a.fake.Groups()), "callbacksDelivered", cb.Delivered,
				"callbacksFailed", cb.Failed, "callbacksDropped", cb.Dropped, "callbacksOverflowed", cb.Overflowed)
			if a.sim != nil {
				st := a.sim.Stats()
				attrs = append(attrs, "simSteps", st.Steps, "simRefused", st.Failed)
			}
			log.Info(msg, attrs...)
		}
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
	for _, a := range apps {
		if err := a.fake.WaitCallbacksDelivered(shCtx); err != nil {
			log.Warn("imsim: callbacks still queued at exit", append(append([]any(nil), a.attrs...), "err", err)...)
		}
	}
	logStats("imsim stopped")
	return nil
}
