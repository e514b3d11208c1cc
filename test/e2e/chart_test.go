package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

var chartDir = filepath.Join(testenv.RepoRoot(), "charts", "chatgroup-operator")

// The Pod the manager pretends to be (downward API values), and the address
// its metrics are served on once started.
const (
	managerPodName = "e2e-chatgroup-operator-0"
	managerPodUID  = "8d0c5f43-0000-4000-8000-00000000e2e0"
)

// metricsAddr is where startManagerAsDeployment's manager serves metrics.
var metricsAddr string

// installValues are the values of the release under test.
func installValues() []string {
	return []string{
		"--set", fmt.Sprintf("im.sdkAppID=%d", sdkAppID),
		"--set", "im.secretKey=" + secretKey,
		"--set", "im.callbackToken=" + callbackToken,
		"--set", "im.endpoint=" + fakeServer.URL,
		"--set", "discoveryNamespace=" + discoveryNS,
		"--set", "resyncInterval=30s",
		// The scraper of the secure-metrics test, bound to metrics-reader.
		"--set", "metrics.readerSubjects[0].kind=ServiceAccount",
		"--set", "metrics.readerSubjects[0].name=" + scraperSA,
		"--set", "metrics.readerSubjects[0].namespace=" + releaseNamespace,
	}
}

// scraperSA is a ServiceAccount the chart binds to metrics-reader.
const scraperSA = "scraper"

// minimalValues are what every helm template below needs.
var minimalValues = []string{"--set", "im.sdkAppID=1", "--set", "im.secretKey=k", "--set", "im.callbackToken=t"}

// notes renders the chart's NOTES.txt (a client-side dry run) with set.
func notes(set ...string) string {
	GinkgoHelper()
	args := append(append([]string{"install", "x", chartDir, "--dry-run=client", "-n", "x"}, minimalValues...), set...)
	out, err := helm(args...)
	Expect(err).NotTo(HaveOccurred(), out)
	_, n, found := strings.Cut(out, "NOTES:")
	Expect(found).To(BeTrue(), out)
	return n
}

