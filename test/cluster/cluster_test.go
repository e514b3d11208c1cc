package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

const chartRel = "charts/chatgroup-operator"

func installValues(extra ...string) []string {
	v := []string{
		"--set", "replicaCount=2",
		"--set", "image.repository=localhost/chatgroup-operator",
		"--set", "image.tag=dev",
		"--set", "image.pullPolicy=Never",
		"--set", fmt.Sprintf("im.sdkAppID=%d", sdkAppID),
		"--set", "im.secretKey=" + secretKey,
		"--set", "im.callbackToken=" + callbackToken,
		"--set", fmt.Sprintf("im.endpoint=http://%s:%d", nodeIP, imsimPort),
		"--set", "im.insecureHTTP=true", // imsim serves plain HTTP on the node's private address
		"--set", "discoveryNamespace=" + discoveryNS,
		"--set", "resyncInterval=30s",
	}
	return append(v, extra...)
}

// managerPods are the release's pods, sorted by name.
func managerPods(ctx context.Context) []corev1.Pod {
	var pods corev1.PodList
	Expect(kube.List(ctx, &pods, client.InNamespace(releaseNamespace),
		client.MatchingLabels{"app.kubernetes.io/instance": releaseName})).To(Succeed())
	return pods.Items
}

func podReady(p corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// readyPodNames are the names of the release's Running and Ready pods.
func readyPodNames(ctx context.Context) []string {
	var names []string
	for _, p := range managerPods(ctx) {
		if podReady(p) {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	return names
}

// leaseHolder is the pod holding the leader-election Lease ("" if none).
func leaseHolder(ctx context.Context) (pod string, lease coordinationv1.Lease) {
	if err := kube.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: leaseName}, &lease); err != nil {
		return "", lease
	}
	if lease.Spec.HolderIdentity == nil {
		return "", lease
	}
	pod, _, _ = strings.Cut(*lease.Spec.HolderIdentity, "_")
	return pod, lease
}

// managerProcesses are the host PIDs of the manager containers' processes.
func managerProcesses() []string {
	var pids []string
	entries, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range entries {
		exe, err := os.Readlink(p + "/exe")
		if err != nil || filepath.Base(exe) != "manager" {
			continue
		}
		cmdline, _ := os.ReadFile(p + "/cmdline")
		if strings.Contains(string(cmdline), fmt.Sprintf("--sdkappid=%d", sdkAppID)) {
			pids = append(pids, filepath.Base(p))
		}
	}
	return pids
}

func statusField(pid, field string) string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	Expect(err).NotTo(HaveOccurred())
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

// rootMountOptions are the options of / as the process sees it.
func rootMountOptions(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
	Expect(err).NotTo(HaveOccurred())
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 5 && f[4] == "/" {
			return f[5]
		}
	}
	return ""
}

func imClient() *tim.Client {
	c, err := tim.New(tim.Config{
		Endpoint: fmt.Sprintf("http://%s:%d", nodeIP, imsimPort), SDKAppID: sdkAppID,
		AdminIdentifier: "administrator", SecretKey: secretKey, MaxRetries: -1,
		InsecureHTTP: true, // imsim on the node address, plain HTTP
	})
	Expect(err).NotTo(HaveOccurred())
	return c
}

// imGroup reads one group from the fake through its REST API, signed with
// a UserSig like the operator's own calls.
func imGroup(ctx context.Context, id string) (tim.GroupInfo, map[string]string, error) {
	c := imClient()
	res, err := c.GetGroupInfo(ctx, []string{id})
	if err != nil {
		return tim.GroupInfo{}, nil, err
	}
	if len(res) != 1 || res[0].Err != nil {
		return tim.GroupInfo{}, nil, fmt.Errorf("get_group_info %s: %v", id, res)
	}
	attrs, err := c.GetGroupAttr(ctx, id)
	return res[0].GroupInfo, attrs, err
}

func readyCondition(cg *imv1alpha1.ChatGroup) bool {
	return meta.IsStatusConditionTrue(cg.Status.Conditions, imv1alpha1.ConditionReady)
}

func countChatGroups(ctx context.Context) int {
	var list imv1alpha1.ChatGroupList
	Expect(kube.List(ctx, &list)).To(Succeed())
	return len(list.Items)
}

