package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

// webhookFlags are the callback receiver's command-line settings (see
// DESIGN.md, "The manager's command line"). They live apart from main.go so
// that the receiver's flags and the controller's do not collide in one file.
type webhookFlags struct {
	sdkAppID           uint64
	tokenFile          string
	maxSkew            time.Duration
	bindAddress        string
	path               string
	discoveryNamespace string
	writeQPS           float64
	writeBurst         int
	maxPendingGroups   int
	certDir            string

	token string // read from tokenFile by validate
}

func (o *webhookFlags) bind(fs *flag.FlagSet) {
	fs.Uint64Var(&o.sdkAppID, "sdkappid", 0,
		"The app's SDKAppID (required); callbacks whose SdkAppid differs are refused.")
	fs.StringVar(&o.tokenFile, "callback-token-file", "",
		"File holding the callback authentication token; empty (flag or file): the Sign of callbacks is not checked.")
	fs.DurationVar(&o.maxSkew, "callback-max-skew", webhookserver.DefaultMaxSkew,
		"How far a callback's RequestTime may be from now; 0 disables the check.")
	fs.StringVar(&o.bindAddress, "webhook-bind-address", webhookserver.DefaultBindAddress,
		"Address the callback receiver binds to.")
	fs.StringVar(&o.path, "webhook-path", webhookserver.DefaultPath,
		"URL path of the callback receiver.")
	fs.StringVar(&o.discoveryNamespace, "discovery-namespace", "",
		"Namespace where ChatGroups (managementPolicy Observe) are created for groups no ChatGroup declares; empty: such callbacks are ignored.")
	fs.Float64Var(&o.writeQPS, "status-write-qps", webhookserver.DefaultWriteQPS,
		"Most ChatGroup status writes per second made by the callback receiver.")
	fs.IntVar(&o.writeBurst, "status-write-burst", webhookserver.DefaultWriteBurst,
		"Status writes the callback receiver may make at once above --status-write-qps.")
	fs.IntVar(&o.maxPendingGroups, "max-pending-groups", webhookserver.DefaultMaxPendingGroups,
		"Most ChatGroups with unwritten callback updates; past it callbacks are answered 503.")
	fs.StringVar(&o.certDir, "webhook-cert-dir", "",
		"Directory with tls.crt and tls.key: the callback receiver serves HTTPS and re-reads them when they change; empty: plain HTTP.")
}

func (o *webhookFlags) validate() error {
	if o.sdkAppID == 0 {
		return errors.New("--sdkappid is required: the app's SDKAppID, a positive number")
	}
	if o.tokenFile != "" {
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return fmt.Errorf("--callback-token-file: %w", err)
		}
		// An empty file (the chart mounts one when no token is set) means
		// no token, like an empty flag: the receiver warns at start.
		o.token = strings.TrimRight(string(b), "\r\n")
	}
	if o.maxSkew < 0 {
		return fmt.Errorf("--callback-max-skew must not be negative, got %v", o.maxSkew)
	}
	if _, _, err := net.SplitHostPort(o.bindAddress); err != nil {
		return fmt.Errorf("--webhook-bind-address %q: %w", o.bindAddress, err)
	}
	if !strings.HasPrefix(o.path, "/") {
		return fmt.Errorf("--webhook-path must start with '/', got %q", o.path)
	}
	if ns := o.discoveryNamespace; ns != "" {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("--discovery-namespace %q is not a namespace name: %s", ns, strings.Join(errs, "; "))
		}
	}
	if o.writeQPS <= 0 {
		return fmt.Errorf("--status-write-qps must be positive, got %v", o.writeQPS)
	}
	if o.writeBurst < 1 {
		return fmt.Errorf("--status-write-burst must be at least 1, got %d", o.writeBurst)
	}
	if o.maxPendingGroups < 1 {
		return fmt.Errorf("--max-pending-groups must be at least 1, got %d", o.maxPendingGroups)
	}
	if o.certDir != "" {
		if fi, err := os.Stat(o.certDir); err != nil {
			return fmt.Errorf("--webhook-cert-dir: %w", err)
		} else if !fi.IsDir() {
			return fmt.Errorf("--webhook-cert-dir %q is not a directory", o.certDir)
		}
	}
	return nil
}

func (o *webhookFlags) options() webhookserver.Options {
	skew := o.maxSkew
	if skew == 0 {
		skew = -1 // the flag's 0 disables the check; Options' 0 means the default
	}
	return webhookserver.Options{
		SDKAppID:           o.sdkAppID,
		Token:              o.token,
		MaxSkew:            skew,
		BindAddress:        o.bindAddress,
		Path:               o.path,
		DiscoveryNamespace: o.discoveryNamespace,
		WriteQPS:           o.writeQPS,
		WriteBurst:         o.writeBurst,
		MaxPendingGroups:   o.maxPendingGroups,
		CertDir:            o.certDir,
		AlarmRegarding:     podReference(),
	}
}
