package timfake_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// wantRefused fails unless the answer is 10004 with an ErrorInfo naming field.
func wantRefused(t *testing.T, a answer, field string) {
	t.Helper()
	wantCode(t, a, timfake.CodeInvalidParam)
	if info, _ := a.m["ErrorInfo"].(string); !strings.Contains(info, field) {
		t.Errorf("ErrorInfo %q does not name %s", info, field)
	}
}

// appData is an AppDefinedData JSON array of n fields k0..k(n-1).
func appData(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"Key":"k%d","Value":"v"}`, i)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestSettingRulesAtCreate(t *testing.T) {
	e := newEnv(t, nil)
	long := strings.Repeat("v", 513)
	tests := []struct {
		name, typ, extra, field string
	}{
		{"ApplyJoinOption on Private", "Private", `"ApplyJoinOption":"FreeAccess"`, "ApplyJoinOption"},
		{"ApplyJoinOption on AVChatRoom", "AVChatRoom", `"ApplyJoinOption":"FreeAccess"`, "ApplyJoinOption"},
		{"ApplyJoinOption invalid", "Public", `"ApplyJoinOption":"Maybe"`, "ApplyJoinOption"},
		{"InviteJoinOption on AVChatRoom", "AVChatRoom", `"InviteJoinOption":"FreeAccess"`, "InviteJoinOption"},
		{"InviteJoinOption on Community", "Community", `"InviteJoinOption":"NeedPermission"`, "InviteJoinOption"},
		{"InviteJoinOption invalid", "Public", `"InviteJoinOption":"DisableApply"`, "InviteJoinOption"},
		{"SupportTopic on Public", "Public", `"SupportTopic":1`, "SupportTopic"},
		{"SupportTopic on Private", "Private", `"SupportTopic":1`, "SupportTopic"},
		{"SupportTopic on ChatRoom", "ChatRoom", `"SupportTopic":1`, "SupportTopic"},
		{"SupportTopic on AVChatRoom", "AVChatRoom", `"SupportTopic":1`, "SupportTopic"},
		{"SupportTopic neither 0 nor 1", "Community", `"SupportTopic":2`, "SupportTopic"},
		{"MaxMemberCount on AVChatRoom", "AVChatRoom", `"MaxMemberCount":100`, "MaxMemberCount"},
		{"MaxMemberCount 0", "Public", `"MaxMemberCount":0`, "MaxMemberCount"},
		{"MaxMemberCount over 6000 on Private", "Private", `"MaxMemberCount":6001`, "MaxMemberCount"},
		{"MaxMemberCount over 6000 on Public", "Public", `"MaxMemberCount":6001`, "MaxMemberCount"},
		{"MaxMemberCount over 6000 on ChatRoom", "ChatRoom", `"MaxMemberCount":6001`, "MaxMemberCount"},
		{"MaxMemberCount over 100000 on Community", "Community", `"MaxMemberCount":100001`, "MaxMemberCount"},
		{"11 AppDefinedData fields", "Public", `"AppDefinedData":` + appData(11), "AppDefinedData"},
		{"AppDefinedData key of 17 characters", "Public", `"AppDefinedData":[{"Key":"` + strings.Repeat("k", 17) + `","Value":"v"}]`, "AppDefinedData"},
		{"AppDefinedData key starting with a digit", "Public", `"AppDefinedData":[{"Key":"1st","Value":"v"}]`, "AppDefinedData"},
		{"AppDefinedData key with a hyphen", "Public", `"AppDefinedData":[{"Key":"my-key","Value":"v"}]`, "AppDefinedData"},
		{"AppDefinedData key empty", "Public", `"AppDefinedData":[{"Key":"","Value":"v"}]`, "AppDefinedData"},
		{"AppDefinedData value of 513 bytes", "Public", `"AppDefinedData":[{"Key":"k","Value":"` + long + `"}]`, "AppDefinedData"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRefused(t, e.group(t, "create_group", `{"Owner_Account":"o","Type":"`+tt.typ+`","Name":"n",`+tt.extra+`}`), tt.field)
		})
	}
	if ids := e.fake.Groups(); len(ids) != 0 {
		t.Fatalf("refused creates left groups %v", ids)
	}

	// What each type does accept.
	ok := []struct {
		id, body string
		check    func(g timfake.GroupSnapshot) bool
	}{
		{"pub", `{"Type":"Public","GroupId":"pub","Name":"n","ApplyJoinOption":"DisableApply","InviteJoinOption":"NeedPermission","MaxMemberCount":6000,"SupportTopic":0}`,
			func(g timfake.GroupSnapshot) bool {
				return g.ApplyJoinOption == "DisableApply" && g.InviteJoinOption == "NeedPermission" && g.MaxMemberNum == 6000 && !g.SupportTopic && g.MuteAllMember == "Off"
			}},
		{"room", `{"Type":"ChatRoom","GroupId":"room","Name":"n","ApplyJoinOption":"NeedPermission","InviteJoinOption":"DisableInvite","MaxMemberCount":1}`,
			func(g timfake.GroupSnapshot) bool {
				return g.ApplyJoinOption == "NeedPermission" && g.InviteJoinOption == "DisableInvite" && g.MaxMemberNum == 1
			}},
		// A Work group keeps its DisableApply default; invitations are its to set.
		{"work", `{"Type":"Private","GroupId":"work","Name":"n","InviteJoinOption":"DisableInvite"}`,
			func(g timfake.GroupSnapshot) bool {
				return g.ApplyJoinOption == "DisableApply" && g.InviteJoinOption == "DisableInvite" && g.MaxMemberNum == 200
			}},
		{"@TGS#_topics", `{"Type":"Community","GroupId":"@TGS#_topics","Name":"n","ApplyJoinOption":"NeedPermission","MaxMemberCount":100000,"SupportTopic":1}`,
			func(g timfake.GroupSnapshot) bool {
				return g.ApplyJoinOption == "NeedPermission" && g.MaxMemberNum == 100000 && g.SupportTopic
			}},
		{"live", `{"Type":"AVChatRoom","GroupId":"live","Name":"n"}`,
			func(g timfake.GroupSnapshot) bool {
				return g.MaxMemberNum == 0 && g.ApplyJoinOption == "FreeAccess" && !g.SupportTopic
			}},
		{"data", `{"Type":"Public","GroupId":"data","Name":"n","AppDefinedData":[` +
			`{"Key":"` + strings.Repeat("K", 16) + `","Value":"` + strings.Repeat("v", 512) + `"},{"Key":"_under","Value":""},{"Key":"a1_B2","Value":"x"}]}`,
			func(g timfake.GroupSnapshot) bool {
				return len(g.AppDefinedData) == 3 && len(g.AppDefinedData[strings.Repeat("K", 16)]) == 512 && g.AppDefinedData["a1_B2"] == "x"
			}},
		{"ten", `{"Type":"Public","GroupId":"ten","Name":"n","AppDefinedData":` + appData(10) + `}`,
			func(g timfake.GroupSnapshot) bool { return len(g.AppDefinedData) == 10 }},
	}
	for _, c := range ok {
		mustOK(t, e.group(t, "create_group", c.body))
		if g, found := e.fake.Group(c.id); !found || !c.check(g) {
			t.Errorf("%s after create: %+v", c.id, g)
		}
	}
}

func TestSettingRulesAtModify(t *testing.T) {
	e := newEnv(t, nil)
	for _, body := range []string{
		`{"Owner_Account":"o","Type":"Private","GroupId":"work","Name":"n","MemberList":[{"Member_Account":"m"}]}`,
		`{"Owner_Account":"o","Type":"Public","GroupId":"pub","Name":"n","MemberList":[{"Member_Account":"m1"},{"Member_Account":"m2"},{"Member_Account":"m3"}],"AppDefinedData":` + appData(9) + `}`,
		`{"Owner_Account":"o","Type":"ChatRoom","GroupId":"room","Name":"n"}`,
		`{"Owner_Account":"o","Type":"AVChatRoom","GroupId":"live","Name":"n"}`,
		`{"Owner_Account":"o","Type":"Community","GroupId":"@TGS#_c","Name":"n"}`,
	} {
		mustOK(t, e.group(t, "create_group", body))
	}
	snapshots := func() map[string]timfake.GroupSnapshot {
		m := map[string]timfake.GroupSnapshot{}
		for _, id := range e.fake.Groups() {
			m[id], _ = e.fake.Group(id)
		}
		return m
	}
	before := snapshots()
	tests := []struct {
		name, group, extra, field string
	}{
		{"ApplyJoinOption on Private", "work", `"ApplyJoinOption":"FreeAccess"`, "ApplyJoinOption"},
		{"ApplyJoinOption on AVChatRoom", "live", `"ApplyJoinOption":"NeedPermission"`, "ApplyJoinOption"},
		{"ApplyJoinOption invalid", "pub", `"ApplyJoinOption":"Maybe"`, "ApplyJoinOption"},
		{"InviteJoinOption on AVChatRoom", "live", `"InviteJoinOption":"FreeAccess"`, "InviteJoinOption"},
		{"InviteJoinOption on Community", "@TGS#_c", `"InviteJoinOption":"DisableInvite"`, "InviteJoinOption"},
		{"InviteJoinOption invalid", "pub", `"InviteJoinOption":"Maybe"`, "InviteJoinOption"},
		{"MaxMemberNum on AVChatRoom", "live", `"MaxMemberNum":10`, "MaxMemberNum"},
		{"MaxMemberNum 0", "room", `"MaxMemberNum":0`, "MaxMemberNum"},
		{"MaxMemberNum over 6000 on Private", "work", `"MaxMemberNum":6001`, "MaxMemberNum"},
		{"MaxMemberNum over 6000 on Public", "pub", `"MaxMemberNum":6001`, "MaxMemberNum"},
		{"MaxMemberNum over 6000 on ChatRoom", "room", `"MaxMemberNum":6001`, "MaxMemberNum"},
		{"MaxMemberNum over 100000 on Community", "@TGS#_c", `"MaxMemberNum":100001`, "MaxMemberNum"},
		{"MaxMemberNum below the member count", "pub", `"MaxMemberNum":3`, "MaxMemberNum"},
		{"MuteAllMember lower case", "pub", `"MuteAllMember":"on"`, "MuteAllMember"},
		{"MuteAllMember on AVChatRoom, invalid", "live", `"MuteAllMember":"true"`, "MuteAllMember"},
		{"AppDefinedData to 11 fields", "pub", `"AppDefinedData":[{"Key":"k0","Value":"new"},{"Key":"x9","Value":"v"},{"Key":"y9","Value":"v"}]`, "AppDefinedData"},
		{"AppDefinedData key starting with a digit", "pub", `"AppDefinedData":[{"Key":"9lives","Value":"v"}]`, "AppDefinedData"},
		{"AppDefinedData key of 17 characters", "pub", `"AppDefinedData":[{"Key":"` + strings.Repeat("k", 17) + `","Value":"v"}]`, "AppDefinedData"},
		{"AppDefinedData value of 513 bytes", "pub", `"AppDefinedData":[{"Key":"k0","Value":"` + strings.Repeat("v", 513) + `"}]`, "AppDefinedData"},
		// A valid field does not carry an invalid one through.
		{"valid name with an invalid setting", "work", `"Name":"renamed","ApplyJoinOption":"DisableApply"`, "ApplyJoinOption"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantRefused(t, e.group(t, "modify_group_base_info", `{"GroupId":"`+tt.group+`",`+tt.extra+`}`), tt.field)
		})
	}
	if after := snapshots(); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused modifies changed state:\nbefore %+v\nafter  %+v", before, after)
	}

	// What each type does accept.
	for _, body := range []string{
		`{"GroupId":"pub","ApplyJoinOption":"DisableApply","InviteJoinOption":"DisableInvite","MuteAllMember":"On","MaxMemberNum":4,"AppDefinedData":[{"Key":"k0","Value":""},{"Key":"k9","Value":"v9"}]}`,
		`{"GroupId":"work","InviteJoinOption":"NeedPermission","MuteAllMember":"On","MaxMemberNum":6000}`,
		`{"GroupId":"room","ApplyJoinOption":"NeedPermission","InviteJoinOption":"DisableInvite","MaxMemberNum":1}`,
		`{"GroupId":"live","MuteAllMember":"On"}`,
		`{"GroupId":"@TGS#_c","ApplyJoinOption":"NeedPermission","MuteAllMember":"On","MaxMemberNum":100000}`,
	} {
		mustOK(t, e.group(t, "modify_group_base_info", body))
	}
	got := snapshots()
	type settings struct {
		apply, invite, mute string
		max                 uint32
	}
	want := map[string]settings{
		"pub":     {"DisableApply", "DisableInvite", "On", 4},
		"work":    {"DisableApply", "NeedPermission", "On", 6000},
		"room":    {"NeedPermission", "DisableInvite", "Off", 1},
		"live":    {"FreeAccess", "FreeAccess", "On", 0},
		"@TGS#_c": {"NeedPermission", "FreeAccess", "On", 100000},
	}
	for id, w := range want {
		g := got[id]
		if s := (settings{g.ApplyJoinOption, g.InviteJoinOption, g.MuteAllMember, g.MaxMemberNum}); s != w {
			t.Errorf("%s settings %+v, want %+v", id, s, w)
		}
	}
	// AppDefinedData was upserted: k0 emptied but kept, k9 added.
	if d := got["pub"].AppDefinedData; len(d) != 10 || d["k0"] != "" || d["k9"] != "v9" || d["k1"] != "v" {
		t.Errorf("pub AppDefinedData %v", d)
	}
	if _, kept := got["pub"].AppDefinedData["k0"]; !kept {
		t.Error("an empty value deleted AppDefinedData k0")
	}
	// The stored settings take effect: no invitations into pub now.
	if err := e.fake.User("o", timfake.PlatformIOS).Invite("pub", "newcomer"); code(err) != timfake.CodeNoPermission {
		t.Errorf("invite with DisableInvite: %v", err)
	}
}

// newTimClient is the production client against the fake, over HTTP.
func newTimClient(t *testing.T, e *env) *tim.Client {
	t.Helper()
	c, err := tim.New(tim.Config{Endpoint: e.ts.URL, SDKAppID: appID, AdminIdentifier: admin, SecretKey: secret, QPS: 1000, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestInviteJoinOptionRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	c := newTimClient(t, e)
	ctx := t.Context()
	id, err := c.CreateGroup(ctx, tim.CreateGroupRequest{OwnerAccount: "o", Type: tim.GroupTypePublic, Name: "n", InviteJoinOption: "NeedPermission", ApplyJoinOption: "DisableApply"})
	if err != nil {
		t.Fatal(err)
	}
	read := func(filter *tim.ResponseFilter) tim.GroupInfo {
		t.Helper()
		res, err := c.GetGroupInfoFiltered(ctx, []string{id}, filter)
		if err != nil || len(res) != 1 || res[0].Err != nil {
			t.Fatalf("get_group_info: %v %+v", err, res)
		}
		return res[0].GroupInfo
	}
	if g := read(nil); g.InviteJoinOption != "NeedPermission" || g.ApplyJoinOption != "DisableApply" || g.MuteAllMember != "Off" {
		t.Errorf("full output: %+v", g)
	}
	if g := read(&tim.ResponseFilter{GroupBaseInfoFilter: []string{"InviteJoinOption"}}); g.InviteJoinOption != "NeedPermission" || g.Name != "" || g.ApplyJoinOption != "" {
		t.Errorf("filtered on InviteJoinOption: %+v", g)
	}
	if g := read(&tim.ResponseFilter{GroupBaseInfoFilter: []string{"Name"}}); g.InviteJoinOption != "" || g.Name != "n" {
		t.Errorf("filtered on Name: %+v", g)
	}
	if err := c.ModifyGroupBaseInfo(ctx, tim.ModifyGroupBaseInfoRequest{GroupID: id, InviteJoinOption: ptr("DisableInvite"), MuteAllMember: ptr("On")}); err != nil {
		t.Fatal(err)
	}
	if g := read(&tim.ResponseFilter{GroupBaseInfoFilter: []string{"InviteJoinOption", "MuteAllMember"}}); g.InviteJoinOption != "DisableInvite" || g.MuteAllMember != "On" {
		t.Errorf("after modify: %+v", g)
	}
	// The type rules reach the client as invalid input.
	_, err = c.CreateGroup(ctx, tim.CreateGroupRequest{Type: tim.GroupTypeCommunity, Name: "n", InviteJoinOption: "FreeAccess"})
	if !tim.IsInvalidInput(err) || !strings.Contains(err.Error(), "InviteJoinOption") {
		t.Errorf("InviteJoinOption on a Community: %v", err)
	}

	// On the wire: a filter that does not name it leaves the key out.
	a := mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["`+id+`"],"ResponseFilter":{"GroupBaseInfoFilter":["ApplyJoinOption"]}}`))
	if strings.Contains(string(a.raw), "InviteJoinOption") || !strings.Contains(string(a.raw), `"ApplyJoinOption":"DisableApply"`) {
		t.Errorf("filtered on ApplyJoinOption: %s", a.raw)
	}
}

