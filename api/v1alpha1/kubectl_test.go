package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
)

// What a user does first, with the real kubectl: apply the samples, list
// them, and ask kubectl explain what a field means.
var _ = Describe("kubectl", Ordered, func() {
	var kubeconfig, kubectlBin string

	BeforeAll(func() {
		kubectlBin = filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
		Expect(kubectlBin).To(BeAnExistingFile(), "kubectl is built by `make envtest`")
		user, err := env.AddUser(envtest.User{Name: "kubectl-user", Groups: []string{"system:masters"}}, nil)
		Expect(err).NotTo(HaveOccurred())
		kc, err := user.KubeConfig()
		Expect(err).NotTo(HaveOccurred())
		kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
		Expect(os.WriteFile(kubeconfig, kc, 0o600)).To(Succeed())
	})

	kubectl := func(args ...string) string {
		GinkgoHelper()
		cmd := exec.CommandContext(ctx, kubectlBin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		Expect(cmd.Run()).To(Succeed(), out.String())
		return out.String()
	}

	It("applies config/samples", func() {
		kubectl("create", "namespace", "samples")
		out := kubectl("apply", "-n", "samples", "-f", filepath.Join(testenv.RepoRoot(), "config", "samples"))
		Expect(out).To(ContainSubstring("chatgroup.im.chatgroup.dev/release-announcements created"))
		Expect(out).To(ContainSubstring("chatgroup.im.chatgroup.dev/support-lobby created"))
		Expect(out).To(ContainSubstring("chatapp.im.chatgroup.dev/staging created"))
	})

	It("lists them by short name with the printer columns", func() {
		out := kubectl("get", "cg", "-n", "samples")
		Expect(out).To(MatchRegexp(`^NAME\s+GROUP-ID\s+DISPLAY-NAME\s+TYPE\s+LAST-SEQ\s+READY\s+SYNCED\s+AGE\n`))
		Expect(out).To(MatchRegexp(`(?m)^release-announcements\s+release-announcements\s`))
		Expect(out).To(MatchRegexp(`(?m)^support-lobby\s+@TGS#2J4SZEAEL\s`))
		Expect(kubectl("get", "chat", "-n", "samples", "-o", "name")).To(ContainSubstring("chatgroup.im.chatgroup.dev/support-lobby"),
			"the category `chat` must list ChatGroups")
	})

	It("lists ChatApps with their printer columns", func() {
		out := kubectl("get", "chatapps")
		Expect(out).To(MatchRegexp(`^NAME\s+SDKAPPID\s+ENDPOINT\s+READY\s+GROUPS\s+AGE\n`))
		Expect(out).To(MatchRegexp(`(?m)^staging\s+1400000002\s+https://adminapisgp.im.qcloud.com\s`))
		Expect(kubectl("get", "chat", "-o", "name")).To(ContainSubstring("chatapp.im.chatgroup.dev/staging"),
			"the category `chat` must list ChatApps")
	})

	It("explains the fields", func() {
		out := kubectl("explain", "chatgroup.spec.groupID")
		Expect(out).To(ContainSubstring("groupID is the IM group ID"))
		Expect(out).To(ContainSubstring("48 bytes"))
		out = kubectl("explain", "chatgroup.status")
		Expect(out).To(ContainSubstring("lastMessageSeq"))
		Expect(out).To(ContainSubstring("conditions"))
		out = kubectl("explain", "chatgroup.spec")
		for _, f := range []string{"applyJoinOption", "inviteJoinOption", "maxMemberCount", "muteAllMembers", "appDefinedData", "supportTopic"} {
			Expect(out).To(ContainSubstring(f))
		}
		// No callback reports the settings: explain says drift shows at reads.
		out = kubectl("explain", "chatgroup.spec.muteAllMembers")
		Expect(out).To(ContainSubstring("Drift is found at reads only"))
	})
})
