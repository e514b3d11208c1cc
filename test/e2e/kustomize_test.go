package e2e

import (
	"bytes"
	"encoding/json"
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

// rulesJSON is an RBAC role's rules as JSON, so that a flow-style list in one
// file and a block-style one in another compare equal.
func rulesJSON(u *unstructured.Unstructured) string {
	GinkgoHelper()
	b, err := json.Marshal(field(u, "rules"))
	Expect(err).NotTo(HaveOccurred())
	return string(b)
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
		chart, err := helm(append([]string{"template", "x", chartDir, "--set", "discoveryNamespace=chatgroups-discovered"}, minimalValues...)...)
		Expect(err).NotTo(HaveOccurred(), chart)
		k, h := decodeDocs(kust), decodeDocs(chart)

		Expect(k["CustomResourceDefinition"]).To(HaveLen(2), "ChatGroup and ChatApp")
		Expect(h["CustomResourceDefinition"]).To(HaveLen(2), "ChatGroup and ChatApp")
		for _, crd := range []string{"chatgroups.im.chatgroup.dev", "chatapps.im.chatgroup.dev"} {
			kc, hc := byName(k["CustomResourceDefinition"], crd), byName(h["CustomResourceDefinition"], crd)
			Expect(kc).NotTo(BeNil(), crd)
			Expect(hc).NotTo(BeNil(), crd)
			Expect(field(kc, "spec")).To(Equal(field(hc, "spec")), crd)
		}
		for kname, hname := range map[string]string{
			"chatgroup-operator-manager-role":      "x-chatgroup-operator-manager",
			"chatgroup-operator-metrics-auth-role": "x-chatgroup-operator-metrics-auth",
			"chatgroup-operator-metrics-reader":    "x-chatgroup-operator-metrics-reader",
		} {
			kr, hr := byName(k["ClusterRole"], kname), byName(h["ClusterRole"], hname)
			Expect(kr).NotTo(BeNil(), kname)
			Expect(hr).NotTo(BeNil(), hname)
			Expect(rulesJSON(kr)).To(MatchJSON(rulesJSON(hr)), kname)
		}
		Expect(k["ClusterRoleBinding"]).To(HaveLen(2), "the manager's role and metrics auth")

		By("Secrets only in the operator's namespace, through a Role, on both sides")
		kr, hr := byName(k["Role"], "chatgroup-operator-manager-role"), byName(h["Role"], "x-chatgroup-operator-manager")
		Expect(kr).NotTo(BeNil())
		Expect(hr).NotTo(BeNil())
		Expect(rulesJSON(kr)).To(MatchJSON(rulesJSON(hr)))
		Expect(rulesJSON(kr)).To(ContainSubstring(`"secrets"`))
		Expect(kr.GetNamespace()).To(Equal(k["ServiceAccount"][0].GetNamespace()))
		for _, cr := range k["ClusterRole"] {
			Expect(rulesJSON(cr)).NotTo(ContainSubstring(`"secrets"`), cr.GetName())
		}
		kb := byName(k["RoleBinding"], "chatgroup-operator-manager-secrets-rolebinding")
		Expect(kb).NotTo(BeNil())
		Expect(kb.GetNamespace()).To(Equal(kr.GetNamespace()))
		Expect(field(kb, "roleRef")).To(HaveKeyWithValue("name", kr.GetName()))
		Expect(field(kb, "roleRef")).To(HaveKeyWithValue("kind", "Role"))
		Expect(field(kb, "subjects")).To(ConsistOf(And(
			HaveKeyWithValue("name", k["ServiceAccount"][0].GetName()),
			HaveKeyWithValue("namespace", k["ServiceAccount"][0].GetNamespace()))))

		By("config/discovery grants what the chart's discovery Role grants")
		disc, err := kubectl("kustomize", filepath.Join(testenv.RepoRoot(), "config", "discovery"))
		Expect(err).NotTo(HaveOccurred(), disc)
		d := decodeDocs(disc)
		Expect(rulesJSON(d["Role"][0])).To(MatchJSON(rulesJSON(byName(h["Role"], "x-chatgroup-operator-discovery"))))
		subj := field(d["RoleBinding"][0], "subjects").([]any)[0].(map[string]any)
		sa := k["ServiceAccount"][0]
		Expect(subj).To(HaveKeyWithValue("name", sa.GetName()))
		Expect(subj).To(HaveKeyWithValue("namespace", sa.GetNamespace()))
		Expect(field(byName(k["Role"], "chatgroup-operator-leader-election-role"), "rules")).To(
			ContainElement(HaveKeyWithValue("resources", ConsistOf("leases"))))

		kd, hd := k["Deployment"][0], h["Deployment"][0]
		Expect(field(kd, "spec", "template", "spec", "securityContext")).To(Equal(field(hd, "spec", "template", "spec", "securityContext")))
		kc := field(kd, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		hc := field(hd, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		Expect(kc["securityContext"]).To(Equal(hc["securityContext"]))
		Expect(kc["lifecycle"]).To(Equal(hc["lifecycle"]))
		Expect(k["Service"]).To(HaveLen(2), "callbacks and metrics on separate Services")
	})
})
