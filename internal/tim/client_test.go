package tim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/internal/usersig"
)

var ctx = context.Background()

func ptr[T any](v T) *T { return &v }

// readRequest reads a REST request golden. The fake's testdata holds the one
// set: the fake's tests send the same bodies, so the client and the fake
// cannot drift apart on a field name.
func readRequest(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "timfake", "testdata", "rest", name+".request.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compactJSON(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return buf.String()
}

// sameJSON compares JSON documents as values (key order aside).
func sameJSON(t *testing.T, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got is not JSON: %s", got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("want is not JSON: %s", want)
	}
	return reflect.DeepEqual(g, w)
}

func wantBody(t *testing.T, h *harness, command, golden string) {
	t.Helper()
	r := h.last(t)
	if !strings.HasSuffix(r.path, "/"+command) {
		t.Fatalf("last request went to %s, want %s", r.path, command)
	}
	if want := readRequest(t, golden); !sameJSON(t, r.body, want) {
		t.Errorf("%s body\n got %s\nwant %s", command, r.body, compactJSON(t, want))
	}
}

// TestRequestBodiesMatchReference: each call sends exactly the documented
// sample body when given the sample's values, so every field name and its
// casing is the documented one.
func TestRequestBodiesMatchReference(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, nil)

	var cg CreateGroupRequest
	if err := json.Unmarshal(readRequest(t, "create_group"), &cg); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateGroup(ctx, cg); err != nil {
		t.Fatal(err)
	}
	wantBody(t, h, "create_group", "create_group")

	var gi struct {
		GroupIDList    []string        `json:"GroupIdList"`
		ResponseFilter *ResponseFilter `json:"ResponseFilter"`
	}
	if err := json.Unmarshal(readRequest(t, "get_group_info"), &gi); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetGroupInfoFiltered(ctx, gi.GroupIDList, gi.ResponseFilter); err != nil {
		t.Fatal(err)
	}
	wantBody(t, h, "get_group_info", "get_group_info")

	var mb ModifyGroupBaseInfoRequest
	if err := json.Unmarshal(readRequest(t, "modify_group_base_info"), &mb); err != nil {
		t.Fatal(err)
	}
	_ = c.ModifyGroupBaseInfo(ctx, mb) // the group does not exist; the body is what counts
	wantBody(t, h, "modify_group_base_info", "modify_group_base_info")

	_, _ = c.GetAppIDGroupList(ctx, 1000, 0, "Public")
	wantBody(t, h, "get_appid_group_list", "get_appid_group_list")

	var ma struct {
		GroupID   string `json:"GroupId"`
		GroupAttr []Attr
	}
	if err := json.Unmarshal(readRequest(t, "modify_group_attr"), &ma); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{}
	for _, a := range ma.GroupAttr {
		attrs[a.Key] = a.Value
	}
	_ = c.ModifyGroupAttr(ctx, ma.GroupID, attrs)
	wantBody(t, h, "modify_group_attr", "modify_group_attr")

	var da struct {
		GroupID   string `json:"GroupId"`
		GroupAttr []attrKey
	}
	if err := json.Unmarshal(readRequest(t, "delete_group_attr"), &da); err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for _, k := range da.GroupAttr {
		keys = append(keys, k.Key)
	}
	_ = c.DeleteGroupAttr(ctx, da.GroupID, keys)
	wantBody(t, h, "delete_group_attr", "delete_group_attr")

	var dg groupIDRequest
	if err := json.Unmarshal(readRequest(t, "destroy_group"), &dg); err != nil {
		t.Fatal(err)
	}
	_ = c.DestroyGroup(ctx, dg.GroupID)
	wantBody(t, h, "destroy_group", "destroy_group")

	// A body the samples do not show: set.
	_ = c.SetGroupAttr(ctx, "g", map[string]string{"b": "2", "a": "1"})
	if got := string(h.last(t).body); got != `{"GroupId":"g","GroupAttr":[{"key":"a","value":"1"},{"key":"b","value":"2"}]}` {
		t.Errorf("set_group_attr body %s", got)
	}
	// Only the fields that are set go out, and "" is a value.
	_ = c.ModifyGroupBaseInfo(ctx, ModifyGroupBaseInfoRequest{GroupID: "g", Introduction: ptr("")})
	if got := string(h.last(t).body); got != `{"GroupId":"g","Introduction":""}` {
		t.Errorf("partial modify body %s", got)
	}
}

