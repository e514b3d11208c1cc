package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GroupType is the Tencent IM group type, as the REST API spells it.
// +kubebuilder:validation:Enum=Private;Public;ChatRoom;AVChatRoom;Community
type GroupType string

// The group types of the IM REST API. The console calls Private "Work" and
// ChatRoom "Meeting"; the API names are used here because they are what the
// REST API and the callbacks carry.
const (
	GroupTypePrivate    GroupType = "Private"
	GroupTypePublic     GroupType = "Public"
	GroupTypeChatRoom   GroupType = "ChatRoom"
	GroupTypeAVChatRoom GroupType = "AVChatRoom"
	GroupTypeCommunity  GroupType = "Community"
)

// ManagementPolicy says whether the operator may write to the IM group.
// +kubebuilder:validation:Enum=Enforce;Observe
type ManagementPolicy string

const (
	// ManagementPolicyEnforce pushes the declared fields to IM and corrects drift.
	ManagementPolicyEnforce ManagementPolicy = "Enforce"
	// ManagementPolicyObserve never writes to IM; drift is only reported.
	ManagementPolicyObserve ManagementPolicy = "Observe"
)

// DeletionPolicy says what happens to the IM group when the ChatGroup is deleted.
// +kubebuilder:validation:Enum=Orphan;Delete
type DeletionPolicy string

const (
	// DeletionPolicyOrphan leaves the IM group alone.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
	// DeletionPolicyDelete destroys the IM group (destroy_group) before the
	// ChatGroup goes away.
	DeletionPolicyDelete DeletionPolicy = "Delete"
)

// AttributeValue is the value of one group custom attribute. The IM backend
// refuses values over 4000 bytes (error 10046); the schema refuses them first.
// +kubebuilder:validation:MaxLength=4000
// +kubebuilder:validation:XValidation:rule="bytes(self).size() <= 4000",message="an attribute value must be at most 4000 bytes (UTF-8)"
type AttributeValue string

// AppDefinedValue is the value of one custom group field, at most 512 bytes.
// +kubebuilder:validation:MaxLength=512
// +kubebuilder:validation:XValidation:rule="bytes(self).size() <= 512",message="an appDefinedData value must be at most 512 bytes (UTF-8)"
type AppDefinedValue string

// AppReference names a ChatApp.
type AppReference struct {
	// name of the ChatApp.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self != 'default'",message="the default app is used by leaving appRef out"
	Name string `json:"name"`
}

