package plugin_test

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// makeChatGroup creates a ChatGroup with the given conditions in status, as
// the operator would have written them (no controller runs in these
// namespaces).
func makeChatGroup(ns, name string, conds ...metav1.Condition) {
	GinkgoHelper()
	ctx := context.Background()
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       imv1alpha1.ChatGroupSpec{GroupID: name, ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
	}
	Expect(k8s.Create(ctx, cg)).To(Succeed())
	if len(conds) == 0 {
		return
	}
	for _, c := range conds {
		c.ObservedGeneration = cg.Generation
		meta.SetStatusCondition(&cg.Status.Conditions, c)
	}
	cg.Status.ObservedGeneration = cg.Generation
	Expect(k8s.Status().Update(ctx, cg)).To(Succeed())
}

func cond(typ string, ok bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg}
}

var (
	readyOK    = cond(imv1alpha1.ConditionReady, true, "Observed", "the group exists")
	syncedOK   = cond(imv1alpha1.ConditionSynced, true, "ReconcileSuccess", "ok")
	upToDateOK = cond(imv1alpha1.ConditionUpToDate, true, "UpToDate", "equal")
)

// fieldsOf returns the whitespace-separated fields of the line starting with prefix.
func fieldsOf(out, prefix string) []string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.Fields(l)
		}
	}
	return nil
}

// failingRow returns the fields of the Failing table's row for name.
func failingRow(out, name string) []string {
	tail := out[strings.Index(out, "Failing"):]
	for _, l := range strings.Split(tail, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == name {
			return f
		}
	}
	return nil
}

var _ = Describe("status and resync", Ordered, func() {
	const ns = "ops"
	BeforeAll(func() {
		createNamespace(ns)
		for _, n := range []string{"a", "b", "c"} {
			makeChatGroup(ns, n, readyOK, syncedOK, upToDateOK)
		}
		makeChatGroup(ns, "gone", cond(imv1alpha1.ConditionReady, false, "GroupNotFound", "group gone does not exist in IM"), syncedOK)
		makeChatGroup(ns, "refused", readyOK, cond(imv1alpha1.ConditionSynced, false, "RejectedByIM", "IM error 10004:\nname too long"),
			cond(imv1alpha1.ConditionUpToDate, false, "Drifted", "name differs"))
		makeChatGroup(ns, "new")
	})

	It("status counts per app and names the failing ChatGroups", func() {
		r := run(nil, "status", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(fieldsOf(r.stdout, "APP ")).To(Equal([]string{"APP", "GROUPS", "READY", "SYNCED", "UP-TO-DATE", "FAILING", "IN-CONFLICT", "PAUSED", "PENDING"}))
		Expect(fieldsOf(r.stdout, "default ")).To(Equal([]string{"default", "6", "4", "4", "3", "2", "0", "0", "1"}), r.stdout)
		Expect(r.stdout).To(ContainSubstring("Failing (2):"))
		Expect(failingRow(r.stdout, "gone")).To(HaveExactElements("default", ns, "gone", "gone", "Ready", "GroupNotFound", "group", "gone", "does", "not", "exist", "in", "IM"), r.stdout)
		Expect(failingRow(r.stdout, "refused")[:6]).To(HaveExactElements("default", ns, "refused", "refused", "Synced", "RejectedByIM"), r.stdout)
		Expect(r.stdout).To(ContainSubstring("IM error 10004: name too long"), "a message stays on its line")
		for _, ok := range []string{" a ", " b ", " c ", " new "} {
			Expect(strings.Split(r.stdout, "Failing")[1]).NotTo(ContainSubstring(ok))
		}

		// A ChatGroup of a ChatApp is counted under that app.
		const appNS = "ops-staging"
		createNamespace(appNS)
		staging := &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "in-staging"},
			Spec: imv1alpha1.ChatGroupSpec{AppRef: &imv1alpha1.AppReference{Name: "staging"}, GroupID: "in-staging",
				ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
		}
		Expect(k8s.Create(context.Background(), staging)).To(Succeed())
		meta.SetStatusCondition(&staging.Status.Conditions, cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonAppNotFound, "no ChatApp named staging"))
		Expect(k8s.Status().Update(context.Background(), staging)).To(Succeed())
		r = run(nil, "status", "-n", appNS)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(fieldsOf(r.stdout, "staging ")).To(Equal([]string{"staging", "1", "0", "0", "0", "1", "0", "0", "0"}), r.stdout)
		Expect(fieldsOf(r.stdout, "default ")).To(BeNil(), r.stdout)
		Expect(failingRow(r.stdout, "in-staging")[:6]).To(HaveExactElements("staging", appNS, "in-staging", "in-staging", "Ready", imv1alpha1.ReasonAppNotFound), r.stdout)

		r = run(nil, "status", "-n", "no-such-namespace")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("No ChatGroups in this namespace.\n"))
	})

	It("resync NAME sets the resync-requested-at annotation on that ChatGroup only", func() {
		r := run(nil, "resync", "gone", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("chatgroup.im.chatgroup.dev/gone resync requested\n"))
		Expect(annotation(ns, "gone")).NotTo(BeEmpty())
		Expect(annotation(ns, "a")).To(BeEmpty())
	})

	It("resync --all sets a new value on every ChatGroup of the namespace", func() {
		before := annotation(ns, "gone")
		r := run(nil, "resync", "--all", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("resync requested for 6 ChatGroups\n"))
		var values []string
		for _, n := range []string{"a", "b", "c", "gone", "refused", "new"} {
			values = append(values, annotation(ns, n))
		}
		Expect(values[0]).NotTo(BeEmpty())
		Expect(values).To(HaveEach(values[0]), "one value for the whole request")
		Expect(values[0]).NotTo(Equal(before), "a new value asks for a new read")
	})

	It("resync refuses what it cannot do, in one line", func() {
		r := run(nil, "resync", "no-such-group", "-n", ns)
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(Equal("error: chatgroup ops/no-such-group not found (0 of 1 requested before it)\n"))
		for _, args := range [][]string{{"resync"}, {"resync", "a", "--all"}, {"resync", "a", "-A"}} {
			r = run(nil, append(args, "-n", ns)...)
			Expect(r.code).To(Equal(1), "%v", args)
			Expect(strings.Count(r.stderr, "\n")).To(Equal(1), r.stderr)
		}
	})
})