func ptr[T any](v T) *T { return &v }

func TestAppDefinedDataFiltered(t *testing.T) {
	e := newEnv(t, nil)
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n","AppDefinedData":[{"Key":"Color","Value":"red"},{"Key":"Size","Value":"L"},{"Key":"Shape","Value":"round"}]}`))
	info := func(filter string) (map[string]any, []map[string]string) {
		t.Helper()
		body := `{"GroupIdList":["g"]}`
		if filter != "" {
			body = `{"GroupIdList":["g"],"ResponseFilter":` + filter + `}`
		}
		a := mustOK(t, e.group(t, "get_group_info", body))
		var resp struct {
			GroupInfo []map[string]json.RawMessage
		}
		if err := json.Unmarshal(a.raw, &resp); err != nil || len(resp.GroupInfo) != 1 {
			t.Fatalf("answer %s", a.raw)
		}
		fields := map[string]any{}
		var data []map[string]string
		for k, v := range resp.GroupInfo[0] {
			if k == "AppDefinedData" {
				if err := json.Unmarshal(v, &data); err != nil {
					t.Fatal(err)
				}
				continue
			}
			fields[k] = nil
		}
		return fields, data
	}
	// Never without being asked for by key.
	if _, data := info(""); data != nil {
		t.Errorf("AppDefinedData without a filter: %v", data)
	}
	if _, data := info(`{"GroupBaseInfoFilter":["Name"]}`); data != nil {
		t.Errorf("AppDefinedData with a base filter only: %v", data)
	}
	// Only the keys named, in the group's order; unknown keys are skipped.
	fields, data := info(`{"GroupBaseInfoFilter":["Name"],"AppDefinedDataFilter_Group":["Shape","Missing","Color"]}`)
	if want := []map[string]string{{"Key": "Color", "Value": "red"}, {"Key": "Shape", "Value": "round"}}; !reflect.DeepEqual(data, want) {
		t.Errorf("filtered AppDefinedData %v, want %v", data, want)
	}
	if keys := slices.Sorted(maps.Keys(fields)); !slices.Equal(keys, []string{"ErrorCode", "ErrorInfo", "GroupId", "Name"}) {
		t.Errorf("fields with a Name filter: %v", keys)
	}
	// An AppDefinedData filter alone leaves the base fields whole.
	fields, data = info(`{"AppDefinedDataFilter_Group":["Size"]}`)
	if !reflect.DeepEqual(data, []map[string]string{{"Key": "Size", "Value": "L"}}) {
		t.Errorf("AppDefinedData %v", data)
	}
	for _, k := range []string{"Name", "ApplyJoinOption", "InviteJoinOption", "MuteAllMember", "MaxMemberNum"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("%s missing with only an AppDefinedData filter", k)
		}
	}
	// Emptied, not deleted.
	mustOK(t, e.group(t, "modify_group_base_info", `{"GroupId":"g","AppDefinedData":[{"Key":"Color","Value":""}]}`))
	if _, data := info(`{"AppDefinedDataFilter_Group":["Color"]}`); !reflect.DeepEqual(data, []map[string]string{{"Key": "Color", "Value": ""}}) {
		t.Errorf("emptied Color: %v", data)
	}
}