// TestEnvelopeURL checks the query every call carries.
func TestEnvelopeURL(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, func(cfg *Config) { cfg.Endpoint = h.ts.URL + "/" })
	if _, err := c.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
		t.Fatal(err)
	}
	r := h.last(t)
	if r.path != "/v4/group_open_http_svc/get_appid_group_list" {
		t.Errorf("path %s", r.path)
	}
	if string(r.body) != `{"Next":0}` {
		t.Errorf("body %s", r.body)
	}
	names := []string{}
	for _, kv := range strings.Split(r.rawQuery, "&") {
		names = append(names, strings.SplitN(kv, "=", 2)[0])
	}
	if fmt.Sprint(names) != "[sdkappid identifier usersig random contenttype]" {
		t.Errorf("query parameters %v", names)
	}
	q, _ := url.ParseQuery(r.rawQuery)
	if q.Get("sdkappid") != "1400000000" || q.Get("identifier") != testAdmin || q.Get("contenttype") != "json" {
		t.Errorf("query %s", r.rawQuery)
	}
	if err := usersig.Verify(testAppID, testSecret, testAdmin, q.Get("usersig"), h.clock.Now()); err != nil {
		t.Errorf("usersig: %v", err)
	}
	// random varies per request.
	seen := map[string]bool{}
	for range 5 {
		_, _ = c.GetAppIDGroupList(ctx, 0, 0, "")
		q, _ := url.ParseQuery(h.last(t).rawQuery)
		seen[q.Get("random")] = true
	}
	if len(seen) < 4 {
		t.Errorf("random repeated: %v", seen)
	}
	// The get_group_attr service differs.
	_, _ = c.GetGroupAttr(ctx, "g")
	if p := h.last(t).path; p != "/v4/group_open_attr_http_svc/get_group_attr" {
		t.Errorf("get_group_attr path %s", p)
	}
}

