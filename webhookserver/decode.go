package webhookserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Callback commands the receiver records. Every other Group.CallbackAfter*
// command is answered OK and counted as ignored.
const (
	CmdAfterCreateGroup      = "Group.CallbackAfterCreateGroup"
	CmdAfterGroupInfoChanged = "Group.CallbackAfterGroupInfoChanged"
	CmdAfterGroupAttrChanged = "Group.CallbackAfterGroupAttrChanged"
	CmdAfterSendMsg          = "Group.CallbackAfterSendMsg"
	CmdAfterNewMemberJoin    = "Group.CallbackAfterNewMemberJoin"
	CmdAfterMemberExit       = "Group.CallbackAfterMemberExit"
	CmdAfterChangeGroupOwner = "Group.CallbackAfterChangeGroupOwner"
	CmdAfterGroupDestroyed   = "Group.CallbackAfterGroupDestroyed"

	beforePrefix = "Group.CallbackBefore"
)

// Attribute operations of Group.CallbackAfterGroupAttrChanged.
const (
	AttrSet    = "set"
	AttrModify = "modify"
	AttrDelete = "delete"
	AttrClear  = "clear"
)

// Limits on values a callback may carry: IM's own documented limits (a
// callback beyond them is not from IM), so that no request can grow status
// or a pending update past what IM itself allows. Byte lengths are UTF-8.
const (
	maxGroupIDLen = 48
	maxMsgSeq     = int64(1) << 40        // ~10^12 messages in one group
	maxUnixSecs   = int64(10_000_000_000) // year 2286: a ms value is refused
	maxEventTime  = maxUnixSecs * 1000    // EventTime is in milliseconds

	maxAttrKeys       = 16 // attributes per group
	maxAttrKeyLen     = 32
	maxAttrValueLen   = 4000
	maxAttrTotalBytes = 16000 // keys and values together

	maxNameLen         = 100
	maxIntroductionLen = 400
	maxNotificationLen = 400
	maxFaceURLLen      = 500
	maxAccountLen      = 128 // a UserID; spec.owner has the same bound
	maxAppDataKeys     = 10  // AppDefinedData fields, declared in the console
	maxAppDataKeyLen   = 16
	maxAppDataValueLen = 512
)

// EventTime is the IM event time in Unix milliseconds. The documentation's
// samples send it as a JSON string while its tables say integer: accept both.
type EventTime int64

// UnmarshalJSON accepts 123, "123", null and "" (absent).
func (t *EventTime) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		*t = 0
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(strings.TrimSpace(s))
		if len(b) == 0 {
			*t = 0
			return nil
		}
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("EventTime %q is not an integer", b)
	}
	*t = EventTime(v)
	return nil
}

// Member is one entry of a member list.
type Member struct {
	MemberAccount string `json:"Member_Account"`
}

// KeyValue is one UserDefinedDataList entry.
type KeyValue struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// GroupAttr is one attribute of Group.CallbackAfterGroupAttrChanged; IM
// spells these keys in lower case.
type GroupAttr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Common holds the fields every group callback carries.
type Common struct {
	CallbackCommand string    `json:"CallbackCommand"`
	GroupID         string    `json:"GroupId"`
	Type            string    `json:"Type"`
	OperatorAccount string    `json:"Operator_Account"`
	EventTime       EventTime `json:"EventTime"`
}

// AfterCreateGroup is Group.CallbackAfterCreateGroup.
type AfterCreateGroup struct {
	Common
	OwnerAccount        string     `json:"Owner_Account"`
	Name                string     `json:"Name"`
	MemberList          []Member   `json:"MemberList"`
	UserDefinedDataList []KeyValue `json:"UserDefinedDataList"`
}

// AfterGroupInfoChanged is Group.CallbackAfterGroupInfoChanged. Only the
// fields that changed are present; nil means absent, "" means emptied.
type AfterGroupInfoChanged struct {
	Common
	Name         *string `json:"Name"`
	Introduction *string `json:"Introduction"`
	Notification *string `json:"Notification"`
	FaceURL      *string `json:"FaceUrl"`
}

// AfterGroupAttrChanged is Group.CallbackAfterGroupAttrChanged.
type AfterGroupAttrChanged struct {
	Common
	OptionType string      `json:"OptionType"`
	GroupAttr  []GroupAttr `json:"GroupAttr"`
}

// AfterSendMsg is Group.CallbackAfterSendMsg.
type AfterSendMsg struct {
	Common
	FromAccount     string          `json:"From_Account"`
	Random          int64           `json:"Random"`
	MsgSeq          int64           `json:"MsgSeq"`
	MsgTime         int64           `json:"MsgTime"`
	OnlineOnlyFlag  int64           `json:"OnlineOnlyFlag"`
	MsgBody         json.RawMessage `json:"MsgBody"`
	CloudCustomData string          `json:"CloudCustomData"`
}

