package timfake_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/internal/usersig"
)

func TestRequestChecks(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	mk := func(app uint64, key, id string, life time.Duration, at time.Time) string {
		s, err := usersig.Generate(app, key, id, life, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		name     string
		method   string
		path     string
		override map[string]string
		body     string
		want     int
	}{
		{"ok", "POST", "/v4/group_open_http_svc/get_appid_group_list", nil, `{}`, 0},
		{"GET", "GET", "/v4/group_open_http_svc/get_appid_group_list", nil, ``, timfake.CodeHTTPParse},
		{"path too short", "POST", "/v4/get_appid_group_list", nil, `{}`, timfake.CodeBadURL},
		{"not v4", "POST", "/v3/group_open_http_svc/get_appid_group_list", nil, `{}`, timfake.CodeBadURL},
		{"unknown service", "POST", "/v4/no_such_svc/get_appid_group_list", nil, `{}`, timfake.CodeBadURL},
		{"unknown command", "POST", "/v4/group_open_http_svc/no_such_command", nil, `{}`, timfake.CodeBadCommand},
		{"get_group_attr on the wrong service", "POST", "/v4/group_open_http_svc/get_group_attr", nil, `{"GroupId":"x"}`, timfake.CodeBadCommand},
		{"missing sdkappid", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"sdkappid": ""}, `{}`, timfake.CodeMissingSDKAppID},
		{"other sdkappid", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"sdkappid": "1400000001"}, `{}`, timfake.CodeInvalidSDKAppID},
		{"sdkappid not a number", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"sdkappid": "abc"}, `{}`, timfake.CodeInvalidSDKAppID},
		{"missing identifier", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"identifier": ""}, `{}`, timfake.CodeAccountOrSig},
		{"missing usersig", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"usersig": ""}, `{}`, timfake.CodeSigMalformed},
		{"garbage usersig", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"usersig": "garbage"}, `{}`, timfake.CodeSigMalformed},
		{"usersig from another key", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"usersig": mk(appID, "another key", admin, time.Hour, now)}, `{}`, timfake.CodeSigMismatch},
		{"expired usersig", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"usersig": mk(appID, secret, admin, time.Hour, now.Add(-2*time.Hour))}, `{}`, timfake.CodeSigExpired},
		{"usersig of another user", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"usersig": mk(appID, secret, "bob", time.Hour, now)}, `{}`, timfake.CodeSigIdentifier},
		{"usersig of another app", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"usersig": mk(appID+1, secret, admin, time.Hour, now)}, `{}`, timfake.CodeSigSDKAppID},
		{"valid usersig of a non-admin", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"identifier": "bob", "usersig": mk(appID, secret, "bob", time.Hour, now)}, `{}`, timfake.CodeNeedAdmin},
		{"missing random", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"random": ""}, `{}`, timfake.CodeHTTPParse},
		{"random above uint32", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"random": "4294967296"}, `{}`, timfake.CodeHTTPParse},
		{"random max uint32", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"random": "4294967295"}, `{}`, 0},
		{"contenttype xml", "POST", "/v4/group_open_http_svc/get_appid_group_list", map[string]string{"contenttype": "xml"}, `{}`, timfake.CodeHTTPParse},
		{"empty body", "POST", "/v4/group_open_http_svc/get_appid_group_list", nil, ``, timfake.CodeJSONParse},
		{"blank body", "POST", "/v4/group_open_http_svc/get_appid_group_list", nil, "  \n", timfake.CodeJSONParse},
		{"body not JSON", "POST", "/v4/group_open_http_svc/get_appid_group_list", nil, `{"Limit":`, timfake.CodeJSONParse},
		{"body a JSON array", "POST", "/v4/group_open_http_svc/get_appid_group_list", nil, `[]`, timfake.CodeJSONParse},
		{"field of the wrong type", "POST", "/v4/group_open_http_svc/get_appid_group_list", nil, `{"Limit":"ten"}`, timfake.CodeInvalidParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := e.do(t, tt.method, tt.path, e.query(t, tt.override), tt.body)
			if a.status != http.StatusOK {
				t.Fatalf("HTTP %d, the IM backend always answers 200", a.status)
			}
			if tt.want == 0 {
				mustOK(t, a)
				return
			}
			wantCode(t, a, tt.want)
		})
	}
}