// ChatGroupSpec declares a Tencent IM group. Every field after owner is
// optional, and a field left unset is not managed: the operator never
// touches what the spec does not mention.
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.type) || has(self.type)",message="type cannot be removed once set"
// +kubebuilder:validation:XValidation:rule="!has(self.applyJoinOption) || !has(self.type) || !(self.type in ['Private', 'AVChatRoom'])",message="applyJoinOption cannot be set on Private (Work) or AVChatRoom groups: IM does not let them take join requests"
// +kubebuilder:validation:XValidation:rule="!has(self.inviteJoinOption) || !has(self.type) || !(self.type in ['AVChatRoom', 'Community'])",message="inviteJoinOption cannot be set on AVChatRoom or Community groups"
// +kubebuilder:validation:XValidation:rule="!has(self.maxMemberCount) || !has(self.type) || self.type != 'AVChatRoom'",message="maxMemberCount cannot be set on an AVChatRoom group (its membership is unlimited)"
// +kubebuilder:validation:XValidation:rule="!has(self.maxMemberCount) || self.maxMemberCount <= 6000 || (has(self.type) && self.type == 'Community')",message="maxMemberCount must be at most 6000 (100000 for a Community group)"
// +kubebuilder:validation:XValidation:rule="!has(self.supportTopic) || (has(self.type) && self.type == 'Community')",message="supportTopic needs type Community"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.supportTopic) == has(self.supportTopic)",message="supportTopic is set at creation and cannot be added or removed"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.appRef) == has(self.appRef)",message="appRef is set at creation and cannot be added or removed"
type ChatGroupSpec struct {
	// appRef names the ChatApp whose IM app holds the group. Unset: the
	// operator's default app (its --sdkappid flag). It cannot be changed: the
	// same group ID in another app is another group.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="appRef is immutable"
	AppRef *AppReference `json:"appRef,omitempty"`

	// groupID is the IM group ID. For a group the operator creates it is the
	// custom ID passed to create_group; to adopt or observe an existing group,
	// give its ID (for example "@TGS#2J4SZEAEL"). 1 to 48 bytes of printable
	// ASCII. It cannot be changed after creation.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=48
	// +kubebuilder:validation:Pattern=`^[\x20-\x7E]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="groupID is immutable"
	GroupID string `json:"groupID"`

	// type is the IM group type: Private (Work), Public, ChatRoom (Meeting),
	// AVChatRoom or Community. Used when the operator creates the group
	// (Public if unset). It cannot be changed or removed once set.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type is immutable"
	Type GroupType `json:"type,omitempty"`

	// owner is the UserID that owns the group when the operator creates it.
	// Unset, the group is created without an owner. It is not enforced after
	// creation: ownership moves with Group.CallbackAfterChangeGroupOwner.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Owner string `json:"owner,omitempty"`

	// name is the group name, at most 100 bytes. Unset, the name is not
	// managed (a created group is named after this object).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:XValidation:rule="bytes(self).size() <= 100",message="name must be at most 100 bytes (UTF-8)"
	Name *string `json:"name,omitempty"`

	// introduction is the group introduction, at most 400 bytes. An empty
	// string makes it empty; unset leaves it unmanaged.
	// +optional
	// +kubebuilder:validation:MaxLength=400
	// +kubebuilder:validation:XValidation:rule="bytes(self).size() <= 400",message="introduction must be at most 400 bytes (UTF-8)"
	Introduction *string `json:"introduction,omitempty"`

	// notification is the group notification (announcement), at most 400
	// bytes. An empty string makes it empty; unset leaves it unmanaged.
	// +optional
	// +kubebuilder:validation:MaxLength=400
	// +kubebuilder:validation:XValidation:rule="bytes(self).size() <= 400",message="notification must be at most 400 bytes (UTF-8)"
	Notification *string `json:"notification,omitempty"`

	// faceURL is the URL of the group's profile photo, at most 500 bytes.
	// An empty string makes it empty; unset leaves it unmanaged.
	// +optional
	// +kubebuilder:validation:MaxLength=500
	// +kubebuilder:validation:XValidation:rule="bytes(self).size() <= 500",message="faceURL must be at most 500 bytes (UTF-8)"
	FaceURL *string `json:"faceURL,omitempty"`

	// attributes, when set, is the exact map of the group's custom attributes
	// (the GroupAttr store): keys not listed are deleted, so {} removes them
	// all. Unset, attributes are not managed. At most 16 keys, a key at most
	// 32 bytes, a value at most 4000 bytes, 16000 bytes in all.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) >= 1 && bytes(k).size() <= 32)",message="attribute keys must be 1 to 32 bytes (UTF-8)"
	// +kubebuilder:validation:XValidation:rule="self.all(k, bytes(k).size() + bytes(self[k]).size() <= 16000) && self.map(k, bytes(k).size() + bytes(self[k]).size()).sum() <= 16000",message="attributes must be at most 16000 bytes in all (keys and values, UTF-8)"
	//nolint:tagliatelle // no omitempty on purpose: {} (remove every attribute) must survive a round trip, and nil encodes as null, which the API server drops.
	Attributes map[string]AttributeValue `json:"attributes"`

	// applyJoinOption is how a user's request to join is handled:
	// FreeAccess (joins at once), NeedPermission (an owner or admin
	// approves) or DisableApply (no requests). Not for Private (Work) or
	// AVChatRoom groups. No callback reports a change of this setting:
	// drift in it is found when the group is read (a spec change, a resync).
	// +optional
	// +kubebuilder:validation:Enum=FreeAccess;NeedPermission;DisableApply
	ApplyJoinOption string `json:"applyJoinOption,omitempty"`

	// inviteJoinOption is how an invitation by a member is handled:
	// FreeAccess, NeedPermission or DisableInvite. Not for AVChatRoom or
	// Community groups. Drift is found at reads only (no callback).
	// +optional
	// +kubebuilder:validation:Enum=FreeAccess;NeedPermission;DisableInvite
	InviteJoinOption string `json:"inviteJoinOption,omitempty"`

	// maxMemberCount is the member limit: at most 6000 (100000 for a
	// Community), within what the app's edition allows; not for
	// AVChatRoom groups (unlimited). IM refuses a limit below the current
	// member count. Drift is found at reads only (no callback).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	MaxMemberCount *int32 `json:"maxMemberCount,omitempty"`

	// muteAllMembers, when true, lets only the owner and admins speak.
	// Drift is found at reads only (no callback).
	// +optional
	MuteAllMembers *bool `json:"muteAllMembers,omitempty"`

	// appDefinedData sets the group's custom fields (declared in the IM
	// console first): at most 10 keys of 1 to 16 letters, digits or _, not
	// starting with a digit, each value at most 512 bytes. Listed keys are
	// managed; keys not listed are left alone (IM cannot delete a custom
	// field). Drift is found at reads only (no callback).
	// +optional
	// +kubebuilder:validation:MaxProperties=10
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]{0,15}$'))",message="appDefinedData keys must be 1 to 16 letters, digits or _, not starting with a digit"
	AppDefinedData map[string]AppDefinedValue `json:"appDefinedData,omitempty"`

	// supportTopic creates a Community group with topics. Community only,
	// set at creation: it cannot be added, removed or changed afterwards.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="supportTopic is immutable"
	SupportTopic *bool `json:"supportTopic,omitempty"`

	// managementPolicy is Enforce (default: push the declared fields and
	// correct drift) or Observe (never write to IM, only report drift).
	// +optional
	// +kubebuilder:default=Enforce
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// deletionPolicy is Orphan (default: deleting the ChatGroup leaves the IM
	// group alone) or Delete (the IM group is destroyed first).
	// +optional
	// +kubebuilder:default=Orphan
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// EventTimes records, in Unix milliseconds, the IM EventTime of the last
// change applied to each independently ordered part of the status. Callbacks
// can arrive out of order and through any replica; comparing an incoming
// EventTime with these values is what lets every replica drop a stale update
// in the same way, after a restart too.
type EventTimes struct {
	// name is the EventTime of the last applied name change.
	// +optional
	Name int64 `json:"name,omitempty"`
	// introduction is the EventTime of the last applied introduction change.
	// +optional
	Introduction int64 `json:"introduction,omitempty"`
	// notification is the EventTime of the last applied notification change.
	// +optional
	Notification int64 `json:"notification,omitempty"`
	// faceURL is the EventTime of the last applied face URL change.
	// +optional
	FaceURL int64 `json:"faceURL,omitempty"`
	// owner is the EventTime of the last applied owner change.
	// +optional
	Owner int64 `json:"owner,omitempty"`
	// attributes is the EventTime of the last operation that replaced the
	// whole attribute map: a set, a clear, or a read through the REST API.
	// Operations older than it are dropped.
	// +optional
	Attributes int64 `json:"attributes,omitempty"`
	// attributeKeys is, per key, the EventTime of the last upsert or delete
	// newer than attributes; a deleted key keeps its time here so that a
	// late, older operation on it is dropped. Keys not listed share the time
	// in attributes. At most the 16 live keys and 32 tombstones.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	AttributeKeys map[string]int64 `json:"attributeKeys,omitempty"`
	// members is the EventTime of the last applied member join or exit.
	// +optional
	Members int64 `json:"members,omitempty"`
	// settings is the time of the last applied read or push of the
	// settings (join options, member limit, mute-all, custom fields): a
	// read that started before a push is not folded in after it.
	// +optional
	Settings int64 `json:"settings,omitempty"`
	// memberCount is the time memberCount was last set as a whole: a read
	// through the REST API, the group's creation or its destruction. Joins
	// and exits before it are counted in it already and are dropped, so
	// that one arriving late cannot count twice.
	// +optional
	MemberCount int64 `json:"memberCount,omitempty"`
}

