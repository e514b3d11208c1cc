// Package testenv starts the real control plane the integration tests run
// against: kube-apiserver and etcd (built by `make envtest`) with the
// project's CRDs installed. Every Ginkgo suite uses it, so that they all
// agree on how the control plane is found and what a missing one says.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Scheme *runtime.Scheme
}

// RepoRoot is the repository's top directory, found from this file's path so
// that tests work from any package directory.
func RepoRoot() string {
	_, file, _, _ := goruntime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Scheme returns a scheme with the built-in types, CRDs and ChatGroup.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := imv1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Option changes how Start sets up the control plane.
type Option func(*envtest.Environment)

// WithoutCRDs leaves the CRDs out, for tests that install them another way
// (the e2e suite installs them with the Helm chart).
func WithoutCRDs() Option {
	return func(e *envtest.Environment) {
		e.CRDDirectoryPaths = nil
		e.ErrorIfCRDPathMissing = false
	}
}

// Start starts kube-apiserver and etcd from KUBEBUILDER_ASSETS and installs
// the CRDs from config/crd/bases.
func Start(opts ...Option) (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, " +
			"or export KUBEBUILDER_ASSETS=$(make -s envtest-path)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("control plane binary %s missing in KUBEBUILDER_ASSETS=%s (run `make envtest`): %w", bin, assets, err)
		}
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	for _, o := range opts {
		o(env)
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	// The suites create objects quickly; the default client-side limits (5 QPS)
	// would make them measure the rate limiter instead of the code.
	cfg.QPS, cfg.Burst = 500, 1000
	return &Env{Environment: env, Config: cfg, Scheme: scheme}, nil
}

// FreeLoopbackAddr returns a loopback address with a port nothing listens
// on, for a server a test starts in another process. Another process may
// take the port before it is used; on a test machine that is rare enough.
func FreeLoopbackAddr() (string, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}