var _ = Describe("the Helm chart", Ordered, func() {
	var manager *exec.Cmd

	AfterAll(func() {
		if manager != nil && manager.Process != nil {
			_ = manager.Process.Signal(syscall.SIGTERM)
			_ = manager.Wait()
		}
	})

	It("passes helm lint, with and without a default app", func() {
		out, err := helm(append([]string{"lint", chartDir, "--strict"}, minimalValues...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		out, err = helm("lint", chartDir, "--strict")
		Expect(err).NotTo(HaveOccurred(), out)
	})

	DescribeTable("refuses bad values with a message naming the value",
		func(want string, set ...string) {
			args := append(append([]string{"template", "x", chartDir}, minimalValues...), set...)
			out, err := helm(args...)
			Expect(err).To(HaveOccurred(), out)
			Expect(out).To(ContainSubstring(want))
		},
		Entry("no callback token, no existing Secret and no explicit opt-out", "callbackToken", "--set", "im.callbackToken="),
		Entry("the opt-out must be a boolean", "insecureSkipCallbackAuth", "--set", "im.insecureSkipCallbackAuth=yes"),
		Entry("a negative SDKAppID", "sdkAppID", "--set", "im.sdkAppID=-1"),
		Entry("a secret key without an SDKAppID (it would be ignored)", "secretKey", "--set", "im.sdkAppID=0", "--set", "im.callbackToken="),
		Entry("a callback token without an SDKAppID", "callbackToken", "--set", "im.sdkAppID=0", "--set", "im.secretKey="),
		Entry("an existing Secret without an SDKAppID", "existingSecret", "--set", "im.sdkAppID=0", "--set", "im.secretKey=",
			"--set", "im.callbackToken=", "--set", "im.existingSecret=creds"),
		Entry("endpoint that is not an http(s) URL", "endpoint", "--set", "im.endpoint=ftp://example.com"),
		Entry("no secret key and no existing Secret", "secretKey", "--set", "im.secretKey="),
		Entry("unknown log level", "logLevel", "--set", "logLevel=loud"),
		Entry("a duration that is not one", "maxSkew", "--set", "callback.maxSkew=soon"),
		Entry("callback path without a leading slash", "path", "--set", "callback.path=callback"),
		Entry("zero replicas", "replicaCount", "--set", "replicaCount=0"),
		Entry("unknown log format", "logFormat", "--set", "logFormat=xml"),
		Entry("TLS without a certificate source", "tls", "--set", "callback.tls.enabled=true"),
		Entry("TLS with both an issuer and a Secret", "tls", "--set", "callback.tls.enabled=true",
			"--set", "callback.tls.existingSecret=mine", "--set", "callback.tls.certManager.issuerRef.name=letsencrypt"),
		Entry("an issuer kind cert-manager does not have", "kind", "--set", "callback.tls.enabled=true",
			"--set", "callback.tls.certManager.issuerRef.name=letsencrypt", "--set", "callback.tls.certManager.issuerRef.kind=Vault"),
		Entry("a callback silence under five minutes", "callbackSilenceSeconds", "--set", "prometheusRule.callbackSilenceSeconds=60"),
	)

	Describe("callback authentication", func() {
		It("passes --insecure-skip-callback-auth only when asked, and then installs without a token", func() {
			out, err := helm(append([]string{"template", "x", chartDir}, minimalValues...)...)
			Expect(err).NotTo(HaveOccurred(), out)
			Expect(out).NotTo(ContainSubstring("--insecure-skip-callback-auth"))
			out, err = helm("template", "x", chartDir, "--set", "im.sdkAppID=1", "--set", "im.secretKey=k",
				"--set", "im.insecureSkipCallbackAuth=true")
			Expect(err).NotTo(HaveOccurred(), out)
			Expect(out).To(ContainSubstring("- --insecure-skip-callback-auth\n"))
		})

		It("accepts an existing Secret as the token's source", func() {
			out, err := helm("template", "x", chartDir, "--set", "im.sdkAppID=1", "--set", "im.existingSecret=creds")
			Expect(err).NotTo(HaveOccurred(), out)
			Expect(out).NotTo(ContainSubstring("--insecure-skip-callback-auth"))
		})
	})

	Describe("without a default app (no im.sdkAppID)", func() {
		It("installs with no values at all, serving only ChatApps: no app flags, no credentials Secret or volume", func() {
			out, err := helm("template", "x", chartDir, "-n", "ops")
			Expect(err).NotTo(HaveOccurred(), out)
			docs := decodeDocs(out)
			Expect(docs).NotTo(HaveKey("Secret"), "no default app, no credentials Secret")
			Expect(docs["Deployment"]).To(HaveLen(1))
			pod := field(docs["Deployment"][0], "spec", "template", "spec").(map[string]any)
			Expect(pod).NotTo(HaveKey("volumes"))
			c := pod["containers"].([]any)[0].(map[string]any)
			Expect(c).NotTo(HaveKey("volumeMounts"))
			args := c["args"].([]any)
			Expect(args).NotTo(ContainElement(HavePrefix("--sdkappid")))
			Expect(args).NotTo(ContainElement(HavePrefix("--secret-key-file")))
			Expect(args).NotTo(ContainElement(HavePrefix("--callback-token-file")))
			Expect(args).To(ContainElement("--leader-election-namespace=ops"))
			Expect(c["env"]).To(ContainElement(And(HaveKeyWithValue("name", "POD_NAMESPACE"),
				HaveKeyWithValue("valueFrom", HaveKeyWithValue("fieldRef", HaveKeyWithValue("fieldPath", "metadata.namespace"))))),
				"the manager's --operator-namespace defaults to POD_NAMESPACE")
			podMeta := field(docs["Deployment"][0], "spec", "template", "metadata").(map[string]any)
			ann, _ := podMeta["annotations"].(map[string]any)
			Expect(ann).NotTo(HaveKey("checksum/secret"))
			Expect(byName(docs["CustomResourceDefinition"], "chatapps.im.chatgroup.dev")).NotTo(BeNil())

			By("with TLS on, only the TLS volume")
			out, err = helm("template", "x", chartDir, "--set", "callback.tls.enabled=true", "--set", "callback.tls.existingSecret=my-tls")
			Expect(err).NotTo(HaveOccurred(), out)
			pod = field(decodeDocs(out)["Deployment"][0], "spec", "template", "spec").(map[string]any)
			Expect(pod["volumes"]).To(ConsistOf(HaveKeyWithValue("name", "callback-tls")))
		})

		It("passes the app flags and mounts the Secret when the default app is set", func() {
			out, err := helm(append([]string{"template", "x", chartDir}, minimalValues...)...)
			Expect(err).NotTo(HaveOccurred(), out)
			docs := decodeDocs(out)
			Expect(byName(docs["Secret"], "x-chatgroup-operator-im")).NotTo(BeNil())
			c := field(docs["Deployment"][0], "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
			Expect(c["args"]).To(ContainElements("--sdkappid=1",
				"--secret-key-file=/etc/chatgroup-operator/im/secretKey", "--callback-token-file=/etc/chatgroup-operator/im/callbackToken"))
			Expect(c["volumeMounts"]).To(ContainElement(HaveKeyWithValue("mountPath", "/etc/chatgroup-operator/im")))
			Expect(field(docs["Deployment"][0], "spec", "template", "metadata", "annotations")).To(HaveKey("checksum/secret"),
				"the pods roll when the inline credentials change")
		})

		It("says in NOTES.txt how to add a ChatApp", func() {
			out, err := helm("install", "x", chartDir, "--dry-run=client", "-n", "ops")
			Expect(err).NotTo(HaveOccurred(), out)
			_, n, found := strings.Cut(out, "NOTES:")
			Expect(found).To(BeTrue(), out)
			Expect(n).To(ContainSubstring("No default app"))
			Expect(n).To(ContainSubstring("kind: ChatApp"))
			Expect(n).To(ContainSubstring("appRef: {name: my-app}"))
			Expect(notes()).NotTo(ContainSubstring("No default app"))
		})
	})

	It("grants Secrets only in the release namespace, through a Role, and only with rbac.create", func() {
		out, err := helm(append([]string{"template", "x", chartDir, "-n", "ops"}, minimalValues...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		docs := decodeDocs(out)
		for _, cr := range docs["ClusterRole"] {
			Expect(rulesJSON(cr)).NotTo(ContainSubstring(`"secrets"`), "ClusterRole %s", cr.GetName())
		}
		role := byName(docs["Role"], "x-chatgroup-operator-manager")
		Expect(role).NotTo(BeNil())
		Expect(role.GetNamespace()).To(Equal("ops"))
		Expect(field(role, "rules")).To(Equal([]any{map[string]any{
			"apiGroups": []any{""}, "resources": []any{"secrets"}, "verbs": []any{"get", "list", "watch"},
		}}))
		rb := byName(docs["RoleBinding"], "x-chatgroup-operator-manager")
		Expect(rb).NotTo(BeNil())
		Expect(rb.GetNamespace()).To(Equal("ops"))
		Expect(field(rb, "roleRef")).To(Equal(map[string]any{
			"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "x-chatgroup-operator-manager"}))
		Expect(field(rb, "subjects")).To(Equal([]any{map[string]any{
			"kind": "ServiceAccount", "name": "x-chatgroup-operator", "namespace": "ops"}}))

		By("rbac.create=false: no Role, no RoleBinding")
		out, err = helm(append([]string{"template", "x", chartDir, "-n", "ops", "--set", "rbac.create=false"}, minimalValues...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		docs = decodeDocs(out)
		Expect(docs).NotTo(HaveKey("Role"))
		Expect(docs).NotTo(HaveKey("RoleBinding"))
		Expect(docs).NotTo(HaveKey("ClusterRole"))
	})

	Describe("NOTES.txt", func() {
		It("prints an https callback URL for each Ingress host, without warnings when TLS is set", func() {
			n := notes("--set", "ingress.enabled=true", "--set", "ingress.hosts[0].host=cb.example.com",
				"--set", "ingress.tls[0].secretName=cb-tls", "--set", "ingress.tls[0].hosts[0]=cb.example.com")
			Expect(n).To(ContainSubstring("https://cb.example.com/callback"))
			Expect(n).NotTo(ContainSubstring("http://cb.example.com"))
			Expect(n).NotTo(ContainSubstring("WARNING"))
		})

		It("warns loudly when the Ingress has no TLS", func() {
			n := notes("--set", "ingress.enabled=true", "--set", "ingress.hosts[0].host=cb.example.com")
			Expect(n).To(ContainSubstring("https://cb.example.com/callback"))
			Expect(n).To(ContainSubstring("WARNING: the Ingress has no TLS"))
		})

		It("prints an https URL without an Ingress too", func() {
			n := notes()
			Expect(n).To(ContainSubstring("https://<your public address>/callback"))
			Expect(n).NotTo(ContainSubstring("WARNING"))
		})

		It("warns loudly when callback authentication is off", func() {
			n := notes("--set", "im.callbackToken=", "--set", "im.insecureSkipCallbackAuth=true")
			Expect(n).To(ContainSubstring("WARNING: callback authentication is OFF"))
		})

		It("warns when metrics are served over plain HTTP", func() {
			Expect(notes("--set", "metrics.secure=false")).To(ContainSubstring("WARNING: metrics are served over plain HTTP"))
		})
	})

	Describe("metrics", func() {
		It("scrapes over https with the bearer token by default, skipping verification of the self-signed certificate", func() {
			out, err := helm(append([]string{"template", "x", chartDir, "--set", "metrics.serviceMonitor.enabled=true",
				"--set", "metrics.podMonitor.enabled=true", "--set", "metrics.podMonitor.bearerTokenSecret.name=tok",
				"--set", "metrics.podMonitor.bearerTokenSecret.key=token"}, minimalValues...)...)
			Expect(err).NotTo(HaveOccurred(), out)
			docs := decodeDocs(out)
			ep := field(docs["ServiceMonitor"][0], "spec", "endpoints").([]any)[0].(map[string]any)
			Expect(ep).To(HaveKeyWithValue("scheme", "https"))
			Expect(ep).To(HaveKeyWithValue("bearerTokenFile", "/var/run/secrets/kubernetes.io/serviceaccount/token"))
			Expect(ep).To(HaveKeyWithValue("tlsConfig", map[string]any{"insecureSkipVerify": true}))
			pm := field(docs["PodMonitor"][0], "spec", "podMetricsEndpoints").([]any)[0].(map[string]any)
			Expect(pm).To(HaveKeyWithValue("scheme", "https"))
			Expect(pm).To(HaveKeyWithValue("authorization", HaveKeyWithValue("credentials", map[string]any{"name": "tok", "key": "token"})))
			Expect(byName(docs["ClusterRole"], "x-chatgroup-operator-metrics-reader")).NotTo(BeNil())
			Expect(byName(docs["ClusterRole"], "x-chatgroup-operator-metrics-auth")).NotTo(BeNil())
			Expect(field(docs["Deployment"][0], "spec", "template", "spec", "containers").([]any)[0]).To(
				HaveKeyWithValue("args", ContainElement("--metrics-secure=true")))
		})

		It("verifies the certificate with a configured CA", func() {
			out, err := helm(append([]string{"template", "x", chartDir, "--set", "metrics.serviceMonitor.enabled=true",
				"--set", "metrics.serviceMonitor.tlsConfig.ca.configMap.name=metrics-ca",
				"--set", "metrics.serviceMonitor.tlsConfig.ca.configMap.key=ca.crt"}, minimalValues...)...)
			Expect(err).NotTo(HaveOccurred(), out)
			ep := field(decodeDocs(out)["ServiceMonitor"][0], "spec", "endpoints").([]any)[0].(map[string]any)
			Expect(ep["tlsConfig"]).NotTo(HaveKey("insecureSkipVerify"))
			Expect(ep["tlsConfig"]).To(HaveKeyWithValue("ca", HaveKey("configMap")))
		})

		It("serves plain HTTP, with no auth roles, when metrics.secure is false", func() {
			out, err := helm(append([]string{"template", "x", chartDir, "--set", "metrics.serviceMonitor.enabled=true",
				"--set", "metrics.secure=false"}, minimalValues...)...)
			Expect(err).NotTo(HaveOccurred(), out)
			docs := decodeDocs(out)
			ep := field(docs["ServiceMonitor"][0], "spec", "endpoints").([]any)[0].(map[string]any)
			Expect(ep).NotTo(HaveKey("scheme"))
			Expect(ep).NotTo(HaveKey("bearerTokenFile"))
			Expect(byName(docs["ClusterRole"], "x-chatgroup-operator-metrics-auth")).To(BeNil())
			Expect(field(docs["Deployment"][0], "spec", "template", "spec", "containers").([]any)[0]).To(
				HaveKeyWithValue("args", ContainElement("--metrics-secure=false")))
		})
	})

	It("grants ChatGroup create only in the discovery namespace, and only when discovery is on", func() {
		out, err := helm(append([]string{"template", "x", chartDir, "--set", "discoveryNamespace=found"}, minimalValues...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		docs := decodeDocs(out)
		for _, cr := range docs["ClusterRole"] {
			for _, r := range field(cr, "rules").([]any) {
				rule := r.(map[string]any)
				if res, ok := rule["resources"].([]any); ok && len(res) > 0 && res[0] == "chatgroups" {
					Expect(rule["verbs"]).NotTo(ContainElement("create"), "ClusterRole %s", cr.GetName())
					Expect(rule["verbs"]).NotTo(ContainElement("delete"), "ClusterRole %s", cr.GetName())
				}
			}
		}
		role := byName(docs["Role"], "x-chatgroup-operator-discovery")
		Expect(role).NotTo(BeNil())
		Expect(role.GetNamespace()).To(Equal("found"))
		Expect(field(role, "rules")).To(Equal([]any{map[string]any{
			"apiGroups": []any{"im.chatgroup.dev"}, "resources": []any{"chatgroups"}, "verbs": []any{"create", "delete"},
		}}))
		Expect(byName(docs["RoleBinding"], "x-chatgroup-operator-discovery").GetNamespace()).To(Equal("found"))

		out, err = helm(append([]string{"template", "x", chartDir}, minimalValues...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(byName(decodeDocs(out)["Role"], "x-chatgroup-operator-discovery")).To(BeNil())
	})

	It("renders the PrometheusRule, the dashboard ConfigMap and the Certificate when enabled", func() {
		out, err := helm("template", "x", chartDir, "--set", "im.sdkAppID=1", "--set", "im.secretKey=k", "--set", "im.callbackToken=t",
			"--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=kube-prometheus-stack",
			"--set", "prometheusRule.callbackSilenceSeconds=7200",
			"--set", "grafana.dashboard.enabled=true", "--set", "grafana.dashboard.annotations.grafana_folder=Operators",
			"--set", "callback.tls.enabled=true", "--set", "callback.tls.certManager.issuerRef.name=letsencrypt",
			"--set", "callback.tls.certManager.dnsNames[0]=im-callbacks.example.com")
		Expect(err).NotTo(HaveOccurred(), out)
		docs := renderedDocs(out)

		rule := docs["PrometheusRule/x-chatgroup-operator"]
		Expect(rule).NotTo(BeNil(), "no PrometheusRule rendered")
		Expect(rule).To(HaveKeyWithValue("metadata", HaveKeyWithValue("labels", HaveKeyWithValue("release", "kube-prometheus-stack"))))
		var source map[string]any
		b, err := os.ReadFile(alertsFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.Unmarshal([]byte(strings.Replace(string(b), "timestamp_seconds)) > 3600", "timestamp_seconds)) > 7200", 1)), &source)).To(Succeed())
		Expect(rule["spec"]).To(Equal(source), "the PrometheusRule's spec is alerts.yaml, with the silence threshold set")

		cm := docs["ConfigMap/x-chatgroup-operator-dashboard"]
		Expect(cm).NotTo(BeNil(), "no dashboard ConfigMap rendered")
		Expect(cm).To(HaveKeyWithValue("metadata", HaveKeyWithValue("labels", HaveKeyWithValue("grafana_dashboard", "1"))))
		Expect(cm).To(HaveKeyWithValue("metadata", HaveKeyWithValue("annotations", HaveKeyWithValue("grafana_folder", "Operators"))))
		dash, err := os.ReadFile(dashboardFile)
		Expect(err).NotTo(HaveOccurred())
		Expect(cm["data"]).To(HaveKeyWithValue("chatgroup-operator.json", MatchJSON(dash)))

		cert := docs["Certificate/x-chatgroup-operator-callback-tls"]
		Expect(cert).NotTo(BeNil(), "no Certificate rendered")
		Expect(cert["spec"]).To(And(
			HaveKeyWithValue("secretName", "x-chatgroup-operator-callback-tls"),
			HaveKeyWithValue("issuerRef", HaveKeyWithValue("name", "letsencrypt")),
			HaveKeyWithValue("dnsNames", ContainElements("im-callbacks.example.com", "x-chatgroup-operator-callback.default.svc")),
		))
		dep := docs["Deployment/x-chatgroup-operator"]
		Expect(fmt.Sprint(dep)).To(ContainSubstring("--webhook-cert-dir=/etc/chatgroup-operator/callback-tls"))
		Expect(fmt.Sprint(dep)).To(ContainSubstring("secretName:x-chatgroup-operator-callback-tls"))
	})

	It("mounts an existing TLS Secret without a Certificate, and renders no monitoring objects by default", func() {
		out, err := helm("template", "x", chartDir, "--set", "im.sdkAppID=1", "--set", "im.secretKey=k", "--set", "im.callbackToken=t",
			"--set", "callback.tls.enabled=true", "--set", "callback.tls.existingSecret=my-tls")
		Expect(err).NotTo(HaveOccurred(), out)
		docs := renderedDocs(out)
		Expect(docs).NotTo(HaveKey("Certificate/x-chatgroup-operator-callback-tls"))
		Expect(docs).NotTo(HaveKey("PrometheusRule/x-chatgroup-operator"))
		Expect(docs).NotTo(HaveKey("ConfigMap/x-chatgroup-operator-dashboard"))
		Expect(fmt.Sprint(docs["Deployment/x-chatgroup-operator"])).To(ContainSubstring("secretName:my-tls"))
	})

	It("logs JSON by default", func() {
		out, err := helm("template", "x", chartDir, "--set", "im.sdkAppID=1", "--set", "im.secretKey=k", "--set", "im.callbackToken=t")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("- --zap-encoder=json"))
		Expect(out).NotTo(ContainSubstring("--webhook-cert-dir"), "HTTPS is off by default")
	})

	It("renders the optional objects when asked", func() {
		out, err := helm("template", "x", chartDir, "--set", "im.sdkAppID=1", "--set", "im.existingSecret=creds",
			"--set", "replicaCount=2", "--set", "ingress.enabled=true", "--set", "networkPolicy.enabled=true",
			"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.podMonitor.enabled=true")
		Expect(err).NotTo(HaveOccurred(), out)
		for _, kind := range []string{"kind: Ingress", "kind: NetworkPolicy", "kind: PodDisruptionBudget", "kind: ServiceMonitor", "kind: PodMonitor"} {
			Expect(out).To(ContainSubstring(kind))
		}
		Expect(out).NotTo(ContainSubstring("kind: Secret"), "existingSecret must not create a Secret")
	})

	It("installs into the API server with the objects it promises", func() {
		// The discovery Role lives in the discovery namespace, which must exist first.
		Expect(adminClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: discoveryNS}})).To(Succeed())
		out, err := helm(append([]string{"install", releaseName, chartDir, "-n", releaseNamespace, "--create-namespace"}, installValues()...)...)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("/callback"), "NOTES.txt must print the callback URL")

		for _, name := range []string{"chatgroups.im.chatgroup.dev", "chatapps.im.chatgroup.dev"} {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(adminClient.Get(ctx, client.ObjectKey{Name: name}, crd)).To(Succeed())
			Expect(crd.Annotations).To(HaveKeyWithValue("helm.sh/resource-policy", "keep"), name)
		}

		dep := &appsv1.Deployment{}
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator"}, dep)).To(Succeed())
		pod := dep.Spec.Template.Spec
		Expect(pod.SecurityContext.RunAsNonRoot).To(Equal(ptr.To(true)))
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		c := pod.Containers[0]
		Expect(c.SecurityContext.ReadOnlyRootFilesystem).To(Equal(ptr.To(true)))
		Expect(c.SecurityContext.AllowPrivilegeEscalation).To(Equal(ptr.To(false)))
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		Expect(c.LivenessProbe).NotTo(BeNil())
		Expect(c.ReadinessProbe).NotTo(BeNil())
		Expect(c.Resources.Requests).NotTo(BeEmpty())
		Expect(c.Lifecycle).NotTo(BeNil(), "a terminating pod must keep receiving callbacks while its endpoint is removed")
		Expect(c.Lifecycle.PreStop.Sleep.Seconds).To(BeNumerically(">", 0))
		Expect(c.Args).To(ContainElement("--leader-elect=true"))

		for _, name := range []string{"e2e-chatgroup-operator-callback", "e2e-chatgroup-operator-metrics"} {
			Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: name}, &corev1.Service{})).To(Succeed(), name)
		}
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator"}, &corev1.ServiceAccount{})).To(Succeed())
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator-im"}, &corev1.Secret{})).To(Succeed())
		role := &rbacv1.Role{}
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator-leader-election"}, role)).To(Succeed())
		Expect(role.Rules[0].Resources).To(ConsistOf("leases"))
		cr := &rbacv1.ClusterRole{}
		Expect(adminClient.Get(ctx, client.ObjectKey{Name: "e2e-chatgroup-operator-manager"}, cr)).To(Succeed())
		for _, rule := range cr.Rules {
			Expect(rule.Resources).NotTo(ContainElement("secrets"), "Secrets are granted in the release namespace only, by a Role")
			Expect(rule.Verbs).NotTo(ContainElement("*"))
		}
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator-manager"}, role)).To(Succeed())
		Expect(role.Rules).To(HaveLen(1))
		Expect(role.Rules[0].Resources).To(ConsistOf("secrets"))
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator-manager"}, &rbacv1.RoleBinding{})).To(Succeed())
	})

	It("runs the manager with the Deployment's args, as the chart's ServiceAccount", func() {
		manager = startManagerAsDeployment()
	})

	It("serves metrics over https to authorized callers only", func() {
		url := "https://" + metricsAddr + "/metrics"
		_, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().ServiceAccounts(releaseNamespace).Create(ctx,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: scraperSA}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		By("no token: 401")
		Expect(scrape(url, "")).To(HaveField("Status", http.StatusUnauthorized))
		By("a token the API server does not know: refused (401, or 500 when the TokenReview reports an error)")
		forged := scrape(url, "not-a-token")
		Expect(forged.Status).NotTo(Equal(http.StatusOK))
		Expect(forged.Body).NotTo(ContainSubstring("chatgroup_"))
		By("a valid token without the metrics-reader role (the manager's own): 403")
		Expect(scrape(url, serviceAccountToken(releaseName+"-chatgroup-operator"))).To(HaveField("Status", http.StatusForbidden))
		By("the scraper the chart bound to metrics-reader: 200 with the operator's metrics")
		token := serviceAccountToken(scraperSA)
		Eventually(func() scraped { return scrape(url, token) }).WithTimeout(30 * time.Second).Should(And(
			HaveField("Status", http.StatusOK), HaveField("Body", ContainSubstring("chatgroup_"))))

		By("plain http is not served: the TLS listener drops or refuses it")
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metricsAddr+"/metrics", nil)
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			Expect(resp.StatusCode).NotTo(Equal(http.StatusOK))
		}
	})

	It("makes a declared ChatGroup Ready, visible in kubectl get chatgroups", func() {
		manifest := filepath.Join(workDir, "declared.yaml")
		Expect(os.WriteFile(manifest, []byte(`apiVersion: im.chatgroup.dev/v1alpha1
kind: ChatGroup
metadata:
  name: declared
  namespace: default
spec:
  groupID: e2e-declared
  type: Public
  owner: leckie
  name: Declared in Git
  notification: hello
  attributes:
    tier: gold
`), 0o600)).To(Succeed())
		out, err := kubectl("apply", "-f", manifest)
		Expect(err).NotTo(HaveOccurred(), out)

		out, err = kubectl("wait", "--for=condition=Ready", "chatgroup/declared", "-n", "default", "--timeout=90s")
		Expect(err).NotTo(HaveOccurred(), out)

		g, ok := fake.Group("e2e-declared")
		Expect(ok).To(BeTrue(), "the group must exist in the IM backend")
		Expect(g.Name).To(Equal("Declared in Git"))
		Expect(g.Notification).To(Equal("hello"))
		Expect(g.Attributes).To(Equal(map[string]string{"tier": "gold"}))

		By("a simulated user chats; the callbacks reach status through the receiver")
		u := fake.User("leckie", "iOS")
		for i := range 5 {
			_, err := u.SendText("e2e-declared", fmt.Sprintf("message %d", i))
			Expect(err).NotTo(HaveOccurred())
		}
		Eventually(func() string {
			out, _ := kubectl("get", "chatgroups", "-n", "default")
			return out
		}).WithTimeout(30 * time.Second).Should(MatchRegexp(`(?m)^declared\s+e2e-declared\s+Declared in Git\s+Public\s+5\s+True\s+True`))

		out, err = kubectl("get", "chatgroups", "-n", "default")
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(strings.Split(out, "\n")[0])).To(Equal([]string{"NAME", "GROUP-ID", "DISPLAY-NAME", "TYPE", "LAST-SEQ", "READY", "SYNCED", "AGE"}))
	})

	It("discovers a group nobody declared into the discovery namespace", func() {
		id, err := fake.User("tommy", "Android").CreateGroup(timfake.GroupSpec{Type: "Public", Name: "Found"})
		Expect(err).NotTo(HaveOccurred())
		Expect(id).To(HavePrefix("@TGS#"))
		Eventually(func() (string, error) {
			return kubectl("get", "chatgroups", "-n", discoveryNS, "-o", "jsonpath={.items[*].spec.groupID} {.items[*].spec.managementPolicy}")
		}).WithTimeout(30 * time.Second).Should(Equal(id + " Observe"))
	})

	It("raises IM's daily group quota alarm as a Warning Event on the manager's Pod", func() {
		// The fake's daily quota is 3 (BeforeSuite): the third group of the
		// day takes the net increase past 70%, and IM sends the alarm.
		_, err := fake.User("tommy", "Android").CreateGroup(timfake.GroupSpec{Type: "Public", Name: "Third of the day"})
		Expect(err).NotTo(HaveOccurred())
		waitAlarmEvent("IMDailyGroupQuotaAlarm")
		Eventually(func() float64 {
			v, _ := sampleValue(scrapeFamilies(), "chatgroup_im_alarms_total", map[string]string{"kind": "daily_group_quota"})
			return v
		}).WithTimeout(10 * time.Second).Should(BeNumerically(">=", 1))
	})

	It("serves every metric the dashboard and the alerts query, after real traffic", func() {
		By("a push that IM rate-limits once, so that a retry is counted")
		fake.InjectError("modify_group_base_info", 60007, 1)
		out, err := kubectl("patch", "chatgroup", "declared", "-n", "default", "--type=merge", "-p", `{"spec":{"notification":"rate limited once"}}`)
		Expect(err).NotTo(HaveOccurred(), out)
		Eventually(func() string {
			g, _ := fake.Group("e2e-declared")
			return g.Notification
		}).WithTimeout(60 * time.Second).Should(Equal("rate limited once"))

		served := scrapeFamilies()
		pushes, ok := sampleValue(served, "chatgroup_pushes_total", map[string]string{"app": "default", "command": "modify_group_base_info"})
		Expect(ok).To(BeTrue())
		Expect(pushes).To(BeNumerically(">=", 1))
		ready, ok := sampleValue(served, "chatgroup_groups", map[string]string{"app": "default", "condition": "Ready", "status": "True"})
		Expect(ok).To(BeTrue(), "chatgroup_groups counts the cached ChatGroups")
		Expect(ready).To(BeNumerically(">=", 1))

		checkQueriedMetricsServed()
	})

	It("gives the ServiceAccount nothing it does not need", func() {
		sa := serviceAccountConfig()
		cs, err := kubernetes.NewForConfig(sa)
		Expect(err).NotTo(HaveOccurred())
		_, err = cs.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets in kube-system must be forbidden, got %v", err)

		By("Secrets: readable in the release namespace (ChatApps' credentials), refused by the API server anywhere else")
		other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "not-the-operators"},
			StringData: map[string]string{"secretKey": "x"}}
		Expect(adminClient.Create(ctx, other)).To(Succeed())
		DeferCleanup(func() { Expect(adminClient.Delete(ctx, other)).To(Succeed()) })
		got, err := cs.CoreV1().Secrets(releaseNamespace).Get(ctx, "e2e-chatgroup-operator-im", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred(), "a Secret in the release namespace must be readable")
		Expect(got.Data).To(HaveKeyWithValue("secretKey", []byte(secretKey)))
		_, err = cs.CoreV1().Secrets(releaseNamespace).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred(), "listing (and so watching) Secrets in the release namespace must be allowed")
		_, err = cs.CoreV1().Secrets("default").Get(ctx, other.Name, metav1.GetOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "a Secret in another namespace must be forbidden, got %v", err)
		_, err = cs.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "listing Secrets cluster-wide must be forbidden, got %v", err)
		_, err = cs.CoreV1().Secrets(releaseNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "rbac-probe"}},
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "Secrets are read-only to the operator, got %v", err)
		_, err = cs.AppsV1().Deployments(releaseNamespace).List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "Deployments are none of its business: %v", err)
		_, err = cs.CoordinationV1().Leases("default").List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "Leases only in the release namespace: %v", err)
		_, err = cs.CoordinationV1().Leases(releaseNamespace).List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred(), "Leases in the release namespace are allowed")

		By("ChatGroups: create only in the discovery namespace (a server-side dry run is authorized like a create)")
		sac, err := client.New(sa, client.Options{Scheme: env.Scheme})
		Expect(err).NotTo(HaveOccurred())
		newCG := func(ns string) *imv1alpha1.ChatGroup {
			return &imv1alpha1.ChatGroup{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rbac-probe"},
				Spec:       imv1alpha1.ChatGroupSpec{GroupID: "rbac-probe", Type: imv1alpha1.GroupTypePublic},
			}
		}
		Expect(sac.Create(ctx, newCG(discoveryNS), client.DryRunAll)).To(Succeed(), "discovery creates ChatGroups here")
		for _, ns := range []string{"default", releaseNamespace} {
			err = sac.Create(ctx, newCG(ns), client.DryRunAll)
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "create in %s must be forbidden, got %v", ns, err)
		}
		err = sac.List(ctx, &imv1alpha1.ChatGroupList{})
		Expect(err).NotTo(HaveOccurred(), "reading ChatGroups everywhere is still allowed")
	})

	It("upgrades with changed values", func() {
		out, err := helm(append(append([]string{"upgrade", releaseName, chartDir, "-n", releaseNamespace}, installValues()...),
			"--set", "resyncInterval=5m", "--set", "logLevel=debug")...)
		Expect(err).NotTo(HaveOccurred(), out)
		dep := &appsv1.Deployment{}
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator"}, dep)).To(Succeed())
		Expect(dep.Spec.Template.Spec.Containers[0].Args).To(ContainElements("--resync-interval=5m", "--zap-log-level=debug"))
		Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: "declared"}, &imv1alpha1.ChatGroup{})).To(Succeed())
	})

	It("uninstalls, leaving the CRD and every ChatGroup in place", func() {
		out, err := helm("uninstall", releaseName, "-n", releaseNamespace, "--wait")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(adminClient.Get(ctx, client.ObjectKey{Name: "chatgroups.im.chatgroup.dev"}, &apiextensionsv1.CustomResourceDefinition{})).To(Succeed())
		Expect(adminClient.Get(ctx, client.ObjectKey{Name: "chatapps.im.chatgroup.dev"}, &apiextensionsv1.CustomResourceDefinition{})).To(Succeed())
		list := &imv1alpha1.ChatGroupList{}
		Expect(adminClient.List(ctx, list)).To(Succeed())
		Expect(len(list.Items)).To(BeNumerically(">=", 2))
		err = adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator"}, &appsv1.Deployment{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the Deployment must be gone: %v", err)
	})
})

