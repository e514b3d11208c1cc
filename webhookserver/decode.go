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

// Limits on values a callback may carry. They refuse garbage (and a signed
// but buggy sender) before it can pin state forever: lastMessageSeq only
// grows, so one absurd seq would freeze it.
const (
	maxGroupIDLen = 48
	maxMsgSeq     = int64(1) << 40        // ~10^12 messages in one group
	maxUnixSecs   = int64(10_000_000_000) // year 2286: a ms value is refused
	maxEventTime  = maxUnixSecs * 1000    // EventTime is in milliseconds
	maxAttrOps    = 64                    // IM allows 16 attributes per group
	maxAttrKeyLen = 32
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

// errUnknownCommand marks a well-formed callback the receiver does not record.
var errUnknownCommand = errors.New("command not recorded")

// Decode parses a recorded callback body into its typed struct and validates
// it. It returns errUnknownCommand for other commands; any other error means
// the body is invalid and must be refused without touching state.
func Decode(command string, body []byte) (any, error) {
	var v interface{ common() *Common }
	switch command {
	case CmdAfterCreateGroup:
		v = &AfterCreateGroup{}
	case CmdAfterGroupInfoChanged:
		v = &AfterGroupInfoChanged{}
	case CmdAfterGroupAttrChanged:
		v = &AfterGroupAttrChanged{}
	case CmdAfterSendMsg:
		v = &AfterSendMsg{}
	case CmdAfterNewMemberJoin:
		v = &AfterNewMemberJoin{}
	case CmdAfterMemberExit:
		v = &AfterMemberExit{}
	case CmdAfterChangeGroupOwner:
		v = &AfterChangeGroupOwner{}
	case CmdAfterGroupDestroyed:
		v = &AfterGroupDestroyed{}
	default:
		return nil, errUnknownCommand
	}
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
	return nil
}

func validate(v any) error {
	switch m := v.(type) {
	case *AfterSendMsg:
		if m.MsgSeq < 1 || m.MsgSeq > maxMsgSeq {
			return fmt.Errorf("MsgSeq %d is outside 1..%d", m.MsgSeq, maxMsgSeq)
		}
		if m.MsgTime < 0 || m.MsgTime > maxUnixSecs {
			return fmt.Errorf("MsgTime %d is not a Unix time in seconds", m.MsgTime)
		}
	case *AfterGroupAttrChanged:
		switch m.OptionType {
		case AttrSet, AttrModify, AttrDelete:
			if len(m.GroupAttr) > maxAttrOps {
				return fmt.Errorf("GroupAttr has %d entries, more than %d", len(m.GroupAttr), maxAttrOps)
			}
			for _, a := range m.GroupAttr {
				if a.Key == "" || len(a.Key) > maxAttrKeyLen {
					return fmt.Errorf("GroupAttr key %q must be 1 to %d bytes", a.Key, maxAttrKeyLen)
				}
			}
			if m.OptionType != AttrSet && len(m.GroupAttr) == 0 {
				return fmt.Errorf("OptionType %s without GroupAttr", m.OptionType)
			}
		case AttrClear:
		default:
			return fmt.Errorf("OptionType %q is not one of set, modify, delete, clear", m.OptionType)
		}
	case *AfterChangeGroupOwner:
		if m.NewOwnerAccount == "" {
			return errors.New("NewOwner_Account is missing")
		}
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