var _ = Describe("status of conflicting and paused ChatGroups", Ordered, func() {
	const ns = "held"
	const conflictMsg = "group shared-team is owned by Enforce ChatGroup chat/shared-team"
	BeforeAll(func() {
		createNamespace(ns)
		makeChatGroup(ns, "fine", readyOK, syncedOK, upToDateOK)
		makeChatGroup(ns, "second-owner", cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonConflict, conflictMsg), syncedOK)
		makeChatGroup(ns, "on-hold", readyOK, cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonPaused, "paused by im.chatgroup.dev/paused"), upToDateOK)
		makeChatGroup(ns, "on-hold-gone", cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonGroupNotFound, "group on-hold-gone does not exist in IM"),
			cond(imv1alpha1.ConditionSynced, false, imv1alpha1.ReasonPaused, "paused by im.chatgroup.dev/paused"))
	})

	It("counts them per app, names the conflicting ones with their message, and not a pause alone", func() {
		r := run(nil, "status", "-n", ns)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(fieldsOf(r.stdout, "default ")).To(Equal([]string{"default", "4", "2", "2", "2", "2", "1", "2", "0"}), r.stdout)
		Expect(r.stdout).To(ContainSubstring("Failing (2):"))
		Expect(failingRow(r.stdout, "second-owner")).To(HaveExactElements(append(
			[]string{"default", ns, "second-owner", "second-owner", "Ready", imv1alpha1.ReasonConflict},
			strings.Fields(conflictMsg)...)), r.stdout)
		Expect(failingRow(r.stdout, "on-hold-gone")[:6]).To(HaveExactElements("default", ns, "on-hold-gone", "on-hold-gone", "Ready", imv1alpha1.ReasonGroupNotFound),
			"a paused ChatGroup that fails for another reason is still named")
		Expect(failingRow(r.stdout, "on-hold")).To(BeNil(), "a pause alone is not a failure")
		Expect(failingRow(r.stdout, "fine")).To(BeNil())
	})
})

func annotation(ns, name string) string {
	GinkgoHelper()
	var cg imv1alpha1.ChatGroup
	Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &cg)).To(Succeed())
	return cg.Annotations[imv1alpha1.AnnotationResyncRequestedAt]
}