// A UserSig tampered with after signing must be refused with 70009, the
// "verification failed" code, not accepted and not mistaken for garbage.
func TestTamperedUserSigRefused(t *testing.T) {
	e := newEnv(t, nil)
	good := e.sig(t, admin)
	c, err := usersig.Decode(good)
	if err != nil {
		t.Fatal(err)
	}
	// Re-issue the same claims with a longer life under the wrong key:
	// well-formed, right app and identifier, wrong HMAC.
	forged, err := usersig.Generate(c.SDKAppID, secret+"x", c.Identifier, 365*24*time.Hour, c.IssuedAt())
	if err != nil {
		t.Fatal(err)
	}
	a := e.do(t, "POST", "/v4/group_open_http_svc/get_appid_group_list", e.query(t, map[string]string{"usersig": forged}), `{}`)
	wantCode(t, a, timfake.CodeSigMismatch)
}

func TestCreateGroupGolden(t *testing.T) {
	e := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#2J4SZEAEL") })
	req := string(readFile(t, "rest", "create_group.request.json"))
	// The sample's custom ID comes back as given.
	a := mustOK(t, e.group(t, "create_group", req))
	if a.m["GroupId"] != "MyFirstGroup" {
		t.Fatalf("GroupId %v", a.m["GroupId"])
	}
	// Without GroupId the backend assigns one: the documented answer.
	noID := strings.Replace(req, `"GroupId":"MyFirstGroup",`, "", 1)
	a = mustOK(t, e.group(t, "create_group", noID))
	wantGolden(t, a.raw, "rest", "create_group.response.json")

	e2 := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#_2J4SZEAEL") })
	a = mustOK(t, e2.group(t, "create_group", `{"Owner_Account":"leckie","Type":"Community","Name":"c"}`))
	wantGolden(t, a.raw, "rest", "create_group.community.response.json")
}

func TestCreateGroupRules(t *testing.T) {
	e := newEnv(t, nil)
	mustOK(t, e.group(t, "create_group", `{"Owner_Account":"leckie","Type":"Public","GroupId":"taken","Name":"n"}`))
	long := strings.Repeat("x", 49)
	tests := []struct {
		name, body string
		want       int
	}{
		{"invalid type", `{"Type":"Work","Name":"n"}`, timfake.CodeInvalidParam},
		{"missing type", `{"Name":"n"}`, timfake.CodeInvalidParam},
		{"missing name", `{"Type":"Public"}`, timfake.CodeInvalidParam},
		{"name too long", `{"Type":"Public","Name":"` + strings.Repeat("n", 101) + `"}`, timfake.CodeInvalidParam},
		{"custom id with the system prefix", `{"Type":"Public","GroupId":"@TGS#mine","Name":"n"}`, timfake.CodeInvalidParam},
		{"community id without @TGS#_", `{"Type":"Community","GroupId":"mine","Name":"n"}`, timfake.CodeInvalidParam},
		{"id too long", `{"Type":"Public","GroupId":"` + long + `","Name":"n"}`, timfake.CodeInvalidParam},
		{"id not printable ASCII", `{"Type":"Public","GroupId":"grüppe","Name":"n"}`, timfake.CodeInvalidParam},
		{"duplicate id", `{"Owner_Account":"bob","Type":"Public","GroupId":"taken","Name":"n"}`, timfake.CodeGroupIDUsed},
		{"duplicate id, same owner", `{"Owner_Account":"leckie","Type":"Public","GroupId":"taken","Name":"n"}`, timfake.CodeGroupIDUsedByYou},
		{"AVChatRoom with members", `{"Type":"AVChatRoom","Name":"n","MemberList":[{"Member_Account":"bob"}]}`, timfake.CodeNoPermission},
		{"bad ApplyJoinOption", `{"Type":"Public","Name":"n","ApplyJoinOption":"Maybe"}`, timfake.CodeInvalidParam},
		{"bad role", `{"Type":"Public","Name":"n","MemberList":[{"Member_Account":"bob","Role":"Owner"}]}`, timfake.CodeInvalidParam},
		{"MaxMemberCount over the 6000 limit", `{"Type":"Private","Name":"n","MaxMemberCount":6001}`, timfake.CodeInvalidParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, e.group(t, "create_group", tt.body), tt.want)
		})
	}
	if got := len(e.fake.Groups()); got != 1 {
		t.Fatalf("refused creates left %d groups, want 1", got)
	}
	ok := []string{
		`{"Type":"Community","GroupId":"@TGS#_mine","Name":"n"}`,
		`{"Type":"AVChatRoom","Name":"live"}`,
		`{"Type":"Public","GroupId":"` + long[:48] + `","Name":"n"}`,
	}
	for _, body := range ok {
		mustOK(t, e.group(t, "create_group", body))
	}
	// System-assigned IDs carry the documented prefixes.
	for typ, prefix := range map[string]string{"Public": "@TGS#", "Community": "@TGS#_"} {
		a := mustOK(t, e.group(t, "create_group", `{"Type":"`+typ+`","Name":"n"}`))
		id, _ := a.m["GroupId"].(string)
		if !strings.HasPrefix(id, prefix) || (typ == "Public" && strings.HasPrefix(id, "@TGS#_")) {
			t.Errorf("%s group got id %q", typ, id)
		}
	}
}

