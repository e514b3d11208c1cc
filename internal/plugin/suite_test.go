package plugin_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatgroup-operator/chatgroup-operator/internal/plugin"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

const (
	appID  = 1400000077
	secret = "plugin-suite-secret-key"
)

var (
	env        *testenv.Env
	k8s        client.Client
	kubeconfig string
	kubectl    string
)

func TestPlugin(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl-chatgroup Suite")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
	k8s, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	Expect(err).NotTo(HaveOccurred())

	// The plugin reads a kubeconfig as users run it, not env.Config.
	cfg := env.Config
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(clientcmd.WriteToFile(*kc, kubeconfig)).To(Succeed())
	kubectl = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	Expect(kubectl).To(BeAnExistingFile(), "kubectl is built with the control plane (make envtest)")
})

// result is one run of the plugin.
type result struct {
	code           int
	stdout, stderr string
}

// run runs the plugin in-process with the suite's kubeconfig and the given
// environment variables (the process's own are not consulted).
func run(envVars map[string]string, args ...string) result {
	var out, errOut bytes.Buffer
	code := plugin.Main(context.Background(), append([]string{"--kubeconfig", kubeconfig}, args...), plugin.Env{
		IO:     genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
		Getenv: func(k string) string { return envVars[k] },
	})
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// fakeIM is the fake IM backend over real HTTP, with get_appid_group_list
// limited to 1 call per second as on a real app.
type fakeIM struct {
	*timfake.Server
	url string
}

func newFakeIM(mutate func(*timfake.Options)) *fakeIM {
	o := timfake.Options{SDKAppID: appID, SecretKey: secret, GroupListQPS: timfake.DocumentedGroupListQPS, Seed: 5}
	if mutate != nil {
		mutate(&o)
	}
	f := timfake.New(o)
	ts := httptest.NewServer(f)
	DeferCleanup(func() { ts.Close(); f.Close() })
	return &fakeIM{Server: f, url: ts.URL}
}

// flagArgs are the import arguments for credentials from flags and the
// environment (the key only ever from the environment or a file).
func (f *fakeIM) flagArgs(args ...string) []string {
	return append([]string{"import", "--sdkappid", strconv.Itoa(appID), "--im-endpoint", f.url}, args...)
}

var keyEnv = map[string]string{plugin.EnvSecretKey: secret}

// docs splits a multi-document stream.
func docs(stream string) []string {
	var out []string
	for _, d := range strings.Split(stream, "---\n") {
		if strings.TrimSpace(d) != "" {
			out = append(out, d)
		}
	}
	return out
}

func createNamespace(name string) {
	Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})).To(Succeed())
}

// kubectlRun runs the real kubectl against the suite's API server.
func kubectlRun(args ...string) (string, error) {
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// expectCleanFailure: a non-zero exit, one line on stderr naming the
// cause, no stack trace, nothing on stdout.
func expectCleanFailure(r result, cause string) {
	GinkgoHelper()
	Expect(r.code).To(Equal(plugin.ExitError), "stderr: %s", r.stderr)
	Expect(r.stdout).To(BeEmpty(), "a failed import must not leave a partial manifest")
	Expect(strings.Count(r.stderr, "\n")).To(Equal(1), "one line: %q", r.stderr)
	Expect(r.stderr).To(HavePrefix("error: "))
	Expect(r.stderr).To(ContainSubstring(cause))
	Expect(r.stderr).NotTo(Or(ContainSubstring("goroutine "), ContainSubstring("panic"), ContainSubstring(".go:")))
	Expect(r.stderr).NotTo(ContainSubstring(secret))
}
