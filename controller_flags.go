package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/destroybudget"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timmetrics"
)

// controllerFlags are the ChatGroup controller's command-line settings (see
// docs/design.md, "The manager's command line"). --sdkappid is shared with the
// callback receiver and lives in webhookFlags.
type controllerFlags struct {
	secretKeyFile   string
	adminIdentifier string
	imEndpoint      string
	imQPS           float64
	imInsecureHTTP  bool
	resyncInterval  time.Duration
	maxDestroys     int

	secretKey string // read from secretKeyFile by validate
}

func (o *controllerFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&o.secretKeyFile, "secret-key-file", "",
		"File holding the app's secret key, used to sign the admin UserSig for REST calls. Without it the controller makes no REST call: Enforce cannot push and the resync is off.")
	fs.StringVar(&o.adminIdentifier, "admin-identifier", tim.DefaultAdminIdentifier,
		"The app admin account REST calls are made as.")
	fs.StringVar(&o.imEndpoint, "im-endpoint", tim.DefaultEndpoint,
		"Base URL of the IM REST API (the app's data center), e.g. https://adminapisgp.im.qcloud.com.")
	fs.BoolVar(&o.imInsecureHTTP, "im-insecure-http", false,
		"Accept a plain http:// --im-endpoint on a non-loopback host. Every REST call then carries the admin UserSig in clear text: for a test backend on a private network only.")
	fs.Float64Var(&o.imQPS, "im-qps", tim.DefaultQPS,
		"Most IM REST calls per second, all APIs together.")
	fs.DurationVar(&o.resyncInterval, "resync-interval", controllers.DefaultResyncInterval,
		"How often every group is read back through the REST API (with 10% jitter).")
	fs.IntVar(&o.maxDestroys, "max-destroys-per-hour", destroybudget.DefaultMaxPerWindow,
		"Most destroy_group calls per app in any rolling hour; a deletion past it waits (Synced False DestroyDeferred) until the budget refills. Raise it for a deliberate mass cleanup.")
}

func (o *controllerFlags) validate() error {
	if o.secretKeyFile != "" {
		b, err := os.ReadFile(o.secretKeyFile)
		if err != nil {
			return fmt.Errorf("--secret-key-file: %w", err)
		}
		o.secretKey = tim.SecretKeyFrom(b)
		if o.secretKey == "" {
			return fmt.Errorf("--secret-key-file: %s is empty", o.secretKeyFile)
		}
	}
	if a := o.adminIdentifier; a == "" || strings.TrimSpace(a) != a || strings.ContainsAny(a, "\r\n") {
		return fmt.Errorf("--admin-identifier must be a non-empty account without white space, got %q", a)
	}
	check := tim.ValidateEndpoint
	if o.imInsecureHTTP {
		check = tim.ValidateInsecureEndpoint
	}
	if err := check(o.imEndpoint); err != nil {
		return fmt.Errorf("--im-endpoint: %w", err)
	}
	if !(o.imQPS > 0) || math.IsInf(o.imQPS, 0) {
		return fmt.Errorf("--im-qps must be a positive number, got %v", o.imQPS)
	}
	if o.resyncInterval <= 0 {
		return fmt.Errorf("--resync-interval must be positive, got %v", o.resyncInterval)
	}
	if o.maxDestroys < 1 || o.maxDestroys > destroybudget.MaxPerWindowLimit {
		return fmt.Errorf("--max-destroys-per-hour must be 1 to %d, got %d (deletionPolicy Orphan keeps groups without any budget)", destroybudget.MaxPerWindowLimit, o.maxDestroys)
	}
	return nil
}

// noKeyMessage is what ChatGroups report when --secret-key-file is not set.
const noKeyMessage = "--secret-key-file is not set: the controller makes no IM REST call (no push, no read, no resync)"

// options builds the controller's options; without a secret key the IM
// client is nil, which the controller reports on every ChatGroup.
func (o *controllerFlags) options(sdkAppID uint64) (controllers.Options, error) {
	opts := controllers.Options{ResyncInterval: o.resyncInterval, NoIMMessage: noKeyMessage, MaxDestroysPerHour: o.maxDestroys}
	if o.secretKey == "" {
		return opts, nil
	}
	if sdkAppID == 0 {
		return opts, errors.New("--secret-key-file is the default app's key, and there is no default app without --sdkappid")
	}
	c, err := tim.New(tim.Config{
		Endpoint: o.imEndpoint, SDKAppID: sdkAppID, AdminIdentifier: o.adminIdentifier,
		SecretKey: o.secretKey, QPS: o.imQPS, InsecureHTTP: o.imInsecureHTTP, Observer: timmetrics.New(),
	})
	if err != nil {
		return opts, fmt.Errorf("IM REST client: %w", err)
	}
	opts.IM = c
	return opts, nil
}