// setupDocGroup creates the reference's sample group as @TGS#1NVTZEAE4.
func setupDocGroup(t *testing.T, e *env) {
	t.Helper()
	req := strings.Replace(string(readFile(t, "rest", "create_group.request.json")), `"GroupId":"MyFirstGroup",`, "", 1)
	a := mustOK(t, e.group(t, "create_group", req))
	if a.m["GroupId"] != "@TGS#1NVTZEAE4" {
		t.Fatalf("GroupId %v", a.m["GroupId"])
	}
}

func TestGetGroupInfoGolden(t *testing.T) {
	e := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#1NVTZEAE4") })
	setupDocGroup(t, e)
	a := mustOK(t, e.group(t, "get_group_info", string(readFile(t, "rest", "get_group_info.request.json"))))
	wantGolden(t, a.raw, "rest", "get_group_info.response.json")
	a = mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["@TGS#1NVTZEAE4"]}`))
	wantGolden(t, a.raw, "rest", "get_group_info.nofilter.response.json")
}

func TestGetGroupInfoPerGroupErrors(t *testing.T) {
	e := newEnv(t, nil)
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g1","Name":"one"}`))
	a := mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["g1","nope","`+strings.Repeat("x", 60)+`"]}`))
	var resp struct {
		GroupInfo []struct {
			GroupId   string
			ErrorCode int
			Name      string
		}
	}
	if err := json.Unmarshal(a.raw, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.GroupInfo) != 3 {
		t.Fatalf("%d entries: %s", len(resp.GroupInfo), a.raw)
	}
	if g := resp.GroupInfo[0]; g.GroupId != "g1" || g.ErrorCode != 0 || g.Name != "one" {
		t.Errorf("existing group: %+v", g)
	}
	if g := resp.GroupInfo[1]; g.GroupId != "nope" || g.ErrorCode != timfake.CodeGroupNotFound {
		t.Errorf("unknown group: %+v", g)
	}
	if g := resp.GroupInfo[2]; g.ErrorCode != timfake.CodeInvalidGroupID {
		t.Errorf("impossible group id: %+v", g)
	}

	ids := make([]string, 51)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", fmt.Sprintf("g%d", i))
	}
	wantCode(t, e.group(t, "get_group_info", `{"GroupIdList":[`+strings.Join(ids, ",")+`]}`), timfake.CodeInvalidParam)
	mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":[`+strings.Join(ids[:50], ",")+`]}`))
	wantCode(t, e.group(t, "get_group_info", `{"GroupIdList":[]}`), timfake.CodeInvalidParam)
}