// renderedDocs splits helm template output into objects by "Kind/name".
func renderedDocs(out string) map[string]map[string]any {
	GinkgoHelper()
	docs := map[string]map[string]any{}
	for _, doc := range strings.Split(out, "\n---") {
		var m map[string]any
		Expect(yaml.Unmarshal([]byte(doc), &m)).To(Succeed(), doc)
		if m == nil {
			continue
		}
		md, _ := m["metadata"].(map[string]any)
		docs[fmt.Sprintf("%v/%v", m["kind"], md["name"])] = m
	}
	return docs
}

// serviceAccountConfig authenticates as the chart's ServiceAccount with a
// token from the TokenRequest API, the way a pod's projected token would.
func serviceAccountConfig() *rest.Config {
	GinkgoHelper()
	return &rest.Config{
		Host:            env.Config.Host,
		TLSClientConfig: rest.TLSClientConfig{CAData: env.Config.CAData},
		BearerToken:     serviceAccountToken("e2e-chatgroup-operator"),
	}
}

// serviceAccountToken asks the TokenRequest API for a token of the named
// ServiceAccount in the release namespace.
func serviceAccountToken(name string) string {
	GinkgoHelper()
	cs, err := kubernetes.NewForConfig(env.Config)
	Expect(err).NotTo(HaveOccurred())
	tr, err := cs.CoreV1().ServiceAccounts(releaseNamespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return tr.Status.Token
}

type scraped struct {
	Status int
	Body   string
}

// scrape GETs url with an optional bearer token; the manager's metrics
// certificate is self-signed, so it is not verified (as the chart's
// ServiceMonitor does by default).
func scrape(url, token string) scraped {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the test talks to its own self-signed server
	}}
	resp, err := hc.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return scraped{resp.StatusCode, string(b)}
}

