package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

// webhookFlags are the callback receiver's command-line settings (see
// docs/design.md, "The manager's command line"). They only parse:
// webhookserver.Options.Validate is the one place the values are checked,
// and its errors are reported here under the flag's name.
type webhookFlags struct {
	opts      webhookserver.Options
	tokenFile string
}

// webhookFlagNames maps each Options field to the flag that sets it.
var webhookFlagNames = map[string]string{
	"SDKAppID":           "--sdkappid",
	"Token":              "--callback-token-file",
	"MaxSkew":            "--callback-max-skew",
	"BindAddress":        "--webhook-bind-address",
	"Path":               "--webhook-path",
	"DiscoveryNamespace": "--discovery-namespace",
	"DiscoveryMaxGroups": "--discovery-max-groups",
	"DiscoveryPerMinute": "--discovery-per-minute",
	"WriteQPS":           "--status-write-qps",
	"WriteBurst":         "--status-write-burst",
	"ExpectedReplicas":   "--expected-replicas",
	"MaxPendingGroups":   "--max-pending-groups",
	"MaxInFlight":        "--max-inflight-callbacks",
	"CertDir":            "--webhook-cert-dir",
}

func (o *webhookFlags) bind(fs *flag.FlagSet) {
	w := &o.opts
	fs.Uint64Var(&w.SDKAppID, "sdkappid", 0,
		"The default app's SDKAppID: the app of every ChatGroup without spec.appRef. Optional: without it only ChatApps are served.")
	fs.StringVar(&o.tokenFile, "callback-token-file", "",
		"File holding the callback authentication token (required unless --insecure-skip-callback-auth).")
	fs.BoolVar(&w.InsecureSkipAuth, "insecure-skip-callback-auth", false,
		"Accept callbacks without checking their Sign: anyone who can reach the receiver can then write ChatGroup status. For local tests and demos only; discovery is off.")
	fs.DurationVar(&w.MaxSkew, "callback-max-skew", webhookserver.DefaultMaxSkew,
		"How far a callback's RequestTime may be from now; 0 disables the check.")
	fs.StringVar(&w.BindAddress, "webhook-bind-address", webhookserver.DefaultBindAddress,
		"Address the callback receiver binds to.")
	fs.StringVar(&w.Path, "webhook-path", webhookserver.DefaultPath,
		"URL path of the callback receiver.")
	fs.StringVar(&w.DiscoveryNamespace, "discovery-namespace", "",
		"Namespace where ChatGroups (managementPolicy Observe) are created for groups no ChatGroup declares; empty: such callbacks are ignored. Needs a callback token.")
	fs.IntVar(&w.DiscoveryMaxGroups, "discovery-max-groups", webhookserver.DefaultDiscoveryMaxGroups,
		"Most ChatGroups discovery keeps in --discovery-namespace; past it undeclared groups are ignored (counted in chatgroup_webhook_discovery_refused_total).")
	fs.Float64Var(&w.DiscoveryPerMinute, "discovery-per-minute", webhookserver.DefaultDiscoveryPerMinute,
		"Most ChatGroups discovery creates per minute, for each app.")
	fs.Float64Var(&w.WriteQPS, "status-write-qps", webhookserver.DefaultWriteQPS,
		"Most ChatGroup status writes per second made by the callback receivers, all replicas together (each takes its share).")
	fs.IntVar(&w.WriteBurst, "status-write-burst", webhookserver.DefaultWriteBurst,
		"Status writes the callback receiver may make at once above --status-write-qps.")
	fs.IntVar(&w.ExpectedReplicas, "expected-replicas", 1,
		"Replicas of the manager: the status-write budget is shared by the live receivers, counted through Leases in the operator's namespace, or divided by this number when they cannot be counted.")
	fs.IntVar(&w.MaxPendingGroups, "max-pending-groups", webhookserver.DefaultMaxPendingGroups,
		"Most ChatGroups with unwritten callback updates; past it callbacks are answered 503.")
	fs.IntVar(&w.MaxInFlight, "max-inflight-callbacks", webhookserver.DefaultMaxInFlight,
		"Most callbacks read and decoded at once; past it requests are answered 503 before their body is read (memory stays below this x 1 MiB).")
	fs.StringVar(&w.CertDir, "webhook-cert-dir", "",
		"Directory with tls.crt and tls.key: the callback receiver serves HTTPS and re-reads them when they change; empty: plain HTTP.")
}

// validate reads the token file and checks the options, naming the flag.
func (o *webhookFlags) validate() error {
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return fmt.Errorf("--callback-token-file: %w", err)
		}
		o.opts.Token = callbacksign.TokenFrom(b)
		if o.opts.Token == "" && !o.opts.InsecureSkipAuth {
			return fmt.Errorf("--callback-token-file %s is empty: a callback token is required (or --insecure-skip-callback-auth)", o.tokenFile)
		}
	}
	if err := o.opts.Validate(); err != nil {
		var oe *webhookserver.OptionError
		if errors.As(err, &oe) {
			if oe.Option == "Token" {
				return errors.New("--callback-token-file is required: without a token anyone who can reach the receiver can write ChatGroup status (pass --insecure-skip-callback-auth to run without one on purpose)")
			}
			if name, ok := webhookFlagNames[oe.Option]; ok {
				return fmt.Errorf("%s: %s", name, oe.Msg)
			}
		}
		return err
	}
	return nil
}

// options returns the receiver's options; IM's alarms are raised on the
// manager's own Pod when it runs in one.
func (o *webhookFlags) options() webhookserver.Options {
	opts := o.opts
	opts.AlarmRegarding = podReference()
	return opts
}
