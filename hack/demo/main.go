// Command demo runs chatgroup-operator on a laptop with no cluster: a local
// kube-apiserver and etcd, the fake IM backend (imsim) with simulated users
// chatting in a few groups, and the manager between them. `make demo` builds
// everything and runs it; `kubectl get chatgroups -w` then shows the groups
// change as the simulated users act.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
)

// The demo's fixed local addresses; all on loopback.
const (
	sdkAppID = "1400000001"
	// The second app, a ChatApp beside the flags' default app: same fake
	// backend address (IM serves every app from one endpoint), its own key,
	// token and groups.
	secondAppID  = 1400000002
	secondApp    = "second-app"
	secondAppNS  = "second-app"
	imAddr       = "127.0.0.1:18091"
	callbackAddr = "127.0.0.1:18090"
	metricsAddr  = "127.0.0.1:18080"
	probeAddr    = "127.0.0.1:18081"
)

type config struct {
	managerBin string
	imsimBin   string
	workDir    string
	groups     int
	users      int
	rate       float64
}

func main() {
	var cfg config
	flag.StringVar(&cfg.managerBin, "manager", "bin/manager", "manager binary")
	flag.StringVar(&cfg.imsimBin, "imsim", "bin/imsim", "imsim binary")
	flag.StringVar(&cfg.workDir, "work-dir", "bin/demo", "where the kubeconfig, credentials and logs go")
	flag.IntVar(&cfg.groups, "groups", 3, "groups the simulated users chat in")
	flag.IntVar(&cfg.users, "users", 8, "simulated users")
	flag.Float64Var(&cfg.rate, "rate", 4, "simulated user actions per second")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	for _, bin := range []string{cfg.managerBin, cfg.imsimBin} {
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s is missing; run `make demo`, which builds it: %w", bin, err)
		}
	}
	work, err := filepath.Abs(cfg.workDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}

	say("starting kube-apiserver and etcd ...")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() {
		say("stopping kube-apiserver and etcd")
		_ = env.Stop()
	}()
	kubeconfig, err := writeKubeconfig(env.Environment, filepath.Join(work, "kubeconfig"))
	if err != nil {
		return err
	}

	// Fresh credentials per run: the fake accepts whatever key it is given,
	// and nothing real is ever at stake.
	keyFile, err := writeSecret(filepath.Join(work, "secret-key"))
	if err != nil {
		return err
	}
	tokenFile, err := writeSecret(filepath.Join(work, "callback-token"))
	if err != nil {
		return err
	}

	secondKeyFile, err := writeSecret(filepath.Join(work, "second-app-secret-key"))
	if err != nil {
		return err
	}
	secondTokenFile, err := writeSecret(filepath.Join(work, "second-app-callback-token"))
	if err != nil {
		return err
	}

	var children sync.WaitGroup
	childCtx, cancelChildren := context.WithCancel(ctx)
	defer func() {
		cancelChildren()
		children.Wait()
	}()

	say("starting the manager (callbacks on http://%s/callback)", callbackAddr)
	if err := start(childCtx, &children, "manager", cfg.managerBin,
		"--kubeconfig="+kubeconfig,
		"--sdkappid="+sdkAppID,
		"--secret-key-file="+keyFile,
		"--callback-token-file="+tokenFile,
		"--im-endpoint=http://"+imAddr,
		"--webhook-bind-address="+callbackAddr,
		"--metrics-bind-address="+metricsAddr,
		// Plain metrics on loopback, so the curl line below works; a cluster
		// install serves them over HTTPS to authorized scrapers only.
		"--metrics-secure=false",
		"--health-probe-bind-address="+probeAddr,
		"--discovery-namespace=default",
		// The operator's own namespace: its Leases (the destroy budget) and
		// the ChatApps' credentials Secrets live here.
		"--leader-election-namespace=default",
		"--operator-namespace=default",
		"--resync-interval=1m",
		"--zap-encoder=console",
	); err != nil {
		return err
	}
	if err := waitHTTP(ctx, "http://"+probeAddr+"/readyz", time.Minute); err != nil {
		return fmt.Errorf("manager did not become ready (see its log lines above): %w", err)
	}

	say("starting imsim, the fake IM backend, with %d users chatting in %d groups", cfg.users, cfg.groups)
	if err := start(childCtx, &children, "imsim", cfg.imsimBin,
		"--listen="+imAddr,
		"--sdkappid="+sdkAppID,
		"--secret-key-file="+keyFile,
		"--callback-token-file="+tokenFile,
		"--callback-url=http://"+callbackAddr+"/callback",
		fmt.Sprintf("--groups=%d", cfg.groups),
		fmt.Sprintf("--users=%d", cfg.users),
		fmt.Sprintf("--rate=%g", cfg.rate),
		fmt.Sprintf("--app=sdkappid=%d,secret-key-file=%s,callback-token-file=%s,groups=3,rate=%g",
			secondAppID, secondKeyFile, secondTokenFile, max(cfg.rate/4, 1)),
	); err != nil {
		return err
	}

	if err := declareGroup(ctx, env); err != nil {
		return err
	}
	if err := declareSecondApp(ctx, env, secondKeyFile, secondTokenFile); err != nil {
		return err
	}

	fmt.Printf(`
================================================================================
 chatgroup-operator demo is running. In another terminal:

   export KUBECONFIG=%s
   kubectl get chatgroups -A -w

 The simulated groups appear as they are discovered (managementPolicy
 Observe); "release-announcements" is declared (Enforce) and was created in
 the fake by the operator. A second IM app runs beside the default one:

   kubectl get chatapps

 lists the ChatApp %q (SDKAppID %d, credentials in the Secret
 default/%s-im); its groups are discovered into the namespace %q, and
 its own "release-announcements" group (same ID, another app) is declared
 there. Try:

   kubectl patch cg release-announcements --type=merge -p '{"spec":{"name":"Renamed"}}'

 Metrics: curl -s http://%s/metrics | grep chatgroup
 Ctrl-C stops everything.
================================================================================
`, kubeconfig, secondApp, secondAppID, secondApp, secondAppNS, metricsAddr)

	<-ctx.Done()
	say("shutting down")
	return nil
}