func TestCallsAgainstFake(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, nil)

	id, err := c.CreateGroup(ctx, CreateGroupRequest{
		OwnerAccount: "leckie", Type: "Public", Name: "TestGroup", Introduction: "intro",
		Notification: "notice", FaceURL: "http://face", MaxMemberCount: 500, ApplyJoinOption: "FreeAccess",
		AppDefinedData: []KeyValue{{"GroupTestData1", "xxxxx"}},
		MemberList:     []NewMember{{Account: "bob", Role: "Admin"}, {Account: "peter"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(id, "@TGS#") {
		t.Fatalf("assigned id %q", id)
	}
	custom, err := c.CreateGroup(ctx, CreateGroupRequest{Type: "Private", GroupID: "custom-1", Name: "Work"})
	if err != nil || custom != "custom-1" {
		t.Fatalf("custom id: %q %v", custom, err)
	}
	if _, err := c.CreateGroup(ctx, CreateGroupRequest{Type: "Private", GroupID: "custom-1", Name: "Work"}); !IsAlreadyExists(err) {
		t.Fatalf("duplicate create: %v", err)
	}

	res, err := c.GetGroupInfo(ctx, []string{id, "missing", custom})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0].GroupID != id || res[1].GroupID != "missing" || res[2].GroupID != custom {
		t.Fatalf("results %+v", res)
	}
	g := res[0]
	if g.Err != nil || g.Type != "Public" || g.Name != "TestGroup" || g.Introduction != "intro" || g.Notification != "notice" ||
		g.FaceURL != "http://face" || g.OwnerAccount != "leckie" || g.CreateTime != 1700000000 || g.LastInfoTime != 1700000000 ||
		g.LastMsgTime != 0 || g.NextMsgSeq != 1 || g.MemberNum != 3 || g.MaxMemberNum != 500 || g.ApplyJoinOption != "FreeAccess" ||
		g.Appid != testAppID || g.MuteAllMember != "Off" {
		t.Errorf("group info %+v", g.GroupInfo)
	}
	if len(g.MemberList) != 3 || g.MemberList[0].Account != "leckie" || g.MemberList[0].Role != "Owner" ||
		g.MemberList[1].Account != "bob" || g.MemberList[1].Role != "Admin" || g.MemberList[1].JoinTime != 1700000000 {
		t.Errorf("members %+v", g.MemberList)
	}
	if len(g.AppDefinedData) != 0 {
		t.Errorf("AppDefinedData without a filter: %v", g.AppDefinedData)
	}
	if !IsNotFound(res[1].Err) || res[1].Name != "" {
		t.Errorf("missing group: %+v", res[1])
	}
	var te *Error
	if !errors.As(res[1].Err, &te) || te.Code != 10010 || te.Command != "group_open_http_svc/get_group_info" {
		t.Errorf("per-group error %#v", res[1].Err)
	}
	if res[2].Err != nil || res[2].Type != "Private" {
		t.Errorf("custom group %+v", res[2])
	}
	filtered, err := c.GetGroupInfoFiltered(ctx, []string{id}, &ResponseFilter{GroupBaseInfoFilter: []string{"Name"}, AppDefinedDataFilterGroup: []string{"GroupTestData1"}})
	if err != nil {
		t.Fatal(err)
	}
	if f := filtered[0]; f.Name != "TestGroup" || f.Type != "" || len(f.MemberList) != 0 || len(f.AppDefinedData) != 1 || f.AppDefinedData[0] != (KeyValue{"GroupTestData1", "xxxxx"}) {
		t.Errorf("filtered %+v", f.GroupInfo)
	}

	h.clock.Advance(time.Minute)
	if err := c.ModifyGroupBaseInfo(ctx, ModifyGroupBaseInfoRequest{GroupID: id, Name: ptr("Renamed"), Notification: ptr(""), MaxMemberNum: ptr(uint32(600))}); err != nil {
		t.Fatal(err)
	}
	snap, _ := h.fake.Group(id)
	if snap.Name != "Renamed" || snap.Notification != "" || snap.Introduction != "intro" || snap.MaxMemberNum != 600 {
		t.Errorf("after modify: %+v", snap)
	}
	if err := c.ModifyGroupBaseInfo(ctx, ModifyGroupBaseInfoRequest{GroupID: "missing", Name: ptr("x")}); !IsNotFound(err) {
		t.Errorf("modify missing: %v", err)
	}
	if err := c.ModifyGroupBaseInfo(ctx, ModifyGroupBaseInfoRequest{GroupID: id, Name: ptr(strings.Repeat("n", 101))}); !IsInvalidInput(err) {
		t.Errorf("modify with a long name: %v", err)
	}

	attrs, err := c.GetGroupAttr(ctx, id)
	if err != nil || attrs == nil || len(attrs) != 0 {
		t.Fatalf("empty attrs: %v %v", attrs, err)
	}
	if err := c.ModifyGroupAttr(ctx, id, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.ModifyGroupAttr(ctx, id, map[string]string{"b": "3"}); err != nil {
		t.Fatal(err)
	}
	if attrs, err := c.GetGroupAttr(ctx, id); err != nil || !reflect.DeepEqual(attrs, map[string]string{"a": "1", "b": "3"}) {
		t.Fatalf("after modify: %v %v", attrs, err)
	}
	if err := c.DeleteGroupAttr(ctx, id, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetGroupAttr(ctx, id, map[string]string{"x": "y", "z": ""}); err != nil {
		t.Fatal(err)
	}
	if attrs, err := c.GetGroupAttr(ctx, id); err != nil || !reflect.DeepEqual(attrs, map[string]string{"x": "y", "z": ""}) {
		t.Fatalf("after set: %v %v", attrs, err)
	}
	calls := h.fake.Calls("modify_group_attr") + h.fake.Calls("delete_group_attr")
	if c.ModifyGroupAttr(ctx, id, nil) != nil || c.DeleteGroupAttr(ctx, id, nil) != nil ||
		h.fake.Calls("modify_group_attr")+h.fake.Calls("delete_group_attr") != calls {
		t.Fatal("empty attribute writes must not call the backend")
	}
	if err := c.ModifyGroupAttr(ctx, id, map[string]string{strings.Repeat("k", 33): "v"}); !IsInvalidInput(err) {
		t.Fatalf("long key: %v", err)
	}
	h.clock.Advance(time.Second)
	if err := c.DeleteGroupAttr(ctx, id, []string{"x", "z"}); err != nil {
		t.Fatal(err)
	}
	if attrs, err := c.GetGroupAttr(ctx, id); err != nil || len(attrs) != 0 {
		t.Fatalf("after deleting all: %v %v", attrs, err)
	}
	if _, err := c.GetGroupAttr(ctx, "missing"); !IsNotFound(err) {
		t.Fatalf("attrs of a missing group: %v", err)
	}

	page, err := c.GetAppIDGroupList(ctx, 1, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if page.TotalCount != 2 || len(page.GroupIDList) != 1 || page.GroupIDList[0].GroupID != id || page.Next == 0 {
		t.Fatalf("page 1 %+v", page)
	}
	// Next is far above 2^53: it must survive as a uint64.
	if page.Next < 1<<53 {
		t.Fatalf("cursor %d unexpectedly small; the fake's cursors test 64-bit handling", page.Next)
	}
	page, err = c.GetAppIDGroupList(ctx, 1, page.Next, "")
	if err != nil || page.Next != 0 || fmt.Sprint(page.IDs()) != "[custom-1]" {
		t.Fatalf("page 2 %+v %v", page, err)
	}
	page, err = c.GetAppIDGroupList(ctx, 0, 0, "Private")
	if err != nil || page.TotalCount != 1 {
		t.Fatalf("private page %+v %v", page, err)
	}

	if err := c.DestroyGroup(ctx, custom); err != nil {
		t.Fatal(err)
	}
	if err := c.DestroyGroup(ctx, custom); !IsNotFound(err) {
		t.Fatalf("second destroy: %v", err)
	}
	if _, ok := h.fake.Group(custom); ok {
		t.Fatal("group survived destroy")
	}
}

// TestGetGroupInfoBatches: 120 IDs take exactly 3 calls of at most 50, and
// results keep the caller's order with per-group errors in place.
func TestGetGroupInfoBatches(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, nil)
	var ids []string
	for i := range 120 {
		id := fmt.Sprintf("g%03d", i)
		ids = append(ids, id)
		if i%7 == 3 {
			continue // left missing on purpose
		}
		if _, err := c.CreateGroup(ctx, CreateGroupRequest{Type: "Public", GroupID: id, Name: id}); err != nil {
			t.Fatal(err)
		}
	}
	h.fake.ResetCalls()
	before := len(h.requests())
	res, err := c.GetGroupInfo(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if n := h.fake.Calls("get_group_info"); n != 3 {
		t.Fatalf("%d get_group_info calls, want 3", n)
	}
	var sizes []int
	for _, r := range h.requests()[before:] {
		var b struct{ GroupIdList []string }
		_ = json.Unmarshal(r.body, &b)
		sizes = append(sizes, len(b.GroupIdList))
	}
	if fmt.Sprint(sizes) != "[50 50 20]" {
		t.Fatalf("batch sizes %v", sizes)
	}
	if len(res) != 120 {
		t.Fatalf("%d results", len(res))
	}
	for i, r := range res {
		missing := i%7 == 3
		if r.GroupID != ids[i] || (missing != IsNotFound(r.Err)) || (!missing && (r.Err != nil || r.Name != ids[i])) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if res, err := c.GetGroupInfo(ctx, nil); err != nil || len(res) != 0 || h.fake.Calls("get_group_info") != 3 {
		t.Fatalf("no ids must mean no call: %v %v", res, err)
	}
	// A failing batch fails the whole call.
	h.fake.InjectError("get_group_info", 10004, 1)
	if _, err := c.GetGroupInfo(ctx, ids); !IsInvalidInput(err) {
		t.Fatalf("failed batch: %v", err)
	}
}

// TestKeepAlive: sequential calls reuse one connection.
func TestKeepAlive(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, func(cfg *Config) { cfg.HTTPClient = nil }) // the default client
	for range 20 {
		if _, err := c.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	// Even error answers must leave the connection reusable.
	for range 5 {
		if err := c.DestroyGroup(ctx, "missing"); !IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if n := h.newConns.Load(); n != 1 {
		t.Fatalf("%d connections for 25 sequential calls, want 1", n)
	}
}

// GetAppIDGroupList: a cursor far above 2^32 (here just under 2^64, where a
// float64 would round it) comes back from the answer and goes out in the
// next request exactly; a Limit or GroupType the API would refuse is
// refused without spending a call on it (the API allows 1 call a second).
func TestGetAppIDGroupListCursorAndArguments(t *testing.T) {
	const base = ^uint64(0) - 1000
	h := newHarness(t, func(o *timfake.Options) { o.CursorBase = base })
	c := h.client(t, nil)
	for i := range 3 {
		if _, err := c.CreateGroup(ctx, CreateGroupRequest{Type: GroupTypePublic, GroupID: fmt.Sprintf("g%d", i), Name: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.GetAppIDGroupList(ctx, 2, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if page.Next != base+3 || fmt.Sprint(page.IDs()) != "[g0 g1]" {
		t.Fatalf("page 1: Next %d (want %d), IDs %v", page.Next, base+3, page.IDs())
	}
	page, err = c.GetAppIDGroupList(ctx, 2, page.Next, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(h.last(t).body), fmt.Sprintf(`"Next":%d`, base+3)) {
		t.Fatalf("cursor not sent exactly: %s", h.last(t).body)
	}
	if page.Next != 0 || fmt.Sprint(page.IDs()) != "[g2]" {
		t.Fatalf("page 2: %+v", page)
	}

	before := len(h.requests())
	if _, err := c.GetAppIDGroupList(ctx, MaxAppIDGroupListLimit+1, 0, ""); err == nil || !strings.Contains(err.Error(), "Limit 10001") {
		t.Fatalf("Limit above the maximum: %v", err)
	}
	if _, err := c.GetAppIDGroupList(ctx, 0, 0, "Work"); err == nil || !strings.Contains(err.Error(), `GroupType "Work"`) {
		t.Fatalf("console type name: %v", err)
	}
	if n := len(h.requests()); n != before {
		t.Fatalf("%d calls spent on arguments the API refuses", n-before)
	}
	if _, err := c.GetAppIDGroupList(ctx, MaxAppIDGroupListLimit, 0, GroupTypeCommunity); err != nil {
		t.Fatalf("the maximum Limit with a type: %v", err)
	}
}

// A rotated key takes effect on the next call, without a new client, and
// neither key ever shows in an error.
func TestSetSecretKeyRotatesWithoutRebuilding(t *testing.T) {
	const oldKey = "old-key-0123456789abcdef0123456789"
	h := newHarness(t, nil) // the backend knows only testSecret
	c := h.client(t, func(cfg *Config) { cfg.SecretKey = oldKey; cfg.MaxRetries = -1 })
	ctx := context.Background()

	_, err := c.GetGroupAttr(ctx, "none")
	if !IsCredentials(err) {
		t.Fatalf("a call signed with a key the backend does not know: got %v, want a credentials error", err)
	}
	if strings.Contains(err.Error(), oldKey) {
		t.Fatalf("the error shows the key: %v", err)
	}
	if err := c.SetSecretKey(testSecret); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetGroupAttr(ctx, "none"); IsCredentials(err) {
		t.Fatalf("after SetSecretKey the call still fails on credentials: %v", err)
	}
	for _, bad := range []string{"", " padded "} {
		if err := c.SetSecretKey(bad); err == nil {
			t.Errorf("SetSecretKey(%q) was accepted", bad)
		}
	}
}

// A secret key read from a file or a Secret loses the white space around
// it, which a key never has; what is left is what New and SetSecretKey take.
func TestSecretKeyFrom(t *testing.T) {
	for in, want := range map[string]string{
		"key":         "key",
		"key\n":       "key",
		" \tkey\r\n ": "key",
		"\n":          "",
	} {
		got := SecretKeyFrom([]byte(in))
		if got != want {
			t.Errorf("SecretKeyFrom(%q) = %q, want %q", in, got, want)
		}
		if got != "" {
			if _, err := New(Config{SDKAppID: 1, SecretKey: got}); err != nil {
				t.Errorf("New refuses what SecretKeyFrom gives: %v", err)
			}
		}
	}
}