// AfterNewMemberJoin is Group.CallbackAfterNewMemberJoin.
type AfterNewMemberJoin struct {
	Common
	JoinType      string   `json:"JoinType"`
	NewMemberList []Member `json:"NewMemberList"`
}

// AfterMemberExit is Group.CallbackAfterMemberExit.
type AfterMemberExit struct {
	Common
	ExitType       string   `json:"ExitType"`
	ExitMemberList []Member `json:"ExitMemberList"`
}

// AfterChangeGroupOwner is Group.CallbackAfterChangeGroupOwner.
type AfterChangeGroupOwner struct {
	Common
	OldOwnerAccount string `json:"OldOwner_Account"`
	NewOwnerAccount string `json:"NewOwner_Account"`
}

// AfterGroupDestroyed is Group.CallbackAfterGroupDestroyed.
type AfterGroupDestroyed struct {
	Common
	OwnerAccount string   `json:"Owner_Account"`
	Name         string   `json:"Name"`
	MemberList   []Member `json:"MemberList"`
}

// unmarshal decodes a callback body with github.com/go-json-experiment/json
// (the implementation of the coming encoding/json/v2): a third of
// encoding/json's CPU and 2 allocations instead of 15 for a message callback,
// and decoding was the largest cost of a request (make bench, pprof). The
// options keep encoding/json's leniency, so that nothing IM sends is
// refused that was accepted before: names match case-insensitively, a
// repeated name takes its last value, and invalid UTF-8 in a string becomes
// U+FFFD.
func unmarshal(body []byte, v any) error {
	return jsonv2.Unmarshal(body, v, decodeOptions)
}

var decodeOptions = jsonv2.JoinOptions(
	jsonv2.MatchCaseInsensitiveNames(true),
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// Callback is a decoded, validated group callback: one of the After* types.
type Callback interface{ common() *Common }

// recorded is the set of commands the receiver records, each with the type
// it decodes into: the one list of them.
var recorded = map[string]func() Callback{
	CmdAfterCreateGroup:      func() Callback { return &AfterCreateGroup{} },
	CmdAfterGroupInfoChanged: func() Callback { return &AfterGroupInfoChanged{} },
	CmdAfterGroupAttrChanged: func() Callback { return &AfterGroupAttrChanged{} },
	CmdAfterSendMsg:          func() Callback { return &AfterSendMsg{} },
	CmdAfterNewMemberJoin:    func() Callback { return &AfterNewMemberJoin{} },
	CmdAfterMemberExit:       func() Callback { return &AfterMemberExit{} },
	CmdAfterChangeGroupOwner: func() Callback { return &AfterChangeGroupOwner{} },
	CmdAfterGroupDestroyed:   func() Callback { return &AfterGroupDestroyed{} },
}

// isRecorded reports whether cmd is one of the commands Decode knows.
func isRecorded(cmd string) bool {
	_, ok := recorded[cmd]
	return ok
}

// errUnknownCommand marks a well-formed callback the receiver does not record.
var errUnknownCommand = errors.New("command not recorded")

// Decode parses a recorded callback body into its typed struct and validates
// it. It returns errUnknownCommand for other commands; any other error means
// the body is invalid and must be refused without touching state.
func Decode(command string, body []byte) (Callback, error) {
	newCallback, ok := recorded[command]
	if !ok {
		return nil, errUnknownCommand
	}
	v := newCallback()
	if err := unmarshal(body, v); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", command, err)
	}
	if err := validateCommon(v.common()); err != nil {
		return nil, err
	}
	if err := validate(v); err != nil {
		return nil, err
	}
	return v, nil
}

func (c *Common) common() *Common { return c }

func validateCommon(c *Common) error {
	if c.GroupID == "" {
		return errors.New("GroupId is missing")
	}
	if len(c.GroupID) > maxGroupIDLen {
		return fmt.Errorf("GroupId is longer than %d bytes", maxGroupIDLen)
	}
	for i := 0; i < len(c.GroupID); i++ {
		if c.GroupID[i] < 0x20 || c.GroupID[i] > 0x7e {
			return errors.New("GroupId has a byte outside printable ASCII")
		}
	}
	if c.EventTime < 0 || int64(c.EventTime) > maxEventTime {
		return fmt.Errorf("EventTime %d is not a Unix time in milliseconds", c.EventTime)
	}
	return checkLen("Operator_Account", c.OperatorAccount, maxAccountLen)
}