func TestSettingsChangeSendsNoInfoCallback(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url() })
	mustOK(t, e.group(t, "create_group", `{"Owner_Account":"o","Type":"Public","GroupId":"g","Name":"n","MemberList":[{"Member_Account":"m"}],"AppDefinedData":[{"Key":"k","Value":"v"}]}`))
	onlyCallback(t, e, rcv)
	owner := e.fake.User("o", timfake.PlatformAndroid)

	// Settings alone, by the admin over REST and by users: state changes,
	// no callback.
	mustOK(t, e.group(t, "modify_group_base_info", `{"GroupId":"g","ApplyJoinOption":"DisableApply","InviteJoinOption":"NeedPermission","MaxMemberNum":100,"MuteAllMember":"On","AppDefinedData":[{"Key":"k","Value":"w"}]}`))
	if err := owner.SetMuteAll("g", false); err != nil {
		t.Fatal(err)
	}
	if err := owner.ModifyInfo("g", timfake.InfoChange{ApplyJoinOption: ptr("FreeAccess"), InviteJoinOption: ptr("DisableInvite"), AppDefinedData: map[string]string{"k": "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.Admin().ModifyInfo("g", timfake.InfoChange{MaxMemberNum: ptr(uint32(50)), MuteAllMember: ptr("On")}); err != nil {
		t.Fatal(err)
	}
	flush(t, e.fake)
	if got := rcv.all(); len(got) != 0 {
		t.Fatalf("settings-only changes sent %d callbacks: %s", len(got), got[0].body)
	}
	g, _ := e.fake.Group("g")
	if g.ApplyJoinOption != "FreeAccess" || g.InviteJoinOption != "DisableInvite" || g.MaxMemberNum != 50 || g.MuteAllMember != "On" || g.AppDefinedData["k"] != "x" {
		t.Fatalf("settings not applied: %+v", g)
	}

	// Mixed changes report only the profile fields.
	wantBody := func(r received, platform, operator, field, value string) {
		t.Helper()
		checkQuery(t, r, timfake.CmdAfterGroupInfoChanged, platform)
		var body map[string]any
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		keys := slices.Sorted(maps.Keys(body))
		want := slices.Sorted(slices.Values([]string{"CallbackCommand", "GroupId", "Type", "Operator_Account", "EventTime", field}))
		if !slices.Equal(keys, want) || body[field] != value || body["Operator_Account"] != operator {
			t.Errorf("callback %s, want only %s=%q besides the common fields", r.body, field, value)
		}
	}
	mustOK(t, e.group(t, "modify_group_base_info", `{"GroupId":"g","Name":"renamed","MuteAllMember":"Off","ApplyJoinOption":"NeedPermission","MaxMemberNum":60}`))
	wantBody(onlyCallback(t, e, rcv), timfake.PlatformRESTAPI, admin, "Name", "renamed")
	if err := owner.ModifyInfo("g", timfake.InfoChange{Introduction: ptr("intro"), InviteJoinOption: ptr("FreeAccess"), MuteAllMember: ptr("On")}); err != nil {
		t.Fatal(err)
	}
	wantBody(onlyCallback(t, e, rcv), timfake.PlatformAndroid, "o", "Introduction", "intro")
	// A refused mixed change sends nothing either.
	if err := owner.ModifyInfo("g", timfake.InfoChange{Notification: ptr("x"), MaxMemberNum: ptr(uint32(70))}); code(err) != timfake.CodeNoPermission {
		t.Fatalf("user changing MaxMemberNum: %v", err)
	}
	flush(t, e.fake)
	if got := rcv.all(); len(got) != 0 {
		t.Fatalf("refused change sent %d callbacks", len(got))
	}
}

func TestUserSettingPermissions(t *testing.T) {
	e := newEnv(t, nil)
	owner := e.fake.User("o", timfake.PlatformIOS)
	member := e.fake.User("m", timfake.PlatformWeb)
	pub, err := owner.CreateGroup(timfake.GroupSpec{Type: timfake.TypePublic, Name: "pub", Members: []string{"m"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"plain member mutes all", member.SetMuteAll(pub, true), timfake.CodeNoPermission},
		{"owner mutes all", owner.SetMuteAll(pub, true), 0},
		{"owner sets InviteJoinOption", owner.ModifyInfo(pub, timfake.InfoChange{InviteJoinOption: ptr("DisableInvite")}), 0},
		{"owner sets an invalid ApplyJoinOption", owner.ModifyInfo(pub, timfake.InfoChange{ApplyJoinOption: ptr("Never")}), timfake.CodeInvalidParam},
		{"owner sets MaxMemberNum", owner.ModifyInfo(pub, timfake.InfoChange{MaxMemberNum: ptr(uint32(10))}), timfake.CodeNoPermission},
		{"admin sets MaxMemberNum", e.fake.Admin().ModifyInfo(pub, timfake.InfoChange{MaxMemberNum: ptr(uint32(10))}), 0},
	}
	for _, tt := range tests {
		if got := code(tt.err); got != tt.want {
			t.Errorf("%s: code %d (%v), want %d", tt.name, got, tt.err, tt.want)
		}
	}
	if g, _ := e.fake.Group(pub); g.MuteAllMember != "On" || g.InviteJoinOption != "DisableInvite" || g.MaxMemberNum != 10 {
		t.Errorf("after the user changes: %+v", g)
	}
	// Muted: the plain member cannot send, and unmuting lets them.
	if _, err := member.SendText(pub, "hi"); code(err) != timfake.CodeMuted {
		t.Errorf("muted member sent: %v", err)
	}
	if err := owner.SetMuteAll(pub, false); err != nil {
		t.Fatal(err)
	}
	if _, err := member.SendText(pub, "hi"); err != nil {
		t.Errorf("unmuted member: %v", err)
	}
}