func TestModifyGroupBaseInfo(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#1NVTZEAE4"); o.CallbackURL = rcv.url() })
	setupDocGroup(t, e)
	flush(t, e.fake)
	rcv.reset()
	e.clock.Advance(90 * time.Second)
	a := mustOK(t, e.group(t, "modify_group_base_info", string(readFile(t, "rest", "modify_group_base_info.request.json"))))
	wantGolden(t, a.raw, "rest", "envelope_ok.response.json")
	g, _ := e.fake.Group("@TGS#1NVTZEAE4")
	if g.Name != "NewName" || g.Introduction != "NewIntroduction" || g.Notification != "NewNotification" ||
		g.FaceURL != "http://this.is.new.face.url" || g.MaxMemberNum != 500 || g.ApplyJoinOption != "NeedPermission" ||
		g.MuteAllMember != "On" || g.AppDefinedData["GroupTestData1"] != "yyyyy" || !g.LastInfoTime.Equal(docTime.Add(90*time.Second)) {
		t.Errorf("state after modify: %+v", g)
	}
	flush(t, e.fake)
	got := rcv.all()
	if len(got) != 1 {
		t.Fatalf("%d callbacks, want 1", len(got))
	}
	want := `{"CallbackCommand":"Group.CallbackAfterGroupInfoChanged","GroupId":"@TGS#1NVTZEAE4","Type":"Public",` +
		`"Operator_Account":"brennanli","Name":"NewName","Introduction":"NewIntroduction","Notification":"NewNotification",` +
		`"FaceUrl":"http://this.is.new.face.url","EventTime":"1670574504123"}`
	if string(got[0].body) != want {
		t.Errorf("callback\n got %s\nwant %s", got[0].body, want)
	}

	// Only changed fields; same value again is no change; non-profile
	// fields change silently.
	rcv.reset()
	mustOK(t, e.group(t, "modify_group_base_info", `{"GroupId":"@TGS#1NVTZEAE4","Name":"NewName","Introduction":""}`))
	mustOK(t, e.group(t, "modify_group_base_info", `{"GroupId":"@TGS#1NVTZEAE4","Name":"NewName","MaxMemberNum":600}`))
	flush(t, e.fake)
	got = rcv.all()
	if len(got) != 1 || !strings.Contains(string(got[0].body), `"Operator_Account":"administrator","Introduction":"","EventTime"`) {
		t.Fatalf("callbacks after partial modifies: %d %s", len(got), got)
	}

	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"GroupId":"nope","Name":"x"}`, timfake.CodeGroupNotFound},
		{`{"GroupId":"@TGS#1NVTZEAE4","Name":""}`, timfake.CodeInvalidParam},
		{`{"GroupId":"@TGS#1NVTZEAE4","MuteAllMember":"Maybe"}`, timfake.CodeInvalidParam},
		{`{"GroupId":"@TGS#1NVTZEAE4","Notification":"` + strings.Repeat("n", 401) + `"}`, timfake.CodeInvalidParam},
		{`{"GroupId":"@TGS#1NVTZEAE4","MaxMemberNum":1}`, timfake.CodeInvalidParam},
	} {
		wantCode(t, e.group(t, "modify_group_base_info", tt.body), tt.want)
	}
}

func TestAttributes(t *testing.T) {
	e := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#1NVTZEAE4") })
	setupDocGroup(t, e)
	attrSvc := "group_open_attr_http_svc"
	a := mustOK(t, e.call(t, attrSvc, "get_group_attr", `{"GroupId":"@TGS#1NVTZEAE4"}`))
	if compact(t, a.raw) != `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"GroupAttrAry":[]}` {
		t.Errorf("empty attributes: %s", a.raw)
	}
	mustOK(t, e.group(t, "modify_group_attr", string(readFile(t, "rest", "modify_group_attr.request.json"))))
	a = mustOK(t, e.call(t, attrSvc, "get_group_attr", `{"GroupId":"@TGS#1NVTZEAE4"}`))
	wantGolden(t, a.raw, "rest", "get_group_attr.response.json")
	e.clock.Advance(time.Second)
	mustOK(t, e.group(t, "modify_group_attr", `{"GroupId":"@TGS#1NVTZEAE4","GroupAttr":[{"key":"a","value":"1"},{"key":"attr_key1","value":"changed"}]}`))
	e.clock.Advance(time.Second)
	mustOK(t, e.group(t, "delete_group_attr", string(readFile(t, "rest", "delete_group_attr.request.json"))))
	if g, _ := e.fake.Group("@TGS#1NVTZEAE4"); len(g.Attributes) != 1 || g.Attributes["a"] != "1" {
		t.Fatalf("after modify+delete: %v", g.Attributes)
	}
	e.clock.Advance(time.Second)
	mustOK(t, e.group(t, "set_group_attr", `{"GroupId":"@TGS#1NVTZEAE4","GroupAttr":[{"key":"x","value":"y"}]}`))
	if g, _ := e.fake.Group("@TGS#1NVTZEAE4"); len(g.Attributes) != 1 || g.Attributes["x"] != "y" {
		t.Fatalf("set must replace everything: %v", g.Attributes)
	}
	e.clock.Advance(time.Second)
	mustOK(t, e.group(t, "clear_group_attr", `{"GroupId":"@TGS#1NVTZEAE4"}`))
	if g, _ := e.fake.Group("@TGS#1NVTZEAE4"); len(g.Attributes) != 0 {
		t.Fatalf("after clear: %v", g.Attributes)
	}
	wantCode(t, e.call(t, attrSvc, "get_group_attr", `{"GroupId":"nope"}`), timfake.CodeGroupNotFound)
	wantCode(t, e.group(t, "clear_group_attr", `{"GroupId":"nope"}`), timfake.CodeGroupNotFound)
}

func TestAttributeLimits(t *testing.T) {
	e := newEnv(t, nil)
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n"}`))
	body := func(n int, keyLen, valLen int) string {
		var attrs []string
		for i := range n {
			k := fmt.Sprintf("k%02d", i)
			k += strings.Repeat("k", max(0, keyLen-len(k)))
			attrs = append(attrs, fmt.Sprintf(`{"key":%q,"value":%q}`, k, strings.Repeat("v", valLen)))
		}
		return `{"GroupId":"g","GroupAttr":[` + strings.Join(attrs, ",") + `]}`
	}
	tests := []struct {
		name, cmd, body string
		want            int
	}{
		{"16 keys fit", "set_group_attr", body(16, 3, 10), 0},
		{"17 keys", "set_group_attr", body(17, 3, 10), timfake.CodeAttrTooManyKeys},
		{"17th key by modify", "modify_group_attr", `{"GroupId":"g","GroupAttr":[{"key":"extra","value":"v"}]}`, timfake.CodeAttrTooManyKeys},
		{"32-byte key fits", "set_group_attr", body(1, 32, 1), 0},
		{"33-byte key", "set_group_attr", body(1, 33, 1), timfake.CodeAttrKeyTooLong},
		{"4000-byte value fits", "set_group_attr", body(1, 3, 4000), 0},
		{"4001-byte value", "set_group_attr", body(1, 3, 4001), timfake.CodeAttrValueTooLong},
		{"total 16000 fits", "set_group_attr", body(4, 3, 3997), 0},
		{"total over 16000", "set_group_attr", body(4, 3, 3998), timfake.CodeAttrTotalTooLarge},
		{"missing key", "modify_group_attr", `{"GroupId":"g","GroupAttr":[{"value":"v"}]}`, timfake.CodeAttrKeyMissing},
		{"missing key in delete", "delete_group_attr", `{"GroupId":"g","GroupAttr":[{"key":""}]}`, timfake.CodeAttrKeyMissing},
		{"empty modify", "modify_group_attr", `{"GroupId":"g","GroupAttr":[]}`, timfake.CodeInvalidParam},
		{"unknown group", "modify_group_attr", `{"GroupId":"nope","GroupAttr":[{"key":"k","value":"v"}]}`, timfake.CodeGroupNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Advance(time.Second) // stay clear of the 5/s limit
			a := e.group(t, tt.cmd, tt.body)
			if tt.want == 0 {
				mustOK(t, a)
			} else {
				wantCode(t, a, tt.want)
			}
		})
	}

	// 5 writes per second per group; refused writes do not count; the
	// window slides; other groups are unaffected.
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"other","Name":"n"}`))
	e.clock.Advance(time.Second)
	w := `{"GroupId":"g","GroupAttr":[{"key":"k","value":"v"}]}`
	wantCode(t, e.group(t, "modify_group_attr", body(1, 33, 1)), timfake.CodeAttrKeyTooLong)
	for i := range 5 {
		if a := e.group(t, "set_group_attr", w); a.code() != 0 {
			t.Fatalf("write %d refused: %s", i+1, a.raw)
		}
		e.clock.Advance(100 * time.Millisecond)
	}
	wantCode(t, e.group(t, "modify_group_attr", w), timfake.CodeAttrWriteFreq)
	mustOK(t, e.group(t, "modify_group_attr", `{"GroupId":"other","GroupAttr":[{"key":"k","value":"v"}]}`))
	e.clock.Advance(500 * time.Millisecond) // the first write leaves the window
	mustOK(t, e.group(t, "delete_group_attr", `{"GroupId":"g","GroupAttr":[{"key":"k"}]}`))
	wantCode(t, e.group(t, "clear_group_attr", `{"GroupId":"g"}`), timfake.CodeAttrWriteFreq)
}

func TestSendGroupMsg(t *testing.T) {
	e := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#1NVTZEAE4") })
	setupDocGroup(t, e)
	a := mustOK(t, e.group(t, "send_group_msg", string(readFile(t, "rest", "send_group_msg.request.json"))))
	wantGolden(t, a.raw, "rest", "send_group_msg.response.json")
	// Same Random from the same sender within 5 minutes: same message.
	e.clock.Advance(4 * time.Minute)
	a = mustOK(t, e.group(t, "send_group_msg", string(readFile(t, "rest", "send_group_msg.request.json"))))
	wantGolden(t, a.raw, "rest", "send_group_msg.response.json")
	msg := func(random int, from string) string {
		return fmt.Sprintf(`{"GroupId":"@TGS#1NVTZEAE4","Random":%d,"From_Account":%q,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`, random, from)
	}
	seq := func(a answer) int64 { n, _ := a.m["MsgSeq"].(json.Number).Int64(); return n }
	if got := seq(mustOK(t, e.group(t, "send_group_msg", msg(1, "bob")))); got != 2 {
		t.Fatalf("second message seq %d, want 2", got)
	}
	if got := seq(mustOK(t, e.group(t, "send_group_msg", msg(1, "leckie")))); got != 3 {
		t.Fatalf("same Random from another sender: seq %d, want 3", got)
	}
	e.clock.Advance(2 * time.Minute) // the first send is now 6 minutes old
	if got := seq(mustOK(t, e.group(t, "send_group_msg", msg(8912345, "bob")))); got != 4 {
		t.Fatalf("same Random after 5 minutes: seq %d, want 4", got)
	}
	g, _ := e.fake.Group("@TGS#1NVTZEAE4")
	if g.NextMsgSeq != 5 || !g.LastMsgTime.Equal(e.clock.Now()) {
		t.Errorf("NextMsgSeq %d LastMsgTime %v", g.NextMsgSeq, g.LastMsgTime)
	}
	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"GroupId":"nope","Random":1,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}`, timfake.CodeGroupNotFound},
		{`{"GroupId":"@TGS#1NVTZEAE4","Random":1,"MsgBody":[]}`, timfake.CodeInvalidParam},
		{`{"GroupId":"@TGS#1NVTZEAE4","Random":1}`, timfake.CodeInvalidParam},
		{`{"GroupId":"@TGS#1NVTZEAE4","Random":1,"MsgBody":[{"MsgType":"TIMBogusElem","MsgContent":{}}]}`, timfake.CodeInvalidParam},
	} {
		wantCode(t, e.group(t, "send_group_msg", tt.body), tt.want)
	}
	if g, _ := e.fake.Group("@TGS#1NVTZEAE4"); g.NextMsgSeq != 5 {
		t.Errorf("refused sends moved NextMsgSeq to %d", g.NextMsgSeq)
	}
}