// checkLen refuses a value longer than IM allows.
func checkLen(field, v string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%s is %d bytes, more than IM's %d", field, len(v), limit)
	}
	return nil
}

func checkInfo(name, introduction, notification, faceURL *string) error {
	for _, f := range []struct {
		field string
		v     *string
		limit int
	}{{"Name", name, maxNameLen}, {"Introduction", introduction, maxIntroductionLen},
		{"Notification", notification, maxNotificationLen}, {"FaceUrl", faceURL, maxFaceURLLen}} {
		if f.v != nil {
			if err := checkLen(f.field, *f.v, f.limit); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkAttrs(op string, attrs []GroupAttr) error {
	if len(attrs) > maxAttrKeys {
		return fmt.Errorf("GroupAttr has %d entries, more than IM's %d attributes", len(attrs), maxAttrKeys)
	}
	total := 0
	for _, a := range attrs {
		if a.Key == "" || len(a.Key) > maxAttrKeyLen {
			return fmt.Errorf("GroupAttr key %q must be 1 to %d bytes", a.Key, maxAttrKeyLen)
		}
		if len(a.Value) > maxAttrValueLen {
			return fmt.Errorf("GroupAttr value of %q is %d bytes, more than IM's %d", a.Key, len(a.Value), maxAttrValueLen)
		}
		total += len(a.Key) + len(a.Value)
	}
	if total > maxAttrTotalBytes {
		return fmt.Errorf("GroupAttr is %d bytes in all, more than IM's %d", total, maxAttrTotalBytes)
	}
	if op != AttrSet && len(attrs) == 0 {
		return fmt.Errorf("OptionType %s without GroupAttr", op)
	}
	return nil
}

func validate(v Callback) error {
	switch m := v.(type) {
	case *AfterSendMsg:
		if m.MsgSeq < 1 || m.MsgSeq > maxMsgSeq {
			return fmt.Errorf("MsgSeq %d is outside 1..%d", m.MsgSeq, maxMsgSeq)
		}
		if m.MsgTime < 0 || m.MsgTime > maxUnixSecs {
			return fmt.Errorf("MsgTime %d is not a Unix time in seconds", m.MsgTime)
		}
		return checkLen("From_Account", m.FromAccount, maxAccountLen)
	case *AfterGroupAttrChanged:
		switch m.OptionType {
		case AttrSet, AttrModify, AttrDelete:
			return checkAttrs(m.OptionType, m.GroupAttr)
		case AttrClear:
		default:
			return fmt.Errorf("OptionType %q is not one of set, modify, delete, clear", m.OptionType)
		}
	case *AfterGroupInfoChanged:
		return checkInfo(m.Name, m.Introduction, m.Notification, m.FaceURL)
	case *AfterChangeGroupOwner:
		if m.NewOwnerAccount == "" {
			return errors.New("NewOwner_Account is missing")
		}
		if err := checkLen("OldOwner_Account", m.OldOwnerAccount, maxAccountLen); err != nil {
			return err
		}
		return checkLen("NewOwner_Account", m.NewOwnerAccount, maxAccountLen)
	case *AfterCreateGroup:
		if err := checkInfo(&m.Name, nil, nil, nil); err != nil {
			return err
		}
		if err := checkLen("Owner_Account", m.OwnerAccount, maxAccountLen); err != nil {
			return err
		}
		if len(m.UserDefinedDataList) > maxAppDataKeys {
			return fmt.Errorf("UserDefinedDataList has %d entries, more than IM's %d", len(m.UserDefinedDataList), maxAppDataKeys)
		}
		for _, kv := range m.UserDefinedDataList {
			if kv.Key == "" || len(kv.Key) > maxAppDataKeyLen || len(kv.Value) > maxAppDataValueLen {
				return fmt.Errorf("UserDefinedDataList entry %q: key 1 to %d bytes, value at most %d", kv.Key, maxAppDataKeyLen, maxAppDataValueLen)
			}
		}
	case *AfterGroupDestroyed:
		return checkLen("Owner_Account", m.OwnerAccount, maxAccountLen)
	}
	return nil
}

// knownType returns t as a GroupType when it is one the CRD accepts; status
// is validated by the schema, so an unknown type must never be written.
func knownType(t string) imv1alpha1.GroupType {
	switch gt := imv1alpha1.GroupType(t); gt {
	case imv1alpha1.GroupTypePrivate, imv1alpha1.GroupTypePublic, imv1alpha1.GroupTypeChatRoom,
		imv1alpha1.GroupTypeAVChatRoom, imv1alpha1.GroupTypeCommunity:
		return gt
	}
	return ""
}
