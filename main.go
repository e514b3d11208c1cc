// Command manager runs the chatgroup-operator: the ChatGroup controller, which
// pushes declared state to Tencent Cloud IM, and the callback receiver, which
// records what IM reports as ChatGroup status.
package main

import (
	"cmp"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/cacheconfig"
	"github.com/chatgroup-operator/chatgroup-operator/internal/destroybudget"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupmetrics"
	"github.com/chatgroup-operator/chatgroup-operator/internal/objwrite"
	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

// options are the manager's command-line settings. docs/design.md's "command line"
// section is a contract: tests outside the repository depend on these names.
type options struct {
	metricsAddr string
	probeAddr   string
	leaderElect bool
	leaderNS    string
	operatorNS  string
	zap         zap.Options
	webhook     webhookFlags    // the callback receiver's flags: webhook_flags.go
	controller  controllerFlags // the ChatGroup controller's flags: controller_flags.go

	// metricsSecure serves metrics with HTTPS and authorization: metricsOptions.
	metricsSecure bool
}

func (o *options) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080",
		"Address the Prometheus metrics endpoint binds to; 0 disables it.")
	fs.BoolVar(&o.metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, only to callers the API server authenticates (TokenReview) and authorizes (SubjectAccessReview, get on /metrics); false serves plain HTTP to anyone.")
	fs.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081",
		"Address the /healthz and /readyz probe endpoint binds to.")
	fs.BoolVar(&o.leaderElect, "leader-elect", false,
		"Elect a leader so that only one replica pushes to IM and resyncs; every replica receives callbacks.")
	fs.StringVar(&o.leaderNS, "leader-election-namespace", "",
		"Namespace of the operator's Leases (leader election, the destroy budget); in a pod it defaults to the pod's namespace, outside one it is required with --leader-elect, and without it deletionPolicy Delete waits instead of destroying.")
	fs.StringVar(&o.operatorNS, "operator-namespace", "",
		"The operator's own namespace: ChatApps' credentials Secrets are read there (and only there), and its Leases live there. In a pod it defaults to the pod's namespace; outside one (tests, the demo) set it, or ChatApps cannot load their Secrets.")
	// Stack traces on every error line bury the message an operator needs;
	// --zap-stacktrace-level brings them back for debugging.
	o.zap.StacktraceLevel = zapcore.PanicLevel
	o.zap.BindFlags(fs)
	o.webhook.bind(fs)
	o.controller.bind(fs)
}

// validate refuses settings that cannot work, with a message that says which
// flag is wrong, before anything starts.
func (o *options) validate() error {
	if err := o.webhook.validate(); err != nil {
		return err
	}
	if err := o.controller.validate(); err != nil {
		return err
	}
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var opts options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	opts.bind(fs)
	// --kubeconfig is registered on the global FlagSet by controller-runtime.
	flag.CommandLine.VisitAll(func(f *flag.Flag) { fs.Var(f.Value, f.Name, f.Usage) })
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := opts.validate(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts.zap)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := imv1alpha1.AddToScheme(scheme); err != nil {
		return err
	}

	opNS := operatorNamespace(opts.operatorNS, opts.leaderNS)
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheconfig.Options(opNS),
		Metrics:                       metricsOptions(opts.metricsAddr, opts.metricsSecure),
		HealthProbeBindAddress:        opts.probeAddr,
		LeaderElection:                opts.leaderElect,
		LeaderElectionID:              "chatgroup-operator.im.chatgroup.dev",
		LeaderElectionNamespace:       cmp.Or(opts.leaderNS, opts.operatorNS),
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}

	ctx := ctrl.SetupSignalHandler()
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	// The receiver and the controller write ChatGroups through one object
	// writer, so each starts from what the other just wrote.
	objects := objwrite.New(mgr.GetClient(), mgr.GetAPIReader())
	ctrlOpts, err := opts.controller.options(opts.webhook.opts.SDKAppID)
	if err != nil {
		return err
	}
	// One registry of apps for the receiver and the controller: the flags'
	// app here, the ChatApps from the controller that loads them.
	registry := apps.New()
	webhookOpts := opts.webhook.options()
	if app, ok := webhookOpts.DefaultApp(); ok {
		app.Client, app.NoClient = ctrlOpts.IM, noKeyMessage
		registry.Set(app)
		if err := mgr.Add(watchCredentialFiles(registry, opts.webhook.tokenFile, opts.controller.secretKeyFile, ctrlOpts.IM)); err != nil {
			return err
		}
	} else {
		log.Info("no --sdkappid: there is no default app; ChatGroups need spec.appRef naming a ChatApp")
	}
	// The callback receiver runs on every replica and adds its own readyz check.
	webhookOpts.Objects = objects
	webhookOpts.Apps = registry
	// The receivers count each other through Leases in the operator's
	// namespace and share the status-write budget.
	webhookOpts.Namespace = opNS
	webhookOpts.Identity = os.Getenv("POD_NAME")
	if _, err := webhookserver.Setup(mgr, webhookOpts); err != nil {
		return fmt.Errorf("setting up the callback receiver: %w", err)
	}

	// ChatGroup health gauges, counted from the cache at scrape time.
	if err := groupmetrics.Register(mgr); err != nil {
		return fmt.Errorf("registering the ChatGroup health metrics: %w", err)
	}

	// The controller pushes and resyncs on the leader only.
	ctrlOpts.Objects = objects
	ctrlOpts.Apps = registry
	ctrlOpts.OperatorNamespace = opNS
	ctrlOpts.BudgetNamespace = opNS
	if ctrlOpts.BudgetNamespace == "" {
		log.Info("WARNING: " + destroybudget.ErrNoNamespace.Error() + ": deletionPolicy Delete waits instead of destroying groups")
	}
	if ctrlOpts.IM == nil && opts.webhook.opts.SDKAppID != 0 {
		log.Info("WARNING: " + noKeyMessage)
	}
	if opNS == "" {
		log.Info("WARNING: the operator's namespace is unknown (--operator-namespace): ChatApps cannot read their credentials Secrets")
	}
	if _, _, err := controllers.Setup(mgr, ctrlOpts); err != nil {
		return fmt.Errorf("setting up the ChatGroup controller: %w", err)
	}

	log.Info("starting manager", "leaderElection", opts.leaderElect)
	return mgr.Start(ctx)
}

// operatorNamespace is the namespace holding the operator's own records
// (ChatApps' Secrets, the destroy-budget and receiver Leases):
// --operator-namespace, else --leader-election-namespace, else the pod's
// namespace from POD_NAMESPACE (the chart's downward API) or the service
// account, else "" (outside a cluster).
func operatorNamespace(operatorNS, leaderNS string) string {
	if ns := cmp.Or(operatorNS, leaderNS); ns != "" {
		return ns
	}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

// metricsOptions serves metrics as kubebuilder's go/v4 scaffold does. With
// secure: HTTPS (a self-signed certificate, generated at start) and
// controller-runtime's authentication and authorization filter, so only a
// caller the API server authenticates and allows "get" on the non-resource
// URL /metrics can scrape, not anyone who can reach the pod.
// HTTP/2 is off, as in the scaffold: its stream handling had denial-of-service
// flaws (HTTP/2 Rapid Reset), and a scraper needs nothing but HTTP/1.1.
func metricsOptions(addr string, secure bool) metricsserver.Options {
	o := metricsserver.Options{BindAddress: addr, SecureServing: secure}
	if secure {
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
		o.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return o
}