// byName returns the object named name, or nil.
func byName(objs []*unstructured.Unstructured, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

// startManagerAsDeployment runs bin/manager with the installed Deployment's
// container args. Two things cannot be taken literally outside a pod, and are
// mapped: the Secret volume's files are written to a directory (same file
// names, same contents) and ports become free loopback ports (the callback
// port becomes the one the fake sends to). Everything else, flag by flag, is
// the Deployment's.
func startManagerAsDeployment() *exec.Cmd {
	GinkgoHelper()
	dep := &appsv1.Deployment{}
	Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: "e2e-chatgroup-operator"}, dep)).To(Succeed())
	c := dep.Spec.Template.Spec.Containers[0]

	secretDir := filepath.Join(workDir, "im")
	Expect(os.MkdirAll(secretDir, 0o700)).To(Succeed())
	var mountPath, secretName string
	for _, m := range c.VolumeMounts {
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				mountPath, secretName = m.MountPath, v.Secret.SecretName
			}
		}
	}
	Expect(secretName).NotTo(BeEmpty(), "the Deployment must mount the IM credentials Secret")
	secret := &corev1.Secret{}
	Expect(adminClient.Get(ctx, client.ObjectKey{Namespace: releaseNamespace, Name: secretName}, secret)).To(Succeed())
	for k, v := range secret.Data {
		Expect(os.WriteFile(filepath.Join(secretDir, k), v, 0o600)).To(Succeed())
	}

	probeAddr := freeLoopbackAddr()
	callbackAddr := strings.TrimSuffix(strings.TrimPrefix(callbackURL, "http://"), "/callback")
	var args []string
	for _, a := range c.Args {
		switch {
		case strings.HasPrefix(a, "--webhook-bind-address="):
			a = "--webhook-bind-address=" + callbackAddr
		case strings.HasPrefix(a, "--metrics-bind-address="):
			metricsAddr = freeLoopbackAddr()
			a = "--metrics-bind-address=" + metricsAddr
		case strings.HasPrefix(a, "--health-probe-bind-address="):
			a = "--health-probe-bind-address=" + probeAddr
		default:
			a = strings.ReplaceAll(a, mountPath, secretDir)
		}
		args = append(args, a)
	}
	Expect(args).To(ContainElement(ContainSubstring("--sdkappid=")))

	kubeconfig := filepath.Join(workDir, "serviceaccount.kubeconfig")
	writeKubeconfig(serviceAccountConfig(), kubeconfig)
	args = append(args, "--kubeconfig="+kubeconfig)

	cmd := exec.Command(managerBin, args...)
	for _, e := range c.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+envValue(e))
	}
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	Expect(cmd.Start()).To(Succeed())
	waitReady("http://" + probeAddr + "/readyz")
	// /readyz does not wait for the metrics server, which generates its
	// self-signed certificate before it listens.
	Eventually(func() error {
		conn, err := net.DialTimeout("tcp", metricsAddr, time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err
	}).WithTimeout(30*time.Second).WithPolling(100*time.Millisecond).Should(Succeed(), "the metrics server must listen on %s", metricsAddr)
	return cmd
}

// envValue maps a container env var: literal values as they are, and the
// downward API's Pod fields to those of a pod named managerPodName.
func envValue(e corev1.EnvVar) string {
	GinkgoHelper()
	if e.ValueFrom == nil {
		return e.Value
	}
	Expect(e.ValueFrom.FieldRef).NotTo(BeNil(), "only downward API fields are mapped by this test: %s", e.Name)
	switch e.ValueFrom.FieldRef.FieldPath {
	case "metadata.name":
		return managerPodName
	case "metadata.namespace":
		return releaseNamespace
	case "metadata.uid":
		return managerPodUID
	}
	Fail("unmapped downward API field " + e.ValueFrom.FieldRef.FieldPath)
	return ""
}

func writeKubeconfig(cfg *rest.Config, path string) {
	GinkgoHelper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "sa", Namespace: releaseNamespace}
	kc.CurrentContext = "e2e"
	Expect(clientcmd.WriteToFile(*kc, path)).To(Succeed())
}
