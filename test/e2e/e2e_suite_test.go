// Package e2e installs the Helm chart into a real kube-apiserver and runs the
// manager exactly as the installed Deployment would: with its args, its
// Secret's contents, and as its ServiceAccount (a token from the TokenRequest
// API), so the chart's RBAC is what authorizes every call. The IM backend is
// timfake, reached over real HTTP in both directions.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "e2e: helm install on a real API server")
}

const (
	releaseName      = "e2e"
	releaseNamespace = "chatgroup-system"
	discoveryNS      = "discovered"
	sdkAppID         = 1400000001
	secretKey        = "e2e-secret-key-0123456789abcdef"
	callbackToken    = "e2e-callback-token"
)

var (
	ctx         context.Context
	cancel      context.CancelFunc
	env         *testenv.Env
	adminClient client.Client
	workDir     string
	adminKube   string // kubeconfig of a cluster admin, for helm and kubectl
	helmBin     string
	kubectlBin  string
	managerBin  string
	fake        *timfake.Server
	fakeServer  *httptest.Server
	callbackURL string
)

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())

	helmBin = os.Getenv("HELM")
	Expect(helmBin).NotTo(BeEmpty(), "HELM is not set: run `make test-e2e` (or `make test`), which builds the pinned helm")
	Expect(helmBin).To(BeAnExistingFile())
	kubectlBin = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	Expect(kubectlBin).To(BeAnExistingFile(), "kubectl is built by `make envtest`")

	workDir = GinkgoT().TempDir()

	By("building the manager")
	managerBin = filepath.Join(workDir, "manager")
	build := exec.Command("go", "build", "-o", managerBin, ".")
	build.Dir = testenv.RepoRoot()
	build.Stdout, build.Stderr = GinkgoWriter, GinkgoWriter
	Expect(build.Run()).To(Succeed())

	By("starting kube-apiserver and etcd, without CRDs: the chart installs them")
	var err error
	env, err = testenv.Start(testenv.WithoutCRDs())
	Expect(err).NotTo(HaveOccurred())
	adminClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())
	admin, err := env.AddUser(envtest.User{Name: "e2e-admin", Groups: []string{"system:masters"}}, nil)
	Expect(err).NotTo(HaveOccurred())
	kc, err := admin.KubeConfig()
	Expect(err).NotTo(HaveOccurred())
	adminKube = filepath.Join(workDir, "admin.kubeconfig")
	Expect(os.WriteFile(adminKube, kc, 0o600)).To(Succeed())

	By("starting the fake IM backend; its callbacks go to the manager's receiver")
	callbackURL = fmt.Sprintf("http://%s/callback", freeLoopbackAddr())
	fake = timfake.New(timfake.Options{
		SDKAppID:        sdkAppID,
		SecretKey:       secretKey,
		AdminIdentifier: "administrator",
		CallbackURL:     callbackURL,
		CallbackToken:   callbackToken,
		// Small enough that the suite's third group of the day sends IM's
		// Group.CallbackOnDailyGroupQuotaAlarm (past 70%).
		DailyGroupQuota: 3,
	})
	fakeServer = httptest.NewServer(fake)
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if fakeServer != nil {
		fakeServer.Close()
		fake.Close()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// freeLoopbackAddr returns a loopback address with a port nothing listens on.
func freeLoopbackAddr() string {
	GinkgoHelper()
	addr, err := testenv.FreeLoopbackAddr()
	Expect(err).NotTo(HaveOccurred())
	return addr
}

// run executes a command with the admin kubeconfig and returns its combined
// output and error.
func run(name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+adminKube, "HELM_CACHE_HOME="+filepath.Join(workDir, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(workDir, "helm-config"), "HELM_DATA_HOME="+filepath.Join(workDir, "helm-data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	fmt.Fprintf(GinkgoWriter, "$ %s %s\n%s\n", filepath.Base(name), strings.Join(args, " "), out.String())
	return out.String(), err
}

func helm(args ...string) (string, error)    { return run(helmBin, args...) }
func kubectl(args ...string) (string, error) { return run(kubectlBin, args...) }

// waitReady polls an HTTP endpoint until it answers 200.
func waitReady(url string) {
	GinkgoHelper()
	Eventually(func() (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}).WithTimeout(60 * time.Second).WithPolling(250 * time.Millisecond).Should(Equal(http.StatusOK))
}
