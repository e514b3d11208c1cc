package timfake

import "encoding/json"

// Callback bodies, field for field as in the callback documents
// (testdata/seeds) and the documented group callback table, in the documented
// order. EventTime is milliseconds (string or number, see
// Options.EventTimeNumeric).

// Callback commands the fake sends.
const (
	CmdAfterCreateGroup      = "Group.CallbackAfterCreateGroup"
	CmdAfterGroupInfoChanged = "Group.CallbackAfterGroupInfoChanged"
	CmdAfterGroupAttrChanged = "Group.CallbackAfterGroupAttrChanged"
	CmdAfterSendMsg          = "Group.CallbackAfterSendMsg"
	CmdAfterNewMemberJoin    = "Group.CallbackAfterNewMemberJoin"
	CmdAfterMemberExit       = "Group.CallbackAfterMemberExit"
	CmdAfterChangeGroupOwner = "Group.CallbackAfterChangeGroupOwner"
	CmdAfterGroupDestroyed   = "Group.CallbackAfterGroupDestroyed"
)

type cbMember struct {
	Account string `json:"Member_Account"`
}

type cbKV struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// cbAttr uses the lower-case keys of group attributes. Value is absent in
// "delete" entries, which name keys only, like the delete request body.
type cbAttr struct {
	Key   string  `json:"key"`
	Value *string `json:"value,omitempty"`
}

func members(accounts []string) []cbMember {
	out := make([]cbMember, len(accounts))
	for i, a := range accounts {
		out[i] = cbMember{a}
	}
	return out
}

type cbAfterCreateGroup struct {
	CallbackCommand     string     `json:"CallbackCommand"`
	GroupID             string     `json:"GroupId"`
	OperatorAccount     string     `json:"Operator_Account"`
	OwnerAccount        string     `json:"Owner_Account"`
	Type                string     `json:"Type"`
	Name                string     `json:"Name"`
	MemberList          []cbMember `json:"MemberList"`
	UserDefinedDataList []cbKV     `json:"UserDefinedDataList,omitempty"`
	EventTime           any        `json:"EventTime"`
}

// cbAfterGroupInfoChanged carries only the fields that changed.
type cbAfterGroupInfoChanged struct {
	CallbackCommand string  `json:"CallbackCommand"`
	GroupID         string  `json:"GroupId"`
	Type            string  `json:"Type"`
	OperatorAccount string  `json:"Operator_Account"`
	Name            *string `json:"Name,omitempty"`
	Introduction    *string `json:"Introduction,omitempty"`
	Notification    *string `json:"Notification,omitempty"`
	FaceURL         *string `json:"FaceUrl,omitempty"`
	EventTime       any     `json:"EventTime"`
}

// Attribute change OptionType values.
const (
	AttrOpSet    = "set"
	AttrOpModify = "modify"
	AttrOpDelete = "delete"
	AttrOpClear  = "clear"
)

type cbAfterGroupAttrChanged struct {
	CallbackCommand string   `json:"CallbackCommand"`
	GroupID         string   `json:"GroupId"`
	Type            string   `json:"Type"`
	OperatorAccount string   `json:"Operator_Account"`
	OptionType      string   `json:"OptionType"`
	GroupAttr       []cbAttr `json:"GroupAttr"`
	EventTime       any      `json:"EventTime"`
}

type cbAfterSendMsg struct {
	CallbackCommand string          `json:"CallbackCommand"`
	GroupID         string          `json:"GroupId"`
	Type            string          `json:"Type"`
	FromAccount     string          `json:"From_Account"`
	OperatorAccount string          `json:"Operator_Account"`
	Random          uint32          `json:"Random"`
	MsgSeq          uint64          `json:"MsgSeq"`
	MsgTime         int64           `json:"MsgTime"`
	OnlineOnlyFlag  int             `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData,omitempty"`
	EventTime       any             `json:"EventTime"`
}

// Join and exit kinds.
const (
	JoinApply   = "Apply"
	JoinInvited = "Invited"
	ExitQuit    = "Quit"
	ExitKicked  = "Kicked"
)

type cbAfterNewMemberJoin struct {
	CallbackCommand string     `json:"CallbackCommand"`
	GroupID         string     `json:"GroupId"`
	Type            string     `json:"Type"`
	JoinType        string     `json:"JoinType"`
	OperatorAccount string     `json:"Operator_Account"`
	NewMemberList   []cbMember `json:"NewMemberList"`
	EventTime       any        `json:"EventTime"`
}

type cbAfterMemberExit struct {
	CallbackCommand string     `json:"CallbackCommand"`
	GroupID         string     `json:"GroupId"`
	Type            string     `json:"Type"`
	ExitType        string     `json:"ExitType"`
	OperatorAccount string     `json:"Operator_Account"`
	ExitMemberList  []cbMember `json:"ExitMemberList"`
	EventTime       any        `json:"EventTime"`
}

type cbAfterChangeGroupOwner struct {
	CallbackCommand string `json:"CallbackCommand"`
	GroupID         string `json:"GroupId"`
	Type            string `json:"Type"`
	OperatorAccount string `json:"Operator_Account"`
	OldOwnerAccount string `json:"OldOwner_Account"`
	NewOwnerAccount string `json:"NewOwner_Account"`
	EventTime       any    `json:"EventTime"`
}

// cbAfterGroupDestroyed: MemberList is documented as not returned for
// Community groups, hence the pointer.
type cbAfterGroupDestroyed struct {
	CallbackCommand string      `json:"CallbackCommand"`
	GroupID         string      `json:"GroupId"`
	Type            string      `json:"Type"`
	OwnerAccount    string      `json:"Owner_Account"`
	Name            string      `json:"Name"`
	MemberList      *[]cbMember `json:"MemberList,omitempty"`
	EventTime       any         `json:"EventTime"`
}