func TestDestroyGroup(t *testing.T) {
	e := newEnv(t, nil)
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n"}`))
	a := mustOK(t, e.group(t, "destroy_group", `{"GroupId":"g"}`))
	wantGolden(t, a.raw, "rest", "envelope_ok.response.json")
	wantCode(t, e.group(t, "destroy_group", `{"GroupId":"g"}`), timfake.CodeGroupNotFound)
	wantCode(t, e.group(t, "destroy_group", `{"GroupId":""}`), timfake.CodeInvalidGroupID)
	if _, ok := e.fake.Group("g"); ok {
		t.Fatal("group still there")
	}
	// The ID is free again.
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n"}`))

	// The documented body (the golden internal/tim sends too).
	d := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#1NVTZEAE4") })
	setupDocGroup(t, d)
	a = mustOK(t, d.group(t, "destroy_group", string(readFile(t, "rest", "destroy_group.request.json"))))
	wantGolden(t, a.raw, "rest", "envelope_ok.response.json")
	if _, ok := d.fake.Group("@TGS#1NVTZEAE4"); ok {
		t.Fatal("group of the golden body still there")
	}
}

func TestGetAppIDGroupList(t *testing.T) {
	e := newEnv(t, func(o *timfake.Options) { o.NewGroupID = fixedID("@TGS#1NVTZEAE4") })
	setupDocGroup(t, e)
	a := mustOK(t, e.group(t, "get_appid_group_list", string(readFile(t, "rest", "get_appid_group_list.request.json"))))
	wantGolden(t, a.raw, "rest", "get_appid_group_list.response.json")

	for i := range 25 {
		typ := "Private"
		if i%5 == 0 {
			typ = "Public"
		}
		mustOK(t, e.group(t, "create_group", fmt.Sprintf(`{"Type":%q,"GroupId":"g%02d","Name":"n"}`, typ, i)))
	}
	mustOK(t, e.group(t, "destroy_group", `{"GroupId":"g03"}`))
	var all []string
	next := "0"
	pages := 0
	for {
		a := mustOK(t, e.group(t, "get_appid_group_list", `{"Limit":10,"Next":`+next+`}`))
		var page struct {
			TotalCount  int
			GroupIdList []struct{ GroupId string }
			Next        json.Number
		}
		if err := json.Unmarshal(a.raw, &page); err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 25 {
			t.Fatalf("TotalCount %d, want 25", page.TotalCount)
		}
		for _, g := range page.GroupIdList {
			all = append(all, g.GroupId)
		}
		pages++
		next = page.Next.String()
		if next == "0" {
			break
		}
		// The cursor must survive only as a 64-bit integer.
		n, err := strconv.ParseUint(next, 10, 64)
		if err != nil || n <= 1<<53 {
			t.Fatalf("cursor %s is not a large uint64", next)
		}
		if pages > 5 {
			t.Fatal("listing does not end")
		}
	}
	if len(all) != 25 || pages != 3 || all[0] != "@TGS#1NVTZEAE4" || all[1] != "g00" || all[24] != "g24" {
		t.Fatalf("%d pages, ids %v", pages, all)
	}
	a = mustOK(t, e.group(t, "get_appid_group_list", `{"GroupType":"Public"}`))
	if n, _ := a.m["TotalCount"].(json.Number).Int64(); n != 6 {
		t.Fatalf("Public TotalCount %d, want 6: %s", n, a.raw)
	}
	wantCode(t, e.group(t, "get_appid_group_list", `{"GroupType":"Work"}`), timfake.CodeInvalidParam)
	wantCode(t, e.group(t, "get_appid_group_list", `{"Limit":10001}`), timfake.CodeInvalidParam)
	wantCode(t, e.group(t, "get_appid_group_list", `{"Next":12345}`), timfake.CodeInvalidParam)
}