var _ = Describe("the chart on a real cluster", Ordered, func() {
	const declaredGroup = "cluster-declared"
	var (
		ctx           context.Context
		cancel        context.CancelFunc
		callbackURL   string
		declaredKey   = types.NamespacedName{Namespace: appNS, Name: "declared"}
		groupsAtStart int
		stopIMSim     = func() {}
	)

	// lostCallbacks counts the callbacks imsim could not deliver so far
	// (IM does not retry them; the resync heals what they carried).
	lostCallbacks := func() []string {
		b, _ := os.ReadFile(imsimLog)
		var lost []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "callback delivery failed") || strings.Contains(l, "callback lost") {
				lost = append(lost, l)
			}
		}
		return lost
	}
	reportLost := func(phase string, before int) {
		lost := lostCallbacks()
		msg := fmt.Sprintf("callbacks imsim could not deliver during %s: %d", phase, len(lost)-before)
		if len(lost) > before {
			msg += "\n" + strings.Join(lost[before:], "\n")
		}
		fmt.Fprintln(GinkgoWriter, msg)
		AddReportEntry("lost callbacks: "+phase, msg)
	}

	AfterAll(func() { stopIMSim() })

	BeforeAll(func() {
		ctx, cancel = context.WithCancel(context.Background())
		DeferCleanup(func() { cancel() })
		for _, ns := range []string{releaseNamespace, discoveryNS, appNS} {
			Expect(kube.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		}
	})

	It("installs with helm --wait: 2 pods of the local image, Running and Ready under the hardened security context", func() {
		start := time.Now()
		out, err := helm(append([]string{"install", releaseName, filepath.Join(root, chartRel), "-n", releaseNamespace,
			"--wait", "--timeout", "4m"}, installValues()...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		fmt.Fprintf(GinkgoWriter, "helm install --wait took %s\n", time.Since(start).Round(time.Second))
		AddReportEntry("helm install --wait", time.Since(start).Round(time.Second).String())

		pods := managerPods(ctx)
		Expect(pods).To(HaveLen(2))
		for _, p := range pods {
			Expect(podReady(p)).To(BeTrue(), "pod %s: %+v", p.Name, p.Status)
			c := p.Spec.Containers[0]
			Expect(c.Image).To(Equal("localhost/chatgroup-operator:dev"))
			Expect(c.ImagePullPolicy).To(Equal(corev1.PullNever))
			sc := c.SecurityContext
			Expect(sc).NotTo(BeNil())
			Expect(*sc.ReadOnlyRootFilesystem).To(BeTrue())
			Expect(*sc.RunAsNonRoot).To(BeTrue())
			Expect(*sc.AllowPrivilegeEscalation).To(BeFalse())
			Expect(sc.Capabilities.Drop).To(ContainElement(corev1.Capability("ALL")))
			Expect(p.Status.ContainerStatuses[0].RestartCount).To(BeZero(), "pod %s restarted", p.Name)
		}

		By("checking what the kernel enforces on the manager processes")
		pids := managerProcesses()
		Expect(pids).To(HaveLen(2))
		for _, pid := range pids {
			Expect(statusField(pid, "Uid")).To(Equal("65532 65532 65532 65532"), "pid %s", pid)
			Expect(statusField(pid, "Gid")).To(Equal("65532 65532 65532 65532"), "pid %s", pid)
			Expect(statusField(pid, "CapEff")).To(Equal("0000000000000000"), "pid %s", pid)
			Expect(statusField(pid, "CapBnd")).To(Equal("0000000000000000"), "pid %s", pid)
			Expect(statusField(pid, "NoNewPrivs")).To(Equal("1"), "pid %s", pid)
			Expect(statusField(pid, "Seccomp")).To(Equal("2"), "pid %s: RuntimeDefault seccomp filter", pid)
			Expect(strings.Split(rootMountOptions(pid), ",")).To(ContainElement("ro"), "pid %s: read-only root", pid)
		}

		By("waiting for one replica to take the Lease")
		Eventually(func() string { h, _ := leaseHolder(ctx); return h }).WithTimeout(60 * time.Second).
			Should(BeElementOf(readyPodNames(ctx)))
	})

	It("lets the pods' ServiceAccount read Secrets in the release namespace only (the API server refuses others)", func() {
		pods := managerPods(ctx)
		Expect(pods).NotTo(BeEmpty())
		saName := pods[0].Spec.ServiceAccountName
		Expect(saName).To(Equal(releaseName + "-chatgroup-operator"))

		By("impersonating " + saName + ", the identity the pods run as")
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		Expect(err).NotTo(HaveOccurred())
		// The user and groups the API server gives a ServiceAccount token.
		cfg.Impersonate = rest.ImpersonationConfig{
			UserName: "system:serviceaccount:" + releaseNamespace + ":" + saName,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + releaseNamespace, "system:authenticated"},
		}
		sa, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())

		other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "not-the-operators"},
			StringData: map[string]string{"secretKey": "x"}}
		Expect(kube.Create(ctx, other)).To(Succeed())
		DeferCleanup(func() { Expect(kube.Delete(context.Background(), other)).To(Succeed()) })

		got, err := sa.CoreV1().Secrets(releaseNamespace).Get(ctx, releaseName+"-chatgroup-operator-im", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred(), "a Secret in the release namespace must be readable")
		Expect(got.Data).To(HaveKeyWithValue("secretKey", []byte(secretKey)))
		_, err = sa.CoreV1().Secrets(releaseNamespace).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		_, err = sa.CoreV1().Secrets(appNS).Get(ctx, other.Name, metav1.GetOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a Secret in %s must be forbidden, got %v", appNS, err)
		_, err = sa.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets cluster-wide must be forbidden, got %v", err)
	})

	It("routes imsim's signed callbacks through the callback Service's ClusterIP to the pods", func() {
		var svc corev1.Service
		Expect(kube.Get(ctx, types.NamespacedName{Namespace: releaseNamespace, Name: releaseName + "-chatgroup-operator-callback"}, &svc)).To(Succeed())
		Expect(svc.Spec.ClusterIP).To(HavePrefix("10.96."))
		callbackURL = fmt.Sprintf("http://%s:%d/callback", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)

		key := filepath.Join(workDir, "secret-key")
		token := filepath.Join(workDir, "callback-token")
		Expect(os.WriteFile(key, []byte(secretKey), 0o600)).To(Succeed())
		Expect(os.WriteFile(token, []byte(callbackToken), 0o600)).To(Succeed())
		// Next to the daemons' logs: hack/cluster/down.sh keeps them.
		imsimLog = filepath.Join(root, "bin", "cluster", "logs", "imsim.log")
		logFile, err := os.Create(imsimLog)
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command(imsimBin, "--listen", fmt.Sprintf("%s:%d", nodeIP, imsimPort),
			"--sdkappid", fmt.Sprint(sdkAppID), "--secret-key-file", key, "--callback-token-file", token,
			"--callback-url", callbackURL, "--groups", "3", "--users", "10", "--rate", "10", "--seed", "7",
			"--sim-initial-groups-only")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		Expect(cmd.Start()).To(Succeed())
		fmt.Fprintf(GinkgoWriter, "imsim pid %d, callbacks to %s\n", cmd.Process.Pid, callbackURL)
		// Stopped after the last spec (a DeferCleanup here would stop it
		// when this spec ends).
		stopIMSim = func() {
			_ = cmd.Process.Signal(os.Interrupt)
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			_ = logFile.Close()
			b, _ := os.ReadFile(logFile.Name())
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			fmt.Fprintf(GinkgoWriter, "imsim log (last lines):\n%s\n", strings.Join(lines[max(0, len(lines)-5):], "\n"))
		}

		By("`kubectl get chatgroups` listing the groups the callbacks announced")
		Eventually(func(g Gomega) {
			out, err := kubectl("get", "chatgroups", "-n", discoveryNS, "--no-headers", "-o", "custom-columns=GROUP:.spec.groupID,READY:.status.conditions[?(@.type==\"Ready\")].status")
			g.Expect(err).NotTo(HaveOccurred())
			for _, id := range []string{"sim-group-000", "sim-group-001", "sim-group-002"} {
				g.Expect(out).To(MatchRegexp(`(?m)^%s\s+True$`, id))
			}
		}).WithTimeout(90 * time.Second).WithPolling(2 * time.Second).Should(Succeed())
		out, _ := kubectl("get", "chatgroups", "-A")
		fmt.Fprintln(GinkgoWriter, out)

		By("callbacks having reached the pods through kube-proxy: status carries callback times")
		// Awaited, not read once: when the controller's first read of a
		// discovered group lands before the writer's, the creation callback
		// changes nothing and stamps nothing; the messages that follow do.
		Eventually(func(g Gomega) {
			var list imv1alpha1.ChatGroupList
			g.Expect(kube.List(ctx, &list, client.InNamespace(discoveryNS))).To(Succeed())
			withCallback := 0
			for _, cg := range list.Items {
				if cg.Status.LastCallbackTime != nil {
					withCallback++
				}
			}
			g.Expect(withCallback).To(BeNumerically(">", 0))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
	})

	It("creates a declared ChatGroup in IM, reports it Ready, and the fake shows the declared state", func() {
		cg := &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: declaredKey.Namespace, Name: declaredKey.Name},
			Spec: imv1alpha1.ChatGroupSpec{
				GroupID: declaredGroup, Type: imv1alpha1.GroupTypePublic, Owner: "user-000",
				Name: ptr("Declared in Git"), Notification: ptr("Posted by the operator"),
				Attributes:       map[string]imv1alpha1.AttributeValue{"channel": "releases", "tier": "gold"},
				ManagementPolicy: imv1alpha1.ManagementPolicyEnforce, DeletionPolicy: imv1alpha1.DeletionPolicyOrphan,
			},
		}
		Expect(kube.Create(ctx, cg)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(kube.Get(ctx, declaredKey, cg)).To(Succeed())
			g.Expect(readyCondition(cg)).To(BeTrue(), "conditions: %+v", cg.Status.Conditions)
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
		Eventually(func(g Gomega) {
			info, attrs, err := imGroup(ctx, declaredGroup)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(info.Name).To(Equal("Declared in Git"))
			g.Expect(info.Notification).To(Equal("Posted by the operator"))
			g.Expect(info.OwnerAccount).To(Equal("user-000"))
			g.Expect(info.Type).To(Equal("Public"))
			g.Expect(attrs).To(Equal(map[string]string{"channel": "releases", "tier": "gold"}))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
		out, _ := kubectl("get", "chatgroups", "-n", appNS)
		fmt.Fprintln(GinkgoWriter, out)
	})

	It("fails over when the leader pod is deleted, within the lease, and keeps pushing spec changes", func() {
		leader, lease := leaseHolder(ctx)
		Expect(leader).NotTo(BeEmpty())
		pods := readyPodNames(ctx)
		Expect(pods).To(HaveLen(2))
		Expect(pods).To(ContainElement(leader))
		other := pods[0]
		if other == leader {
			other = pods[1]
		}
		leaseDuration := 15 * time.Second
		if lease.Spec.LeaseDurationSeconds != nil {
			leaseDuration = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
		}

		// Cordoned, the node cannot run the Deployment's replacement pod, so
		// only the surviving replica can take the Lease.
		out, err := kubectl("cordon", "chatgroup-node")
		Expect(err).NotTo(HaveOccurred(), out)

		By(fmt.Sprintf("deleting the leader %s (the other replica is %s)", leader, other))
		lostBefore := len(lostCallbacks())
		defer func() { reportLost("the failover", lostBefore) }()
		start := time.Now()
		out, err = kubectl("delete", "pod", "-n", releaseNamespace, leader, "--wait=false")
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(func() string { h, _ := leaseHolder(ctx); return h }).
			WithTimeout(leaseDuration + 10*time.Second).WithPolling(250 * time.Millisecond).Should(Equal(other))
		took := time.Since(start)
		msg := fmt.Sprintf("leader %s deleted; %s took the Lease after %s (lease duration %s)", leader, other, took.Round(100*time.Millisecond), leaseDuration)
		fmt.Fprintln(GinkgoWriter, msg)
		AddReportEntry("failover", msg)
		Expect(took).To(BeNumerically("<=", leaseDuration+2*time.Second))

		By("changing the spec after the failover")
		cg := &imv1alpha1.ChatGroup{}
		Expect(kube.Get(ctx, declaredKey, cg)).To(Succeed())
		patch := client.MergeFrom(cg.DeepCopy())
		cg.Spec.Name = ptr("Renamed after failover")
		Expect(kube.Patch(ctx, cg, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			info, _, err := imGroup(ctx, declaredGroup)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(info.Name).To(Equal("Renamed after failover"))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())

		By("the Deployment replacing the deleted pod once the node is schedulable again")
		out, err = kubectl("uncordon", "chatgroup-node")
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(func() []string { return readyPodNames(ctx) }).WithTimeout(90 * time.Second).Should(HaveLen(2))
	})

	It("rolls the pods on helm upgrade with changed values, and loses nothing", func() {
		before := readyPodNames(ctx)
		Expect(before).To(HaveLen(2))
		groupsAtStart = countChatGroups(ctx)
		Expect(groupsAtStart).To(BeNumerically(">=", 4))

		lostBefore := len(lostCallbacks())
		defer func() { reportLost("helm upgrade", lostBefore) }()
		start := time.Now()
		out, err := helm(append(append([]string{"upgrade", releaseName, filepath.Join(root, chartRel), "-n", releaseNamespace,
			"--wait", "--timeout", "4m"}, installValues()...), "--set", "logLevel=debug", "--set", "resyncInterval=5m")...)
		Expect(err).NotTo(HaveOccurred(), out)
		upgraded := time.Now()
		fmt.Fprintf(GinkgoWriter, "helm upgrade --wait took %s\n", upgraded.Sub(start).Round(time.Second))

		Eventually(func(g Gomega) {
			pods := managerPods(ctx)
			g.Expect(pods).To(HaveLen(2))
			for _, p := range pods {
				g.Expect(before).NotTo(ContainElement(p.Name), "pod %s was not rolled", p.Name)
				g.Expect(podReady(p)).To(BeTrue())
				g.Expect(p.Spec.Containers[0].Args).To(ContainElements("--zap-log-level=debug", "--resync-interval=5m"))
			}
		}).WithTimeout(2 * time.Minute).Should(Succeed())
		Eventually(func() string { h, _ := leaseHolder(ctx); return h }).WithTimeout(60 * time.Second).
			Should(BeElementOf(readyPodNames(ctx)))

		By("every ChatGroup still there, the declared one still Ready")
		Expect(countChatGroups(ctx)).To(BeNumerically(">=", groupsAtStart))
		cg := &imv1alpha1.ChatGroup{}
		Expect(kube.Get(ctx, declaredKey, cg)).To(Succeed())
		Expect(readyCondition(cg)).To(BeTrue())

		By("callbacks reaching the new pods")
		Eventually(func(g Gomega) {
			var list imv1alpha1.ChatGroupList
			g.Expect(kube.List(ctx, &list, client.InNamespace(discoveryNS))).To(Succeed())
			fresh := 0
			for _, c := range list.Items {
				if c.Status.LastCallbackTime != nil && c.Status.LastCallbackTime.After(upgraded) {
					fresh++
				}
			}
			g.Expect(fresh).To(BeNumerically(">", 0))
		}).WithTimeout(60 * time.Second).WithPolling(2 * time.Second).Should(Succeed())

		By("a spec change reaching the fake through the new leader")
		patch := client.MergeFrom(cg.DeepCopy())
		cg.Spec.Notification = ptr("Changed after the upgrade")
		Expect(kube.Patch(ctx, cg, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			info, _, err := imGroup(ctx, declaredGroup)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(info.Notification).To(Equal("Changed after the upgrade"))
			g.Expect(info.Name).To(Equal("Renamed after failover"))
		}).WithTimeout(60 * time.Second).WithPolling(time.Second).Should(Succeed())
	})

	It("leaves the CRD and every ChatGroup on helm uninstall", func() {
		// Callbacks have nowhere to go once the Service is gone.
		stopIMSim()
		stopIMSim = func() {}
		n := countChatGroups(ctx)
		out, err := helm("uninstall", releaseName, "-n", releaseNamespace, "--wait", "--timeout", "2m")
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(func() []corev1.Pod { return managerPods(ctx) }).WithTimeout(60 * time.Second).Should(BeEmpty())

		var crd apiextensionsv1.CustomResourceDefinition
		Expect(kube.Get(ctx, types.NamespacedName{Name: "chatgroups.im.chatgroup.dev"}, &crd)).To(Succeed())
		Expect(crd.DeletionTimestamp).To(BeNil())
		Expect(countChatGroups(ctx)).To(Equal(n))
		out, err = kubectl("get", "chatgroups", "-A")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring(declaredGroup))
	})
})

func ptr[T any](v T) *T { return &v }
