package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// The rows of tim.Table that stop calls or are final: each reaches the
// condition it should, names its cause, and is not resent while the spec
// stays the same, however many status changes come in.
var _ = Describe("IM errors that retrying cannot fix", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	DescribeTable("a create refused by IM",
		func(inject func(), want, mention string) {
			inject()
			DeferCleanup(fake.ClearInjections)
			before := restCalls()
			cg := newChatGroup(ns, "refused", uniq("refused"), func(s *imv1alpha1.ChatGroupSpec) { s.Owner = "nobody" })
			Eventually(getter(cg), "10s").Should(WithTransform(condition(imv1alpha1.ConditionSynced), Equal(want)))
			Expect(conditionMessage(fetch(cg), imv1alpha1.ConditionSynced)).To(ContainSubstring(mention))
			// One read and one create at most (an HTTP failure stops at the read).
			calls := restCalls() - before
			Expect(calls).To(BeNumerically("<=", 2))
			for i := int64(1); i <= 10; i++ {
				bumpSeq(cg, i)
			}
			Consistently(func() int { return restCalls() - before }, "2s").Should(Equal(calls))
		},
		Entry("60016 app disabled stops calls", func() { fake.InjectError("create_group", timfake.CodeAppDisabled, -1) },
			"False/CredentialsInvalid", "SDKAppID is disabled"),
		Entry("60020 package expired stops calls", func() { fake.InjectError("create_group", timfake.CodePackageExpired, -1) },
			"False/CredentialsInvalid", "package has expired"),
		Entry("60021 source IP not allowed stops calls", func() { fake.InjectError("create_group", timfake.CodeSourceIPDenied, -1) },
			"False/CredentialsInvalid", "source IP"),
		Entry("10019 account does not exist is final", func() { fake.InjectError("create_group", timfake.CodeAccountNotFound, -1) },
			"False/RejectedByIM", "spec.owner"),
		Entry("HTTP 404 from the endpoint is final", func() { fake.FailHTTP(404, -1) },
			"False/RejectedByIM", "check --im-endpoint"),
		Entry("HTTP 403 from the endpoint is final", func() { fake.FailHTTP(403, -1) },
			"False/RejectedByIM", "HTTP 403"),
	)

	It("marks the app being unavailable on Ready too, saying what to do", func() {
		fake.InjectError("create_group", timfake.CodePackageExpired, -1)
		DeferCleanup(fake.ClearInjections)
		cg := newChatGroup(ns, "expired", uniq("expired"), nil)
		Eventually(getter(cg), "10s").Should(WithTransform(condition(imv1alpha1.ConditionReady), Equal("False/CredentialsInvalid")))
		msg := conditionMessage(fetch(cg), imv1alpha1.ConditionReady)
		Expect(msg).To(ContainSubstring("IM refuses every call for this app"))
		Expect(msg).To(ContainSubstring("60020"))
		Expect(msg).To(ContainSubstring("renew it in the IM console"))
	})
})