func TestInjectionAndCounters(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.InjectError("create_group", 10002, 2)
	body := `{"Type":"Public","GroupId":"g","Name":"n"}`
	wantCode(t, e.group(t, "create_group", body), 10002)
	wantCode(t, e.group(t, "create_group", body), 10002)
	mustOK(t, e.group(t, "create_group", body))
	if n := e.fake.Calls("create_group"); n != 3 {
		t.Fatalf("Calls = %d, want 3", n)
	}
	if len(e.fake.Groups()) != 1 {
		t.Fatal("an injected error must not change state")
	}
	// Injection is per command.
	e.fake.InjectError("destroy_group", 60007, 1)
	mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["g"]}`))
	wantCode(t, e.group(t, "destroy_group", `{"GroupId":"g"}`), 60007)
	// Bare HTTP failures, any command.
	e.fake.FailHTTP(http.StatusBadGateway, 1)
	if a := e.do(t, "POST", "/v4/group_open_http_svc/get_group_info", e.query(t, nil), `{"GroupIdList":["g"]}`); a.status != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", a.status)
	}
	mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["g"]}`))
	if n := e.fake.Calls("get_group_info"); n != 3 {
		t.Fatalf("get_group_info Calls = %d, want 3", n)
	}
	// Per group: the failed HTTP request counts too; another group's does not.
	mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["other","nowhere"]}`))
	for _, c := range []struct {
		cmd, group string
		want       int
	}{{"get_group_info", "g", 3}, {"get_group_info", "other", 1}, {"create_group", "g", 3}, {"destroy_group", "g", 1}, {"destroy_group", "other", 0}} {
		if n := e.fake.CallsFor(c.cmd, c.group); n != c.want {
			t.Fatalf("CallsFor(%s, %s) = %d, want %d", c.cmd, c.group, n, c.want)
		}
	}
	e.fake.ResetCalls()
	if n, ng := e.fake.Calls("get_group_info"), e.fake.CallsFor("get_group_info", "g"); n != 0 || ng != 0 {
		t.Fatalf("after reset: %d, %d for g", n, ng)
	}
	// Forever, until cleared.
	e.fake.InjectError("get_group_info", 10002, -1)
	for range 3 {
		wantCode(t, e.group(t, "get_group_info", `{"GroupIdList":["g"]}`), 10002)
	}
	e.fake.ClearInjections()
	mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["g"]}`))
	// Latency.
	e.fake.SetLatency(150 * time.Millisecond)
	start := time.Now()
	mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["g"]}`))
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v despite 150ms latency", d)
	}
}

func TestQPSLimit(t *testing.T) {
	e := newEnv(t, func(o *timfake.Options) { o.QPS = 3 })
	for i := range 3 {
		if a := e.group(t, "get_appid_group_list", `{}`); a.code() != 0 {
			t.Fatalf("call %d refused: %s", i, a.raw)
		}
	}
	wantCode(t, e.group(t, "get_appid_group_list", `{}`), timfake.CodeRESTOverLimit)
	e.clock.Advance(time.Second)
	mustOK(t, e.group(t, "get_appid_group_list", `{}`))
}
