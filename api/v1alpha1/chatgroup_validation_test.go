package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

const ns = "default"

var objectCounter int

func uniqueName() string {
	objectCounter++
	return fmt.Sprintf("cg-%d", objectCounter)
}

func newChatGroup(mutate func(*imv1alpha1.ChatGroupSpec)) *imv1alpha1.ChatGroup {
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Name: uniqueName(), Namespace: ns},
		Spec:       imv1alpha1.ChatGroupSpec{GroupID: "group-" + uniqueName()},
	}
	if mutate != nil {
		mutate(&cg.Spec)
	}
	return cg
}

// expectInvalid asserts the API server refused the request as Invalid and
// that its message names the offending field and says why.
func expectInvalid(err error, fieldPath, why string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "expected an Invalid error, got %v", err)
	Expect(err.Error()).To(ContainSubstring(fieldPath))
	Expect(err.Error()).To(ContainSubstring(why))
}

var _ = Describe("ChatGroup CRD", func() {
	It("is served with its short name and category", func() {
		dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
		Expect(err).NotTo(HaveOccurred())
		list, err := dc.ServerResourcesForGroupVersion(imv1alpha1.GroupVersion.String())
		Expect(err).NotTo(HaveOccurred())
		var found *metav1.APIResource
		for i := range list.APIResources {
			if list.APIResources[i].Name == "chatgroups" {
				found = &list.APIResources[i]
			}
		}
		Expect(found).NotTo(BeNil())
		Expect(found.Kind).To(Equal("ChatGroup"))
		Expect(found.Namespaced).To(BeTrue())
		Expect(found.ShortNames).To(ConsistOf("cg"))
		Expect(found.Categories).To(ConsistOf("chat"))

		var status *metav1.APIResource
		for i := range list.APIResources {
			if list.APIResources[i].Name == "chatgroups/status" {
				status = &list.APIResources[i]
			}
		}
		Expect(status).NotTo(BeNil(), "the status subresource must be enabled")
	})

	It("accepts a valid ChatGroup and applies the defaults", func() {
		cg := newChatGroup(func(s *imv1alpha1.ChatGroupSpec) {
			s.GroupID = "@TGS#2J4SZEAEL"
			s.Type = imv1alpha1.GroupTypePublic
			s.Owner = "leckie"
			s.Name = ptr.To("MyFirstGroup")
			s.Introduction = ptr.To("")
			s.Attributes = map[string]imv1alpha1.AttributeValue{"key1": "value1"}
		})
		Expect(k8sClient.Create(ctx, cg)).To(Succeed())

		got := &imv1alpha1.ChatGroup{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), got)).To(Succeed())
		Expect(got.Spec.ManagementPolicy).To(Equal(imv1alpha1.ManagementPolicyEnforce))
		Expect(got.Spec.DeletionPolicy).To(Equal(imv1alpha1.DeletionPolicyOrphan))
		Expect(got.Spec.Introduction).To(Equal(ptr.To("")), "an empty introduction is a declared value, not unset")
		Expect(got.Spec.Name).To(Equal(ptr.To("MyFirstGroup")))
	})

	It("accepts values at the byte limits, counting multi-byte characters as bytes", func() {
		cg := newChatGroup(func(s *imv1alpha1.ChatGroupSpec) {
			s.GroupID = strings.Repeat("g", 48)
			s.Name = ptr.To(strings.Repeat("群", 33)) // 99 bytes
			s.Introduction = ptr.To(strings.Repeat("i", 400))
			s.Notification = ptr.To(strings.Repeat("n", 400))
			s.FaceURL = ptr.To("https://" + strings.Repeat("f", 492))
			attrs := map[string]imv1alpha1.AttributeValue{}
			for i := range 4 {
				attrs[fmt.Sprintf("%032d", i)] = imv1alpha1.AttributeValue(strings.Repeat("v", 3968))
			}
			s.Attributes = attrs // 4 x (32 + 3968) = 16000 bytes
		})
		Expect(k8sClient.Create(ctx, cg)).To(Succeed())
	})

	It("keeps an empty attribute map, which means: remove every attribute", func() {
		cg := newChatGroup(func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{}
		})
		Expect(k8sClient.Create(ctx, cg)).To(Succeed())
		got := &imv1alpha1.ChatGroup{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cg), got)).To(Succeed())
		Expect(got.Spec.Attributes).NotTo(BeNil())
		Expect(got.Spec.Attributes).To(BeEmpty())

		unmanaged := newChatGroup(nil)
		Expect(k8sClient.Create(ctx, unmanaged)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(unmanaged), got)).To(Succeed())
		Expect(got.Spec.Attributes).To(BeNil(), "unset attributes must stay unset (not managed)")
	})

	It("refuses a ChatGroup without groupID", func() {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(imv1alpha1.GroupVersion.WithKind("ChatGroup"))
		u.SetName(uniqueName())
		u.SetNamespace(ns)
		u.Object["spec"] = map[string]any{"name": "no id"}
		expectInvalid(k8sClient.Create(ctx, u), "spec.groupID", "Required value")
	})

	DescribeTable("refuses invalid specs with a message naming the field",
		func(mutate func(*imv1alpha1.ChatGroupSpec), fieldPath, why string) {
			expectInvalid(k8sClient.Create(ctx, newChatGroup(mutate)), fieldPath, why)
		},
		Entry("empty groupID", func(s *imv1alpha1.ChatGroupSpec) { s.GroupID = "" },
			"spec.groupID", "at least 1 chars long"),
		Entry("groupID over 48 bytes", func(s *imv1alpha1.ChatGroupSpec) { s.GroupID = strings.Repeat("g", 49) },
			"spec.groupID", "may not be more than 48"),
		Entry("groupID with a control character", func(s *imv1alpha1.ChatGroupSpec) { s.GroupID = "bad\tid" },
			"spec.groupID", "should match"),
		Entry("groupID with non-ASCII", func(s *imv1alpha1.ChatGroupSpec) { s.GroupID = "群组" },
			"spec.groupID", "should match"),
		Entry("unknown type", func(s *imv1alpha1.ChatGroupSpec) { s.Type = "Work" },
			"spec.type", "Unsupported value"),
		Entry("empty name", func(s *imv1alpha1.ChatGroupSpec) { s.Name = ptr.To("") },
			"spec.name", "at least 1 chars long"),
		Entry("name over 100 characters", func(s *imv1alpha1.ChatGroupSpec) { s.Name = ptr.To(strings.Repeat("n", 101)) },
			"spec.name", "may not be more than 100"),
		Entry("name over 100 bytes in fewer characters", func(s *imv1alpha1.ChatGroupSpec) { s.Name = ptr.To(strings.Repeat("群", 34)) },
			"spec.name", "name must be at most 100 bytes"),
		Entry("introduction over 400 bytes", func(s *imv1alpha1.ChatGroupSpec) { s.Introduction = ptr.To(strings.Repeat("群", 134)) },
			"spec.introduction", "introduction must be at most 400 bytes"),
		Entry("notification over 400 characters", func(s *imv1alpha1.ChatGroupSpec) { s.Notification = ptr.To(strings.Repeat("n", 401)) },
			"spec.notification", "may not be more than 400"),
		Entry("faceURL over 500 bytes", func(s *imv1alpha1.ChatGroupSpec) { s.FaceURL = ptr.To(strings.Repeat("f", 501)) },
			"spec.faceURL", "may not be more than 500"),
		Entry("more than 16 attributes", func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{}
			for i := range 17 {
				s.Attributes[fmt.Sprintf("k%d", i)] = "v"
			}
		}, "spec.attributes", "must have at most 16 items"),
		Entry("attribute key over 32 bytes", func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{strings.Repeat("k", 33): "v"}
		}, "spec.attributes", "attribute keys must be 1 to 32 bytes"),
		Entry("empty attribute key", func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{"": "v"}
		}, "spec.attributes", "attribute keys must be 1 to 32 bytes"),
		Entry("attribute value over 4000 bytes", func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{"k": imv1alpha1.AttributeValue(strings.Repeat("v", 4001))}
		}, "spec.attributes.k", "may not be more than 4000"),
		Entry("attribute value over 4000 bytes in fewer characters", func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{"k": imv1alpha1.AttributeValue(strings.Repeat("群", 1334))}
		}, "spec.attributes[k]", "an attribute value must be at most 4000 bytes"),
		Entry("attributes over 16000 bytes in all", func(s *imv1alpha1.ChatGroupSpec) {
			s.Attributes = map[string]imv1alpha1.AttributeValue{}
			for i := range 5 {
				s.Attributes[fmt.Sprintf("k%d", i)] = imv1alpha1.AttributeValue(strings.Repeat("v", 3500))
			}
		}, "spec.attributes", "attributes must be at most 16000 bytes in all"),
		Entry("unknown managementPolicy", func(s *imv1alpha1.ChatGroupSpec) { s.ManagementPolicy = "Ignore" },
			"spec.managementPolicy", "Unsupported value"),
		Entry("unknown deletionPolicy", func(s *imv1alpha1.ChatGroupSpec) { s.DeletionPolicy = "Retain" },
			"spec.deletionPolicy", "Unsupported value"),

		// Group settings, and the rules that depend on the group type.
		Entry("unknown applyJoinOption", func(s *imv1alpha1.ChatGroupSpec) { s.ApplyJoinOption = "Anyone" },
			"spec.applyJoinOption", "Unsupported value"),
		Entry("DisableInvite as applyJoinOption", func(s *imv1alpha1.ChatGroupSpec) { s.ApplyJoinOption = "DisableInvite" },
			"spec.applyJoinOption", "Unsupported value"),
		Entry("unknown inviteJoinOption", func(s *imv1alpha1.ChatGroupSpec) { s.InviteJoinOption = "DisableApply" },
			"spec.inviteJoinOption", "Unsupported value"),
		Entry("applyJoinOption on a Private (Work) group", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.ApplyJoinOption = imv1alpha1.GroupTypePrivate, "FreeAccess"
		}, "spec", "applyJoinOption cannot be set on Private (Work) or AVChatRoom groups"),
		Entry("applyJoinOption on an AVChatRoom", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.ApplyJoinOption = imv1alpha1.GroupTypeAVChatRoom, "NeedPermission"
		}, "spec", "applyJoinOption cannot be set on Private (Work) or AVChatRoom groups"),
		Entry("inviteJoinOption on an AVChatRoom", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.InviteJoinOption = imv1alpha1.GroupTypeAVChatRoom, "FreeAccess"
		}, "spec", "inviteJoinOption cannot be set on AVChatRoom or Community groups"),
		Entry("inviteJoinOption on a Community", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.InviteJoinOption = imv1alpha1.GroupTypeCommunity, "FreeAccess"
		}, "spec", "inviteJoinOption cannot be set on AVChatRoom or Community groups"),
		Entry("maxMemberCount 0", func(s *imv1alpha1.ChatGroupSpec) { s.MaxMemberCount = ptr.To[int32](0) },
			"spec.maxMemberCount", "should be greater than or equal to 1"),
		Entry("maxMemberCount over 6000 on a Public group", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.MaxMemberCount = imv1alpha1.GroupTypePublic, ptr.To[int32](6001)
		}, "spec", "maxMemberCount must be at most 6000 (100000 for a Community group)"),
		Entry("maxMemberCount over 100000 on a Community", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.MaxMemberCount = imv1alpha1.GroupTypeCommunity, ptr.To[int32](100001)
		}, "spec.maxMemberCount", "should be less than or equal to 100000"),
		Entry("maxMemberCount on an AVChatRoom", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.MaxMemberCount = imv1alpha1.GroupTypeAVChatRoom, ptr.To[int32](100)
		}, "spec", "maxMemberCount cannot be set on an AVChatRoom group"),
		Entry("supportTopic on a Public group", func(s *imv1alpha1.ChatGroupSpec) {
			s.Type, s.SupportTopic = imv1alpha1.GroupTypePublic, ptr.To(true)
		}, "spec", "supportTopic needs type Community"),
		Entry("supportTopic without a type", func(s *imv1alpha1.ChatGroupSpec) { s.SupportTopic = ptr.To(true) },
			"spec", "supportTopic needs type Community"),
		Entry("11 appDefinedData keys", func(s *imv1alpha1.ChatGroupSpec) {
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{}
			for i := range 11 {
				s.AppDefinedData[fmt.Sprintf("k%d", i)] = "v"
			}
		}, "spec.appDefinedData", "must have at most 10 items"),
		Entry("an appDefinedData key starting with a digit", func(s *imv1alpha1.ChatGroupSpec) {
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{"1st": "v"}
		}, "spec.appDefinedData", "appDefinedData keys must be 1 to 16 letters, digits or _"),
		Entry("an appDefinedData key over 16 characters", func(s *imv1alpha1.ChatGroupSpec) {
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{strings.Repeat("k", 17): "v"}
		}, "spec.appDefinedData", "appDefinedData keys must be 1 to 16 letters, digits or _"),
		Entry("an appDefinedData key with a dash", func(s *imv1alpha1.ChatGroupSpec) {
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{"my-field": "v"}
		}, "spec.appDefinedData", "appDefinedData keys must be 1 to 16 letters, digits or _"),
		Entry("an appDefinedData value over 512 bytes", func(s *imv1alpha1.ChatGroupSpec) {
			s.AppDefinedData = map[string]imv1alpha1.AppDefinedValue{"field": imv1alpha1.AppDefinedValue(strings.Repeat("群", 171))}
		}, "spec.appDefinedData[field]", "an appDefinedData value must be at most 512 bytes"),
	)

	It("accepts every setting where the group type allows it", func() {
		for _, s := range []imv1alpha1.ChatGroupSpec{
			{Type: imv1alpha1.GroupTypePublic, ApplyJoinOption: "NeedPermission", InviteJoinOption: "DisableInvite",
				MaxMemberCount: ptr.To[int32](6000), MuteAllMembers: ptr.To(true),
				AppDefinedData: map[string]imv1alpha1.AppDefinedValue{"_tier": "gold", "Region9": imv1alpha1.AppDefinedValue(strings.Repeat("v", 512))}},
			{Type: imv1alpha1.GroupTypePrivate, InviteJoinOption: "FreeAccess", MaxMemberCount: ptr.To[int32](200)},
			{Type: imv1alpha1.GroupTypeChatRoom, ApplyJoinOption: "FreeAccess", InviteJoinOption: "NeedPermission"},
			{Type: imv1alpha1.GroupTypeAVChatRoom, MuteAllMembers: ptr.To(false)},
			{Type: imv1alpha1.GroupTypeCommunity, GroupID: "@TGS#_topics", ApplyJoinOption: "DisableApply", MaxMemberCount: ptr.To[int32](100000), SupportTopic: ptr.To(true)},
			{ApplyJoinOption: "FreeAccess", MaxMemberCount: ptr.To[int32](2000)}, // no type: Public at creation
		} {
			cg := newChatGroup(func(spec *imv1alpha1.ChatGroupSpec) {
				id := spec.GroupID
				*spec = s
				if spec.GroupID == "" {
					spec.GroupID = id
				}
			})
			Expect(k8sClient.Create(ctx, cg)).To(Succeed(), "%+v", s)
		}
	})

	It("keeps supportTopic as it was created", func() {
		community := newChatGroup(func(s *imv1alpha1.ChatGroupSpec) {
			s.GroupID, s.Type, s.SupportTopic = "@TGS#_"+uniqueName(), imv1alpha1.GroupTypeCommunity, ptr.To(true)
		})
		Expect(k8sClient.Create(ctx, community)).To(Succeed())
		community.Spec.SupportTopic = ptr.To(false)
		expectInvalid(k8sClient.Update(ctx, community), "spec.supportTopic", "supportTopic is immutable")
		community.Spec.SupportTopic = nil
		expectInvalid(k8sClient.Update(ctx, community), "spec", "supportTopic is set at creation and cannot be added or removed")

		plain := newChatGroup(func(s *imv1alpha1.ChatGroupSpec) { s.Type = imv1alpha1.GroupTypeCommunity })
		Expect(k8sClient.Create(ctx, plain)).To(Succeed())
		plain.Spec.SupportTopic = ptr.To(true)
		expectInvalid(k8sClient.Update(ctx, plain), "spec", "supportTopic is set at creation and cannot be added or removed")
	})

	Describe("immutability", func() {
		var cg *imv1alpha1.ChatGroup
		BeforeEach(func() {
			cg = newChatGroup(func(s *imv1alpha1.ChatGroupSpec) { s.Type = imv1alpha1.GroupTypePrivate })
			Expect(k8sClient.Create(ctx, cg)).To(Succeed())
		})

		It("refuses a groupID change", func() {
			cg.Spec.GroupID = "another-id"
			expectInvalid(k8sClient.Update(ctx, cg), "spec.groupID", "groupID is immutable")
		})

		It("refuses a type change", func() {
			cg.Spec.Type = imv1alpha1.GroupTypePublic
			expectInvalid(k8sClient.Update(ctx, cg), "spec.type", "type is immutable")
		})

		It("refuses removing the type", func() {
			cg.Spec.Type = ""
			expectInvalid(k8sClient.Update(ctx, cg), "spec", "type cannot be removed once set")
		})

		It("allows changing the mutable fields", func() {
			cg.Spec.Name = ptr.To("renamed")
			cg.Spec.ManagementPolicy = imv1alpha1.ManagementPolicyObserve
			Expect(k8sClient.Update(ctx, cg)).To(Succeed())
		})
	})

	It("prints the columns of docs/design.md in `kubectl get`", func() {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: "chatgroups.im.chatgroup.dev"}, crd)).To(Succeed())

		cg := newChatGroup(func(s *imv1alpha1.ChatGroupSpec) { s.GroupID = "@TGS#columns" })
		Expect(k8sClient.Create(ctx, cg)).To(Succeed())
		cg.Status.Name = "Display"
		cg.Status.Type = imv1alpha1.GroupTypeChatRoom
		cg.Status.LastMessageSeq = 123
		cg.Status.ApplyJoinOption, cg.Status.MemberCount, cg.Status.MaxMemberCount = "NeedPermission", 42, 500
		cg.Status.MuteAllMembers = ptr.To(true)
		cg.Status.Conditions = []metav1.Condition{
			{Type: imv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: imv1alpha1.ReasonAvailable, LastTransitionTime: metav1.Now()},
			{Type: imv1alpha1.ConditionSynced, Status: metav1.ConditionFalse, Reason: imv1alpha1.ReasonReconcileError, LastTransitionTime: metav1.Now()},
		}
		Expect(k8sClient.Status().Update(ctx, cg)).To(Succeed())

		// Ask the server for the Table that kubectl renders.
		cfg := rest.CopyConfig(env.Config)
		cfg.GroupVersion = &imv1alpha1.GroupVersion
		cfg.APIPath = "/apis"
		cfg.NegotiatedSerializer = unstructuredNegotiator()
		rc, err := rest.RESTClientFor(cfg)
		Expect(err).NotTo(HaveOccurred())
		raw, err := rc.Get().Namespace(ns).Resource("chatgroups").Name(cg.Name).
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
		Expect(err).NotTo(HaveOccurred())
		var table metav1.Table
		Expect(json.Unmarshal(raw, &table)).To(Succeed())

		var names []string
		for _, c := range table.ColumnDefinitions {
			names = append(names, c.Name)
		}
		Expect(names).To(Equal([]string{"Name", "Group-ID", "Display-Name", "Type", "Last-Seq", "Ready", "Synced", "Age",
			"Join", "Members", "Max-Members", "Muted"}))
		var wide []string
		for _, c := range table.ColumnDefinitions {
			if c.Priority > 0 {
				wide = append(wide, c.Name)
			}
		}
		Expect(wide).To(Equal([]string{"Join", "Members", "Max-Members", "Muted"}), "shown by -o wide only")
		Expect(table.Rows).To(HaveLen(1))
		Expect(table.Rows[0].Cells[:7]).To(Equal([]any{cg.Name, "@TGS#columns", "Display", "ChatRoom", float64(123), "True", "False"}))
		Expect(table.Rows[0].Cells[8:]).To(Equal([]any{"NeedPermission", float64(42), float64(500), true}))
	})

	// Status is bounded too: a write the API server refuses as invalid is
	// dropped by the receiver, so no stream of callbacks can grow an object.
	DescribeTable("refuses a status beyond its bounds",
		func(mutate func(*imv1alpha1.ChatGroupStatus), field string) {
			cg := newChatGroup(nil)
			Expect(k8sClient.Create(ctx, cg)).To(Succeed())
			mutate(&cg.Status)
			err := k8sClient.Status().Update(ctx, cg)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(field))
		},
		Entry("33 attributes", func(st *imv1alpha1.ChatGroupStatus) {
			st.Attributes = map[string]string{}
			for i := range 33 {
				st.Attributes[fmt.Sprintf("k%02d", i)] = "v"
			}
		}, "status.attributes"),
		Entry("65 attribute times", func(st *imv1alpha1.ChatGroupStatus) {
			st.EventTimes.AttributeKeys = map[string]int64{}
			for i := range 65 {
				st.EventTimes.AttributeKeys[fmt.Sprintf("k%02d", i)] = 1
			}
		}, "status.eventTimes.attributeKeys"),
		Entry("a 101-character name", func(st *imv1alpha1.ChatGroupStatus) { st.Name = strings.Repeat("n", 101) }, "status.name"),
		Entry("a 401-character notification", func(st *imv1alpha1.ChatGroupStatus) { st.Notification = strings.Repeat("n", 401) }, "status.notification"),
	)
})
