package v1alpha1_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

func newChatApp(mutate func(*imv1alpha1.ChatAppSpec)) *imv1alpha1.ChatApp {
	ca := &imv1alpha1.ChatApp{
		ObjectMeta: metav1.ObjectMeta{Name: "app-" + uniqueName()},
		Spec: imv1alpha1.ChatAppSpec{SDKAppID: 1400000002,
			CredentialsSecretRef: imv1alpha1.SecretReference{Name: "im-credentials"}},
	}
	if mutate != nil {
		mutate(&ca.Spec)
	}
	return ca
}

var _ = Describe("ChatApp CRD", func() {
	It("accepts a minimal ChatApp and applies the defaults", func() {
		ca := newChatApp(nil)
		Expect(k8sClient.Create(ctx, ca)).To(Succeed())
		got := &imv1alpha1.ChatApp{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ca), got)).To(Succeed())
		Expect(got.Spec.Endpoint).To(Equal("https://console.tim.qq.com"))
		Expect(got.Spec.AdminIdentifier).To(Equal("administrator"))
		Expect(got.Spec.QPS).To(Equal(int32(100)))
		Expect(got.Spec.ResyncInterval).NotTo(BeNil())
		Expect(got.Spec.ResyncInterval.Duration.String()).To(Equal("10m0s"))
	})

	It("refuses a ChatApp without sdkAppID or credentials", func() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(imv1alpha1.GroupVersion.WithKind("ChatApp"))
		u.SetName(uniqueName())
		u.Object["spec"] = map[string]any{"endpoint": "https://console.tim.qq.com"}
		err := k8sClient.Create(ctx, u)
		expectInvalid(err, "spec.sdkAppID", "Required value")
		Expect(err.Error()).To(ContainSubstring("spec.credentialsSecretRef"))
	})

	DescribeTable("refuses invalid specs with a message naming the field",
		func(mutate func(*imv1alpha1.ChatAppSpec), fieldPath, why string) {
			expectInvalid(k8sClient.Create(ctx, newChatApp(mutate)), fieldPath, why)
		},
		Entry("zero sdkAppID", func(s *imv1alpha1.ChatAppSpec) { s.SDKAppID = 0 }, "spec.sdkAppID", "greater than or equal to 1"),
		Entry("negative sdkAppID", func(s *imv1alpha1.ChatAppSpec) { s.SDKAppID = -5 }, "spec.sdkAppID", "greater than or equal to 1"),
		Entry("endpoint not a URL", func(s *imv1alpha1.ChatAppSpec) { s.Endpoint = "console.tim.qq.com" }, "spec.endpoint", "should match"),
		Entry("endpoint with a path", func(s *imv1alpha1.ChatAppSpec) { s.Endpoint = "https://console.tim.qq.com/v4/x" }, "spec.endpoint", "should match"),
		Entry("admin with white space", func(s *imv1alpha1.ChatAppSpec) { s.AdminIdentifier = "admin istrator" }, "spec.adminIdentifier", "should match"),
		Entry("qps zero", func(s *imv1alpha1.ChatAppSpec) { s.QPS = -1 }, "spec.qps", "greater than or equal to 1"),
		Entry("qps too high", func(s *imv1alpha1.ChatAppSpec) { s.QPS = 20000 }, "spec.qps", "less than or equal to 10000"),
		Entry("resyncInterval too short", func(s *imv1alpha1.ChatAppSpec) { s.ResyncInterval = &metav1.Duration{Duration: 1e9} },
			"spec.resyncInterval", "between 1m and 24h"),
		Entry("secret name not a name", func(s *imv1alpha1.ChatAppSpec) { s.CredentialsSecretRef.Name = "Bad_Name" },
			"spec.credentialsSecretRef.name", "should match"),
		Entry("allowed namespace not a name", func(s *imv1alpha1.ChatAppSpec) { s.AllowedNamespaces = []string{"Prod"} },
			"spec.allowedNamespaces[0]", "should match"),
		Entry("duplicate allowed namespace", func(s *imv1alpha1.ChatAppSpec) { s.AllowedNamespaces = []string{"prod", "prod"} },
			"spec.allowedNamespaces[1]", "Duplicate value"),
		Entry("discovery namespace not a name", func(s *imv1alpha1.ChatAppSpec) { s.Discovery.Namespace = strings.Repeat("n", 64) },
			"spec.discovery.namespace", "may not be more than 63"),
	)

	It("refuses the name default, which is the operator's own app", func() {
		ca := newChatApp(nil)
		ca.Name = "default"
		expectInvalid(k8sClient.Create(ctx, ca), "", "the name default is the operator's own app")
		expectInvalid(k8sClient.Create(ctx, newChatGroup(func(s *imv1alpha1.ChatGroupSpec) {
			s.AppRef = &imv1alpha1.AppReference{Name: "default"}
		})), "spec.appRef.name", "leaving appRef out")
		expectInvalid(k8sClient.Create(ctx, newChatApp(func(s *imv1alpha1.ChatAppSpec) { s.SDKAppID = 1 << 32 })),
			"spec.sdkAppID", "less than or equal to 4294967295")
	})

	It("keeps sdkAppID immutable", func() {
		ca := newChatApp(nil)
		Expect(k8sClient.Create(ctx, ca)).To(Succeed())
		ca.Spec.SDKAppID = 1400000003
		expectInvalid(k8sClient.Update(ctx, ca), "spec.sdkAppID", "sdkAppID is immutable")
	})
})

var _ = Describe("ChatGroup appRef", func() {
	It("is immutable and cannot be added or removed", func() {
		cg := newChatGroup(func(s *imv1alpha1.ChatGroupSpec) { s.AppRef = &imv1alpha1.AppReference{Name: "prod"} })
		Expect(k8sClient.Create(ctx, cg)).To(Succeed())
		cg.Spec.AppRef.Name = "dev"
		expectInvalid(k8sClient.Update(ctx, cg), "spec.appRef", "appRef is immutable")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), cg)).To(Succeed())
		cg.Spec.AppRef = nil
		expectInvalid(k8sClient.Update(ctx, cg), "spec", "appRef is set at creation")

		plain := newChatGroup(nil)
		Expect(k8sClient.Create(ctx, plain)).To(Succeed())
		plain.Spec.AppRef = &imv1alpha1.AppReference{Name: "prod"}
		expectInvalid(k8sClient.Update(ctx, plain), "spec", "appRef is set at creation")
	})

	It("refuses an appRef that is not a name", func() {
		expectInvalid(k8sClient.Create(ctx, newChatGroup(func(s *imv1alpha1.ChatGroupSpec) {
			s.AppRef = &imv1alpha1.AppReference{Name: "Not_A_Name"}
		})), "spec.appRef.name", "should match")
	})
})
