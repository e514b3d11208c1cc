// Package cluster runs the operator the way users run it: the image (built
// without Docker by `make image`) in pods of a real single-node Kubernetes
// cluster (hack/cluster/up.sh: kubelet, containerd, kube-proxy, ...), installed
// with `helm install --wait`, the fake IM backend (cmd/imsim) on the host
// sending signed callbacks through the chart's Service and serving the REST
// API the leader pushes to.
//
// It needs root and changes the host while it runs (processes, mounts,
// iptables, a bridge, cgroups); hack/cluster/down.sh undoes all of it at the
// end, whatever happened, and the suite checks that the host is as before.
// So it only runs through `make test-cluster`, which sets
// CHATGROUP_CLUSTER_TEST=1; `go test ./...` skips it.
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
)

func TestCluster(t *testing.T) {
	if os.Getenv("CHATGROUP_CLUSTER_TEST") != "1" {
		t.Skip("real-cluster tests run only through `make test-cluster` (root; they start kubelet, containerd and a control plane on this host)")
	}
	RegisterFailHandler(Fail)
	RunSpecs(t, "cluster: the operator image on a real single-node cluster")
}

const (
	nodeIP           = "10.250.0.1" // hack/cluster/common.sh NODE_IP
	releaseName      = "cg"
	releaseNamespace = "chatgroup-system"
	discoveryNS      = "discovered"
	appNS            = "apps"
	sdkAppID         = 1400000001
	secretKey        = "cluster-secret-key-0123456789abcdef"
	callbackToken    = "cluster-callback-token"
	imsimPort        = 18091
	leaseName        = "chatgroup-operator.im.chatgroup.dev"
)

var (
	imsimLog    string
	root        string
	k8sBin      string
	helmBin     string
	imsimBin    string
	kubeconfig  string
	workDir     string
	kube        client.Client
	bringUpTime time.Duration
)

// script runs one of hack/cluster's scripts, its output to the Ginkgo log.
func script(name string, out *bytes.Buffer) error {
	cmd := exec.Command(filepath.Join(root, "hack", "cluster", name))
	cmd.Env = append(os.Environ(), "K8S_BIN="+k8sBin)
	if out != nil {
		cmd.Stdout = out
	} else {
		cmd.Stdout = GinkgoWriter
	}
	cmd.Stderr = GinkgoWriter
	return cmd.Run()
}

var _ = BeforeSuite(func() {
	root = testenv.RepoRoot()
	k8sBin = os.Getenv("K8S_BIN")
	helmBin = os.Getenv("HELM")
	imsimBin = os.Getenv("IMSIM")
	Expect(k8sBin).NotTo(BeEmpty(), "K8S_BIN is not set: run `make test-cluster`")
	Expect(helmBin).To(BeAnExistingFile(), "HELM: run `make test-cluster`")
	Expect(imsimBin).To(BeAnExistingFile(), "IMSIM: run `make test-cluster`")
	Expect(os.Geteuid()).To(Equal(0), "the real-cluster tests need root")
	workDir = GinkgoT().TempDir()

	By("recording the host's state")
	var before bytes.Buffer
	Expect(script("host-state.sh", &before)).To(Succeed())

	// Registered before the cluster starts: teardown runs whatever happens
	// next, and then the host must be as it was.
	DeferCleanup(func() {
		By("tearing the cluster down")
		start := time.Now()
		Expect(script("down.sh", nil)).To(Succeed())
		fmt.Fprintf(GinkgoWriter, "teardown took %s\n", time.Since(start).Round(time.Second))
		var after bytes.Buffer
		Expect(script("host-state.sh", &after)).To(Succeed())
		Expect(diffLines(before.String(), after.String())).To(BeEmpty(),
			"the host differs from before the cluster (- before, + after)")
	})

	By("bringing the cluster up (hack/cluster/up.sh)")
	start := time.Now()
	Expect(script("up.sh", nil)).To(Succeed())
	bringUpTime = time.Since(start)
	prep := os.Getenv("CLUSTER_PREP_SECONDS")
	msg := fmt.Sprintf("cluster bring-up took %s (binaries and images before it: %ss; cold = apt-get + build, warm = cached)",
		bringUpTime.Round(time.Second), prep)
	AddReportEntry("bring-up", msg)
	fmt.Println(msg) // also without -ginkgo.v

	kubeconfig = filepath.Join(root, "bin", "cluster", "admin.kubeconfig")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	Expect(err).NotTo(HaveOccurred())
	scheme, err := testenv.Scheme()
	Expect(err).NotTo(HaveOccurred())
	kube, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

// diffLines lists the lines only in a (-) or only in b (+).
func diffLines(a, b string) []string {
	count := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(a), "\n") {
		count[l]++
	}
	for _, l := range strings.Split(strings.TrimSpace(b), "\n") {
		count[l]--
	}
	var d []string
	for l, n := range count {
		switch {
		case n > 0:
			d = append(d, "- "+l)
		case n < 0:
			d = append(d, "+ "+l)
		}
	}
	return d
}

// run runs a command with the cluster's admin kubeconfig; it returns the
// combined output.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HELM_CACHE_HOME="+filepath.Join(workDir, "helm-cache"),
		"HELM_CONFIG_HOME="+filepath.Join(workDir, "helm-config"), "HELM_DATA_HOME="+filepath.Join(workDir, "helm-data"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	fmt.Fprintf(GinkgoWriter, "$ %s %s\n%s", filepath.Base(name), strings.Join(args, " "), out.String())
	return out.String(), err
}

func kubectl(args ...string) (string, error) { return run(filepath.Join(k8sBin, "kubectl"), args...) }
func helm(args ...string) (string, error)    { return run(helmBin, args...) }
