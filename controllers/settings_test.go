package controllers_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// lastBody returns the last cmd request body that named groupID.
func lastBody(cmd, groupID string) map[string]any {
	var out map[string]any
	for _, m := range bodies.since(cmd, 0) {
		if m["GroupId"] == groupID {
			out = m
		}
	}
	return out
}

// bodiesFor returns the cmd request bodies that named groupID.
func bodiesFor(cmd, groupID string) []map[string]any {
	var out []map[string]any
	for _, m := range bodies.since(cmd, 0) {
		if m["GroupId"] == groupID {
			out = append(out, m)
		}
	}
	return out
}

var _ = Describe("Group settings", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates a group with every declared setting under the wire's names, shows them in status, and pushes a changed one alone", func() {
		id := uniq("settings")
		cg := newChatGroup(ns, "s", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.Type = imv1alpha1.GroupTypePublic
			s.ApplyJoinOption, s.InviteJoinOption = "NeedPermission", "DisableInvite"
			s.MaxMemberCount = ptr[int32](500)
			s.MuteAllMembers = ptr(true)
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{"tier": "gold"}
		})
		st := waitSynced(cg).Status
		Expect(st.ApplyJoinOption).To(Equal("NeedPermission"))
		Expect(st.InviteJoinOption).To(Equal("DisableInvite"))
		Expect(st.MaxMemberCount).To(Equal(int64(500)))
		Expect(st.MuteAllMembers).To(HaveValue(BeTrue()))
		Expect(st.AppDefinedData).To(Equal(map[string]string{"tier": "gold"}))

		// create_group says MaxMemberCount; it has no mute-all field, which
		// follows in one modify carrying MuteAllMember alone.
		create := lastBody("create_group", id)
		Expect(create).To(HaveKeyWithValue("MaxMemberCount", BeNumerically("==", 500)))
		Expect(create).To(HaveKeyWithValue("ApplyJoinOption", "NeedPermission"))
		Expect(create).To(HaveKeyWithValue("InviteJoinOption", "DisableInvite"))
		Expect(create).To(HaveKeyWithValue("AppDefinedData", ConsistOf(map[string]any{"Key": "tier", "Value": "gold"})))
		Expect(create).NotTo(HaveKey("MaxMemberNum"))
		Expect(create).NotTo(HaveKey("MuteAllMember"))
		Expect(bodiesFor("modify_group_base_info", id)).To(ConsistOf(map[string]any{"GroupId": id, "MuteAllMember": "On"}))

		g, _ := fake.Group(id)
		Expect(g.MaxMemberNum).To(Equal(uint32(500)))
		Expect(g.MuteAllMember).To(Equal("On"))
		Expect(g.InviteJoinOption).To(Equal("DisableInvite"))

		update(cg, func(c *imv1alpha1.ChatGroup) { c.Spec.MaxMemberCount = ptr[int32](800) })
		Eventually(func() int64 { return fetch(cg).Status.MaxMemberCount }, "20s").Should(Equal(int64(800)))
		waitSynced(cg)
		Expect(lastBody("modify_group_base_info", id)).To(Equal(map[string]any{"GroupId": id, "MaxMemberNum": float64(800)}),
			"modify says MaxMemberNum, and carries only the changed setting")
		Expect(bodiesFor("modify_group_base_info", id)).To(HaveLen(2))
		Expect(rec.events(cg, controllers.EventUpdated)).To(ContainElement(ContainSubstring("maxMemberCount")))
	})

	DescribeTable("pushes each setting alone when only it changes",
		func(change func(*imv1alpha1.ChatGroupSpec), wire map[string]any) {
			id := uniq("one-setting")
			cg := newChatGroup(ns, "one", id, func(s *imv1alpha1.ChatGroupSpec) { s.Type = imv1alpha1.GroupTypePublic })
			waitSynced(cg)
			before := len(bodiesFor("modify_group_base_info", id))
			update(cg, func(c *imv1alpha1.ChatGroup) { change(&c.Spec) })
			Eventually(func() int { return len(bodiesFor("modify_group_base_info", id)) }, "20s").Should(Equal(before + 1))
			waitSynced(cg)
			want := map[string]any{"GroupId": id}
			for k, v := range wire {
				want[k] = v
			}
			Expect(lastBody("modify_group_base_info", id)).To(Equal(want))
			Expect(bodiesFor("modify_group_base_info", id)).To(HaveLen(before + 1))
		},
		Entry("applyJoinOption", func(s *imv1alpha1.ChatGroupSpec) { s.ApplyJoinOption = "DisableApply" },
			map[string]any{"ApplyJoinOption": "DisableApply"}),
		Entry("inviteJoinOption", func(s *imv1alpha1.ChatGroupSpec) { s.InviteJoinOption = "NeedPermission" },
			map[string]any{"InviteJoinOption": "NeedPermission"}),
		Entry("maxMemberCount", func(s *imv1alpha1.ChatGroupSpec) { s.MaxMemberCount = ptr[int32](321) },
			map[string]any{"MaxMemberNum": float64(321)}),
		Entry("muteAllMembers", func(s *imv1alpha1.ChatGroupSpec) { s.MuteAllMembers = ptr(true) },
			map[string]any{"MuteAllMember": "On"}),
		Entry("appDefinedData", func(s *imv1alpha1.ChatGroupSpec) {
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{"tier": "silver"}
		}, map[string]any{"AppDefinedData": []any{map[string]any{"Key": "tier", "Value": "silver"}}}),
	)

	Describe("drift, found at reads (no callback reports settings)", func() {
		It("unmutes an Enforce group an admin muted, at the next read", func() {
			id := uniq("muted")
			cg := newChatGroup(ns, "e", id, func(s *imv1alpha1.ChatGroupSpec) { s.MuteAllMembers = ptr(false) })
			waitSynced(cg)
			Expect(fake.Admin().SetMuteAll(id, true)).To(Succeed())
			resyncNow(cg)
			Eventually(func() string { g, _ := fake.Group(id); return g.MuteAllMember }, "20s").Should(Equal("Off"))
			Expect(lastBody("modify_group_base_info", id)).To(Equal(map[string]any{"GroupId": id, "MuteAllMember": "Off"}))
			Eventually(func() []string { return rec.events(cg, controllers.EventDriftCorrected) }, "20s").
				Should(ContainElement(ContainSubstring("muteAllMembers")))
		})

		It("only reports it on an Observe group, and writes nothing", func() {
			id := uniq("muted-observed")
			_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "watched"})
			Expect(err).NotTo(HaveOccurred())
			cg := newChatGroup(ns, "o", id, func(s *imv1alpha1.ChatGroupSpec) {
				s.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
				s.MuteAllMembers = ptr(false)
			})
			Eventually(getter(cg), "20s").Should(WithTransform(condition(imv1alpha1.ConditionUpToDate), Equal("True/InSync")))
			Expect(fake.Admin().SetMuteAll(id, true)).To(Succeed())
			resyncNow(cg)
			Eventually(getter(cg), "20s").Should(WithTransform(condition(imv1alpha1.ConditionUpToDate), Equal("False/Drifted")))
			Expect(conditionMessage(fetch(cg), imv1alpha1.ConditionUpToDate)).To(ContainSubstring("muteAllMembers"))
			Expect(fetch(cg).Status.MuteAllMembers).To(HaveValue(BeTrue()))
			Expect(writeCallsFor(id)).To(BeZero())
		})
	})

	It("pushes a declared custom field, never touches one it does not declare, and keeps showing one once declared", func() {
		id := uniq("appdata")
		_, err := fake.Admin().CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "fields",
			AppDefinedData: map[string]string{"other": "theirs", "tier": "bronze"}})
		Expect(err).NotTo(HaveOccurred())
		cg := newChatGroup(ns, "a", id, func(s *imv1alpha1.ChatGroupSpec) {
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{"tier": "gold"}
		})
		waitSynced(cg)
		for _, m := range bodiesFor("modify_group_base_info", id) {
			Expect(fmt.Sprint(m["AppDefinedData"])).NotTo(ContainSubstring("other"), "an undeclared field is never written")
		}
		Expect(lastBody("modify_group_base_info", id)).To(Equal(map[string]any{"GroupId": id,
			"AppDefinedData": []any{map[string]any{"Key": "tier", "Value": "gold"}}}))
		g, _ := fake.Group(id)
		Expect(g.AppDefinedData).To(Equal(map[string]string{"other": "theirs", "tier": "gold"}))

		// No longer declared: left alone in IM, and still shown, kept current by reads.
		update(cg, func(c *imv1alpha1.ChatGroup) { c.Spec.AppDefinedData = nil })
		waitSynced(cg)
		Expect(fake.Admin().ModifyInfo(id, timfake.InfoChange{AppDefinedData: map[string]string{"tier": "platinum"}})).To(Succeed())
		resyncNow(cg)
		Eventually(func() map[string]string { return fetch(cg).Status.AppDefinedData }, "20s").
			Should(HaveKeyWithValue("tier", "platinum"))
		Expect(bodiesFor("modify_group_base_info", id)).To(HaveLen(1), "nothing pushed once no longer declared")
	})

	It("keeps the settings in status through a callback flood", func() {
		id := uniq("flood")
		cg := newChatGroup(ns, "f", id, func(s *imv1alpha1.ChatGroupSpec) {
			// Not muted: a muted group refuses the members' messages (10017).
			s.ApplyJoinOption, s.MaxMemberCount, s.MuteAllMembers = "FreeAccess", ptr[int32](300), ptr(false)
		})
		want := waitSynced(cg).Status
		user := fake.User("flooder", timfake.PlatformWeb)
		Expect(user.Join(id)).To(Succeed())
		var last uint64
		for i := range 100 {
			seq, err := user.SendText(id, fmt.Sprintf("m%d", i))
			Expect(err).NotTo(HaveOccurred())
			last = seq
		}
		Expect(fake.Admin().SetNotification(id, "changed during the flood")).To(Succeed())
		Eventually(func() int64 { return fetch(cg).Status.LastMessageSeq }, "20s").Should(Equal(int64(last)))
		Eventually(func() string { return fetch(cg).Status.Notification }, "20s").Should(Equal("changed during the flood"))
		got := fetch(cg).Status
		Expect(got.ApplyJoinOption).To(Equal(want.ApplyJoinOption))
		Expect(got.MaxMemberCount).To(Equal(int64(300)))
		Expect(got.MuteAllMembers).To(HaveValue(BeFalse()))
		Expect(got.EventTimes.Settings).To(Equal(want.EventTimes.Settings))
	})
})