// declareGroup applies the Enforce sample, so the demo shows both halves:
// callbacks flowing in and declared state pushed out.
func declareGroup(ctx context.Context, env *testenv.Env) error {
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "release-announcements", Namespace: "default"},
		Spec: imv1alpha1.ChatGroupSpec{
			GroupID:      "release-announcements",
			Type:         imv1alpha1.GroupTypePublic,
			Owner:        "user-1",
			Name:         ptr.To("Release announcements"),
			Notification: ptr.To("Releases are announced here every Tuesday."),
			Attributes:   map[string]imv1alpha1.AttributeValue{"channel": "releases"},
		},
	}
	if err := c.Create(ctx, cg); err != nil {
		return fmt.Errorf("declaring the sample ChatGroup: %w", err)
	}
	return nil
}

// declareSecondApp creates the second app as a user would: its Secret in
// the operator's namespace, a namespace for its groups, the ChatApp, and a
// ChatGroup in it with the same group ID as the default app's sample.
func declareSecondApp(ctx context.Context, env *testenv.Env, keyFile, tokenFile string) error {
	c, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	objs := []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: secondApp + "-im"},
			Data: map[string][]byte{imv1alpha1.SecretKeySecretKey: key, imv1alpha1.SecretKeyCallbackToken: token}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: secondAppNS}},
		&imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: secondApp}, Spec: imv1alpha1.ChatAppSpec{
			SDKAppID: secondAppID, Endpoint: "http://" + imAddr,
			CredentialsSecretRef: imv1alpha1.SecretReference{Name: secondApp + "-im"},
			AllowedNamespaces:    []string{secondAppNS},
			Discovery:            imv1alpha1.ChatAppDiscovery{Namespace: secondAppNS},
		}},
		&imv1alpha1.ChatGroup{ObjectMeta: metav1.ObjectMeta{Name: "release-announcements", Namespace: secondAppNS},
			Spec: imv1alpha1.ChatGroupSpec{
				AppRef:  &imv1alpha1.AppReference{Name: secondApp},
				GroupID: "release-announcements",
				Type:    imv1alpha1.GroupTypePublic,
				Owner:   "user-2",
				Name:    ptr.To("Release announcements of the second app"),
			}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return fmt.Errorf("declaring the second app (%T %s): %w", o, o.GetName(), err)
		}
	}
	return nil
}

func writeKubeconfig(env *envtest.Environment, path string) (string, error) {
	user, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("creating the demo user: %w", err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	return path, os.WriteFile(path, data, 0o600)
}

func writeSecret(path string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, []byte(hex.EncodeToString(b)), 0o600)
}

// start runs a child process whose output is shown with a name prefix, and
// which is stopped with SIGTERM (so the manager flushes its pending status
// updates) when ctx ends, and killed if it has not exited 15 s later.
func start(ctx context.Context, wg *sync.WaitGroup, name, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		prefix(name, out)
		if err := cmd.Wait(); ctx.Err() == nil {
			say("%s exited early: %v", name, err)
		}
	}()
	return nil
}

func prefix(name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Printf("%-8s| %s\n", name, sc.Text())
	}
}

func waitHTTP(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func say(format string, args ...any) {
	fmt.Printf("demo    | "+format+"\n", args...)
}
