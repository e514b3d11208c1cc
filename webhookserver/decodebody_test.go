package webhookserver

import (
	"reflect"
	"testing"
)

// The one-pass decode of a recorded command must answer exactly as the
// documented two-pass path does, for good bodies and bad ones.
func TestDecodeBodyMatchesSlowPath(t *testing.T) {
	bodies := []string{
		`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#1","MsgSeq":3,"MsgTime":1700000000,"From_Account":"a"}`,
		`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#1","MsgSeq":0}`,
		`{"CallbackCommand":"Group.CallbackAfterGroupInfoChanged","GroupId":"@TGS#1","Name":"n","EventTime":"12"}`,
		`{"CallbackCommand":"Group.CallbackAfterGroupAttrChanged","GroupId":"@TGS#1","OptionType":"set","GroupAttr":[{"key":"k","value":"v"}],"EventTime":5}`,
		`{"CallbackCommand":"Group.CallbackAfterGroupAttrChanged","GroupId":"@TGS#1","OptionType":"bogus"}`,
		`{"CallbackCommand":"Group.CallbackAfterNewMemberJoin","GroupId":"@TGS#1","NewMemberList":[{"Member_Account":"u"}]}`,
		`{"CallbackCommand":"Group.CallbackBeforeSendMsg","GroupId":"@TGS#1"}`,
		`{"CallbackCommand":"Group.CallbackAfterSomethingNew","GroupId":"@TGS#1"}`,
		`{"callbackcommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#1","MsgSeq":1}`,
		`{"CallbackCommand":"Group.CallbackAfterSendMsg","CallbackCommand":"Group.CallbackAfterMemberExit","GroupId":"@TGS#1","MsgSeq":1}`,
		`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":""}`,
		`{"CallbackCommand":7}`,
		`not json`,
		``,
		`[]`,
	}
	cmds := []string{"", CmdAfterSendMsg, CmdAfterGroupInfoChanged, CmdAfterGroupAttrChanged, CmdAfterNewMemberJoin,
		CmdAfterMemberExit, "Group.CallbackBeforeSendMsg", "Group.CallbackAfterSomethingNew"}
	for _, b := range bodies {
		for _, q := range cmds {
			var fastCmd, slowCmd string
			cb1, c1, r1, i1 := decodeBody(q, []byte(b), &fastCmd)
			cb2, c2, r2, i2 := decodeSlow(q, []byte(b), &slowCmd)
			if c1 != c2 || r1 != r2 || i1 != i2 || fastCmd != slowCmd || !reflect.DeepEqual(cb1, cb2) {
				t.Errorf("query %q body %s:\n fast %d %q %q %q %+v\n slow %d %q %q %q %+v",
					q, b, c1, r1, i1, fastCmd, cb1, c2, r2, i2, slowCmd, cb2)
			}
		}
	}
}
