package e2e

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
)

// decodeDocs splits rendered YAML into objects keyed by kind.
func decodeDocs(rendered string) map[string][]*unstructured.Unstructured {
	GinkgoHelper()
	out := map[string][]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(rendered), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return out
		}
		Expect(err).NotTo(HaveOccurred())
		if len(u.Object) > 0 {
			out[u.GetKind()] = append(out[u.GetKind()], u)
		}
	}
}

func field(u *unstructured.Unstructured, path ...string) any {
	GinkgoHelper()
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	Expect(err).NotTo(HaveOccurred())
	Expect(found).To(BeTrue(), "%s %s has no %v", u.GetKind(), u.GetName(), path)
	return v
}

// kustomize users get the same operator as Helm users: the same CRD, the same
// permissions and the same hardening. The chart's copies are generated from
// config/ by `make manifests`; this catches a hand edit on either side.
var _ = Describe("config/default (kustomize)", func() {
	It("matches the Helm chart", func() {
		kust, err := kubectl("kustomize", filepath.Join(testenv.RepoRoot(), "config", "default"))
		Expect(err).NotTo(HaveOccurred(), kust)
		chart, err := helm("template", "x", chartDir, "--set", "im.sdkAppID=1", "--set", "im.secretKey=k")
		Expect(err).NotTo(HaveOccurred(), chart)
		k, h := decodeDocs(kust), decodeDocs(chart)

		Expect(field(k["CustomResourceDefinition"][0], "spec")).To(Equal(field(h["CustomResourceDefinition"][0], "spec")))
		Expect(field(k["ClusterRole"][0], "rules")).To(Equal(field(h["ClusterRole"][0], "rules")))
		Expect(field(k["Role"][0], "rules")).To(ContainElement(HaveKeyWithValue("resources", ConsistOf("leases"))))

		kd, hd := k["Deployment"][0], h["Deployment"][0]
		Expect(field(kd, "spec", "template", "spec", "securityContext")).To(Equal(field(hd, "spec", "template", "spec", "securityContext")))
		kc := field(kd, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		hc := field(hd, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		Expect(kc["securityContext"]).To(Equal(hc["securityContext"]))
		Expect(kc["lifecycle"]).To(Equal(hc["lifecycle"]))
		Expect(k["Service"]).To(HaveLen(2), "callbacks and metrics on separate Services")
	})
})