// ChatGroupStatus is the group as last observed, through callbacks and the
// REST API.
type ChatGroupStatus struct {
	// groupID is the observed IM group ID.
	// +optional
	GroupID string `json:"groupID,omitempty"`
	// type is the observed group type.
	// +optional
	Type GroupType `json:"type,omitempty"`
	// owner is the observed owner's UserID.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	Owner string `json:"owner,omitempty"`
	// name is the observed group name.
	// +optional
	// +kubebuilder:validation:MaxLength=100
	Name string `json:"name,omitempty"`
	// introduction is the observed group introduction.
	// +optional
	// +kubebuilder:validation:MaxLength=400
	Introduction string `json:"introduction,omitempty"`
	// notification is the observed group notification.
	// +optional
	// +kubebuilder:validation:MaxLength=400
	Notification string `json:"notification,omitempty"`
	// faceURL is the observed profile photo URL.
	// +optional
	// +kubebuilder:validation:MaxLength=500
	FaceURL string `json:"faceURL,omitempty"`
	// attributes is the observed custom attribute map. The bound is twice
	// IM's 16 keys: callbacks reordered between a delete and a modify can
	// hold a few more for a moment, never more.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Attributes map[string]string `json:"attributes,omitempty"`
	// appDefinedData is the group's custom fields: as reported at creation
	// (UserDefinedDataList of Group.CallbackAfterCreateGroup), then as read
	// for the keys declared in spec or already shown here.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	AppDefinedData map[string]string `json:"appDefinedData,omitempty"`
	// applyJoinOption is the observed join-request setting (read only:
	// no callback reports it).
	// +optional
	ApplyJoinOption string `json:"applyJoinOption,omitempty"`
	// inviteJoinOption is the observed invitation setting.
	// +optional
	InviteJoinOption string `json:"inviteJoinOption,omitempty"`
	// maxMemberCount is the observed member limit.
	// +optional
	MaxMemberCount int64 `json:"maxMemberCount,omitempty"`
	// muteAllMembers is the observed mute-all setting.
	// +optional
	MuteAllMembers *bool `json:"muteAllMembers,omitempty"`
	// supportTopic is true for a Community group this ChatGroup created
	// with topics (get_group_info does not report it).
	// +optional
	SupportTopic bool `json:"supportTopic,omitempty"`
	// memberCount is the observed number of members.
	// +optional
	MemberCount int64 `json:"memberCount,omitempty"`
	// lastMessageSeq is the highest message sequence number seen. It only
	// grows.
	// +optional
	LastMessageSeq int64 `json:"lastMessageSeq,omitempty"`
	// lastMessageTime is when the message with lastMessageSeq was sent.
	// +optional
	LastMessageTime *metav1.Time `json:"lastMessageTime,omitempty"`
	// lastMessageFrom is the sender of the message with lastMessageSeq.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	LastMessageFrom string `json:"lastMessageFrom,omitempty"`
	// createdByOperator is true when this ChatGroup's own create_group made
	// the group (recorded in the same write as the fact behind the Created
	// Event); false for a group adopted or taken over. deletionPolicy Delete
	// destroys only a group this ChatGroup created, unless the
	// im.chatgroup.dev/destroy-adopted annotation is "true".
	// +optional
	CreatedByOperator bool `json:"createdByOperator,omitempty"`
	// destroyed is true once the group was seen destroyed in IM.
	// +optional
	Destroyed bool `json:"destroyed,omitempty"`
	// lastCallbackTime is when a callback for this group was last recorded.
	// +optional
	LastCallbackTime *metav1.Time `json:"lastCallbackTime,omitempty"`
	// lastResyncTime is when the group was last read back through the REST API.
	// +optional
	LastResyncTime *metav1.Time `json:"lastResyncTime,omitempty"`
	// lastHandledResyncRequest is the value of the
	// im.chatgroup.dev/resync-requested-at annotation the controller last
	// acted on; a different annotation value asks for a new read.
	// +optional
	LastHandledResyncRequest string `json:"lastHandledResyncRequest,omitempty"`
	// eventTimes orders concurrent and out-of-order callbacks; see EventTimes.
	// +optional
	EventTimes EventTimes `json:"eventTimes,omitempty,omitzero"`
	// observedGeneration is the spec generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready (the group exists and was observed), Synced (the last
	// exchange with IM succeeded) and UpToDate (the declared fields equal the
	// observed ones).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ChatGroup is a Tencent Cloud IM group, declared in spec and observed in status.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cg,categories=chat
// +kubebuilder:printcolumn:name="Group-ID",type=string,JSONPath=`.spec.groupID`
// +kubebuilder:printcolumn:name="Display-Name",type=string,JSONPath=`.status.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.status.type`
// +kubebuilder:printcolumn:name="Last-Seq",type=integer,JSONPath=`.status.lastMessageSeq`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Join",type=string,JSONPath=`.status.applyJoinOption`,priority=1
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberCount`,priority=1
// +kubebuilder:printcolumn:name="Max-Members",type=integer,JSONPath=`.status.maxMemberCount`,priority=1
// +kubebuilder:printcolumn:name="Muted",type=boolean,JSONPath=`.status.muteAllMembers`,priority=1
type ChatGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the group.
	// +required
	Spec ChatGroupSpec `json:"spec"`
	// status is the group as observed.
	// +optional
	Status ChatGroupStatus `json:"status,omitempty,omitzero"`
}

// ChatGroupList is a list of ChatGroups.
//
// +kubebuilder:object:root=true
type ChatGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChatGroup `json:"items"`
}
