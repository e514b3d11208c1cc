package plugin_test

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

var _ = Describe("pause and resume", Ordered, func() {
	const ns, otherNS = "hold", "hold-other"
	// Annotations and labels someone else put on "a": pause and resume
	// must leave them as they are.
	others := map[string]string{
		"team.example.com/owner":               "payments",
		imv1alpha1.AnnotationResyncRequestedAt: "2024-01-02T03:04:05Z",
	}
	labels := map[string]string{"app.kubernetes.io/part-of": "chat"}

	BeforeAll(func() {
		createNamespace(ns)
		createNamespace(otherNS)
		ctx := context.Background()
		cg := &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a", Annotations: others, Labels: labels},
			Spec:       imv1alpha1.ChatGroupSpec{GroupID: "a", ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
		}
		Expect(k8s.Create(ctx, cg)).To(Succeed())
		makeChatGroup(ns, "b")
		makeChatGroup(ns, "c")
		makeChatGroup(otherNS, "a")
	})

	It("pause NAME sets the paused annotation on that ChatGroup only, and nothing else", func() {
		before := chatGroup(ns, "a")
		r := run(nil, "pause", "a", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("chatgroup.im.chatgroup.dev/a paused\n"))

		after := chatGroup(ns, "a")
		want := map[string]string{imv1alpha1.AnnotationPaused: "true"}
		for k, v := range others {
			want[k] = v
		}
		Expect(after.Annotations).To(Equal(want))
		Expect(after.Labels).To(Equal(labels))
		Expect(after.Spec).To(Equal(before.Spec))
		Expect(after.Generation).To(Equal(before.Generation), "metadata only: the spec is not written")
		Expect(chatGroup(ns, "b").Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused))
		Expect(chatGroup(otherNS, "a").Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused), "-n scopes the name")
	})

	It("pause is idempotent and takes several names", func() {
		r := run(nil, "pause", "a", "b", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("chatgroup.im.chatgroup.dev/a paused\nchatgroup.im.chatgroup.dev/b paused\n"))
		Expect(chatGroup(ns, "a").Annotations).To(HaveKeyWithValue(imv1alpha1.AnnotationPaused, "true"))
		Expect(chatGroup(ns, "b").Annotations).To(HaveKeyWithValue(imv1alpha1.AnnotationPaused, "true"))
		Expect(chatGroup(ns, "c").Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused))
	})

	It("resume NAME removes the paused annotation only, and is idempotent", func() {
		r := run(nil, "resume", "a", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("chatgroup.im.chatgroup.dev/a resumed\n"))
		a := chatGroup(ns, "a")
		Expect(a.Annotations).To(Equal(others))
		Expect(a.Labels).To(Equal(labels))
		Expect(chatGroup(ns, "b").Annotations).To(HaveKeyWithValue(imv1alpha1.AnnotationPaused, "true"), "b stays paused")

		// Again on a, and on c, which was never paused.
		r = run(nil, "resume", "a", "c", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("chatgroup.im.chatgroup.dev/a resumed\nchatgroup.im.chatgroup.dev/c resumed\n"))
		Expect(chatGroup(ns, "a").Annotations).To(Equal(others))
		Expect(chatGroup(ns, "c").Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused))
	})

	It("pause --all and resume --all act on every ChatGroup of the namespace, no other", func() {
		r := run(nil, "pause", "--all", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("paused 3 ChatGroups\n"))
		for _, n := range []string{"a", "b", "c"} {
			Expect(chatGroup(ns, n).Annotations).To(HaveKeyWithValue(imv1alpha1.AnnotationPaused, "true"), n)
		}
		Expect(chatGroup(ns, "a").Annotations).To(HaveKeyWithValue("team.example.com/owner", "payments"))
		Expect(chatGroup(otherNS, "a").Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused))

		r = run(nil, "resume", "--all", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("resumed 3 ChatGroups\n"))
		for _, n := range []string{"a", "b", "c"} {
			Expect(chatGroup(ns, n).Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused), n)
		}
		Expect(chatGroup(ns, "a").Annotations).To(Equal(others))
	})

	It("an unknown name fails in one line naming the ChatGroup, after the names before it", func() {
		for _, verb := range []string{"pause", "resume"} {
			r := run(nil, verb, "no-such-group", "-n", ns)
			Expect(r.code).To(Equal(1))
			Expect(r.stdout).To(BeEmpty())
			Expect(r.stderr).To(Equal("error: chatgroup hold/no-such-group not found (0 of 1 " + verb + "d before it)\n"))
		}

		r := run(nil, "pause", "a", "no-such-group", "b", "-n", ns)
		Expect(r.code).To(Equal(1))
		Expect(r.stdout).To(Equal("chatgroup.im.chatgroup.dev/a paused\n"))
		Expect(r.stderr).To(Equal("error: chatgroup hold/no-such-group not found (1 of 3 paused before it)\n"))
		Expect(chatGroup(ns, "a").Annotations).To(HaveKeyWithValue(imv1alpha1.AnnotationPaused, "true"))
		Expect(chatGroup(ns, "b").Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused), "it stops at the unknown name")
		Expect(run(nil, "resume", "a", "-n", ns).code).To(Equal(0))
	})

	It("pause and resume refuse what they cannot do, in one line", func() {
		for _, verb := range []string{"pause", "resume"} {
			for _, args := range [][]string{{verb}, {verb, "a", "--all"}, {verb, "a", "-A"}} {
				r := run(nil, append(args, "-n", ns)...)
				Expect(r.code).To(Equal(1), "%v", args)
				Expect(strings.Count(r.stderr, "\n")).To(Equal(1), r.stderr)
			}
		}
		Expect(chatGroup(ns, "a").Annotations).NotTo(HaveKey(imv1alpha1.AnnotationPaused))
	})

	It("--help says what a pause stops and what it keeps", func() {
		r := run(nil, "pause", "--help")
		Expect(r.code).To(Equal(0), r.stderr)
		help := strings.Join(strings.Fields(r.stdout), " ")
		for _, s := range []string{
			imv1alpha1.AnnotationPaused,
			"no push of spec changes, no read, no resync, no destroy",
			"Callbacks from IM are still recorded",
			"Synced condition turns False with reason Paused",
			"deletionPolicy Delete is not deleted until it is resumed",
			"--all", "--all-namespaces",
		} {
			Expect(help).To(ContainSubstring(s))
		}
		r = run(nil, "resume", "--help")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(strings.Join(strings.Fields(r.stdout), " ")).To(ContainSubstring("reads each group through the IM REST API at once"))
		r = run(nil, "--help")
		Expect(r.stdout).To(ContainSubstring("pause "))
		Expect(r.stdout).To(ContainSubstring("resume "))
	})
})

func chatGroup(ns, name string) *imv1alpha1.ChatGroup {
	GinkgoHelper()
	var cg imv1alpha1.ChatGroup
	Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &cg)).To(Succeed())
	return &cg
}
