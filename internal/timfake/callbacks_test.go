package timfake_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

const docGroup = "@TGS#2J4SZEAEL"

// onlyCallback flushes and returns the single callback received since the
// last reset.
func onlyCallback(t *testing.T, e *env, rcv *receiver) received {
	t.Helper()
	flush(t, e.fake)
	got := rcv.all()
	if len(got) != 1 {
		var cmds []string
		for _, g := range got {
			cmds = append(cmds, g.query.Get("CallbackCommand"))
		}
		t.Fatalf("%d callbacks %v, want 1", len(got), cmds)
	}
	rcv.reset()
	return got[0]
}

func checkQuery(t *testing.T, r received, command, platform string) {
	t.Helper()
	q := r.query
	if q.Get("SdkAppid") != strconv.Itoa(appID) || q.Get("CallbackCommand") != command ||
		q.Get("contenttype") != "json" || q.Get("OptPlatform") != platform || q.Get("ClientIP") == "" {
		t.Errorf("query %s", r.rawQuery)
	}
	// The documented order: SdkAppid, CallbackCommand, contenttype,
	// ClientIP, OptPlatform.
	if !strings.HasPrefix(r.rawQuery, "SdkAppid=") || strings.Index(r.rawQuery, "CallbackCommand=") > strings.Index(r.rawQuery, "contenttype=") ||
		strings.Index(r.rawQuery, "ClientIP=") > strings.Index(r.rawQuery, "OptPlatform=") {
		t.Errorf("query order %s", r.rawQuery)
	}
	var body struct{ CallbackCommand string }
	if err := json.Unmarshal(r.body, &body); err != nil || body.CallbackCommand != command {
		t.Errorf("body CallbackCommand %q, query %q", body.CallbackCommand, command)
	}
}

// TestCallbackGoldens replays each documented sample and compares the
// callback the fake sends with the golden made from the document.
func TestCallbackGoldens(t *testing.T) {
	newDocEnv := func(t *testing.T, adminID string, at time.Time) (*env, *receiver) {
		rcv := newReceiver(t)
		e := newEnv(t, func(o *timfake.Options) {
			o.AdminIdentifier = adminID
			o.NewGroupID = fixedID(docGroup)
			o.CallbackURL = rcv.url()
		})
		e.clock.t = at
		return e, rcv
	}
	// The sample group: owner leckie, members bob and peter.
	create := func(t *testing.T, e *env) {
		mustOK(t, e.group(t, "create_group", `{"Owner_Account":"leckie","Type":"Public","Name":"MyFirstGroup",`+
			`"MemberList":[{"Member_Account":"bob"},{"Member_Account":"peter"}],`+
			`"AppDefinedData":[{"Key":"UserDefined1","Value":"hello"},{"Key":"UserDefined2","Value":"world"}]}`))
	}
	golden := func(cmd string) []string { return []string{"callbacks", cmd + ".json"} }

	t.Run("AfterCreateGroup", func(t *testing.T) {
		e, rcv := newDocEnv(t, "group_root", docTime)
		create(t, e)
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterCreateGroup, "RESTAPI")
		wantGolden(t, r.body, golden(timfake.CmdAfterCreateGroup)...)
	})
	t.Run("AfterGroupInfoChanged", func(t *testing.T) {
		e, rcv := newDocEnv(t, admin, docTime)
		create(t, e)
		onlyCallback(t, e, rcv)
		if err := e.fake.User("leckie", timfake.PlatformIOS).SetNotification(docGroup, "NewNotification"); err != nil {
			t.Fatal(err)
		}
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterGroupInfoChanged, "iOS")
		wantGolden(t, r.body, golden(timfake.CmdAfterGroupInfoChanged)...)
	})
	t.Run("AfterGroupAttrChanged", func(t *testing.T) {
		e, rcv := newDocEnv(t, admin, docTime)
		create(t, e)
		onlyCallback(t, e, rcv)
		if err := e.fake.User("leckie", timfake.PlatformAndroid).SetAttrs(docGroup, map[string]string{"key1": "value1", "key2": "values"}); err != nil {
			t.Fatal(err)
		}
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterGroupAttrChanged, "Android")
		wantGolden(t, r.body, golden(timfake.CmdAfterGroupAttrChanged)...)
	})
	t.Run("AfterSendMsg", func(t *testing.T) {
		e, rcv := newDocEnv(t, "admin", time.UnixMilli(1490686222123))
		e.fake.SetCallbackURL("") // the first 122 messages need no callbacks
		create(t, e)
		for i := range 122 {
			mustOK(t, e.group(t, "send_group_msg", fmt.Sprintf(`{"GroupId":%q,"Random":%d,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}`, docGroup, i+1)))
		}
		e.fake.SetCallbackURL(rcv.url())
		mustOK(t, e.group(t, "send_group_msg", `{"GroupId":"@TGS#2J4SZEAEL","Random":123456,"From_Account":"jared","MsgOnlineOnlyFlag":1,`+
			`"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"red packet"}}]}`))
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterSendMsg, "RESTAPI")
		wantGolden(t, r.body, golden(timfake.CmdAfterSendMsg)...)
	})
	t.Run("AfterNewMemberJoin", func(t *testing.T) {
		e, rcv := newDocEnv(t, admin, docTime)
		create(t, e)
		onlyCallback(t, e, rcv)
		if err := e.fake.User("leckie", timfake.PlatformWeb).ApproveJoin(docGroup, "jared", "tommy"); err != nil {
			t.Fatal(err)
		}
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterNewMemberJoin, "Web")
		wantGolden(t, r.body, golden(timfake.CmdAfterNewMemberJoin)...)
	})
	t.Run("AfterMemberExit", func(t *testing.T) {
		e, rcv := newDocEnv(t, admin, docTime)
		create(t, e)
		jared := e.fake.User("jared", timfake.PlatformMac)
		if err := jared.Join(docGroup); err != nil {
			t.Fatal(err)
		}
		flush(t, e.fake)
		rcv.reset()
		if err := jared.Quit(docGroup); err != nil {
			t.Fatal(err)
		}
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterMemberExit, "Mac")
		wantGolden(t, r.body, golden(timfake.CmdAfterMemberExit)...)
	})
	t.Run("AfterChangeGroupOwner", func(t *testing.T) {
		e, rcv := newDocEnv(t, admin, docTime)
		create(t, e)
		onlyCallback(t, e, rcv)
		if err := e.fake.User("leckie", timfake.PlatformIOS).ChangeOwner(docGroup, "bob"); err != nil {
			t.Fatal(err)
		}
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterChangeGroupOwner, "iOS")
		wantGolden(t, r.body, golden(timfake.CmdAfterChangeGroupOwner)...)
		g, _ := e.fake.Group(docGroup)
		if g.Owner != "bob" || g.Members[0].Role != "Member" || g.Members[1].Role != "Owner" {
			t.Errorf("roles after transfer: %+v", g.Members)
		}
	})
	t.Run("AfterGroupDestroyed", func(t *testing.T) {
		e, rcv := newDocEnv(t, admin, docTime)
		create(t, e)
		onlyCallback(t, e, rcv)
		mustOK(t, e.group(t, "destroy_group", `{"GroupId":"@TGS#2J4SZEAEL"}`))
		r := onlyCallback(t, e, rcv)
		checkQuery(t, r, timfake.CmdAfterGroupDestroyed, "RESTAPI")
		wantGolden(t, r.body, golden(timfake.CmdAfterGroupDestroyed)...)
	})
}

func TestCallbackBodiesForOtherCases(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.EventTimeNumeric = true })
	mustOK(t, e.group(t, "create_group", `{"Owner_Account":"o","Type":"Community","GroupId":"@TGS#_c","Name":"n"}`))
	r := onlyCallback(t, e, rcv)
	// EventTime as a number when asked; empty MemberList is [] not null;
	// no UserDefinedDataList without AppDefinedData.
	want := `{"CallbackCommand":"Group.CallbackAfterCreateGroup","GroupId":"@TGS#_c","Operator_Account":"administrator","Owner_Account":"o","Type":"Community","Name":"n","MemberList":[],"EventTime":1670574414123}`
	if string(r.body) != want {
		t.Errorf("got  %s\nwant %s", r.body, want)
	}
	// Community destroy has no MemberList.
	mustOK(t, e.group(t, "destroy_group", `{"GroupId":"@TGS#_c"}`))
	r = onlyCallback(t, e, rcv)
	if strings.Contains(string(r.body), "MemberList") {
		t.Errorf("Community destroy callback has a MemberList: %s", r.body)
	}
	// Attribute option types and entries.
	mustOK(t, e.group(t, "create_group", `{"Owner_Account":"o","Type":"Public","GroupId":"g","Name":"n"}`))
	onlyCallback(t, e, rcv)
	steps := []struct{ cmd, body, want string }{
		{"modify_group_attr", `{"GroupId":"g","GroupAttr":[{"key":"a","value":"1"},{"key":"b","value":""}]}`, `"OptionType":"modify","GroupAttr":[{"key":"a","value":"1"},{"key":"b","value":""}]`},
		{"delete_group_attr", `{"GroupId":"g","GroupAttr":[{"key":"a"}]}`, `"OptionType":"delete","GroupAttr":[{"key":"a"}]`},
		{"clear_group_attr", `{"GroupId":"g"}`, `"OptionType":"clear","GroupAttr":[]`},
		{"set_group_attr", `{"GroupId":"g","GroupAttr":[{"key":"z","value":"26"}]}`, `"OptionType":"set","GroupAttr":[{"key":"z","value":"26"}]`},
	}
	for _, s := range steps {
		mustOK(t, e.group(t, s.cmd, s.body))
		r := onlyCallback(t, e, rcv)
		if !strings.Contains(string(r.body), `"Operator_Account":"administrator",`+s.want+`,"EventTime":1670574414123}`) {
			t.Errorf("%s: %s", s.cmd, r.body)
		}
	}
	// A refused change sends nothing.
	wantCode(t, e.group(t, "modify_group_attr", `{"GroupId":"g","GroupAttr":[{"key":"`+strings.Repeat("k", 33)+`","value":"v"}]}`), timfake.CodeAttrKeyTooLong)
	// ForbidAfterSendMsgCallback suppresses the message callback;
	// CloudCustomData is carried.
	mustOK(t, e.group(t, "send_group_msg", `{"GroupId":"g","Random":1,"ForbidCallbackControl":["ForbidAfterSendMsgCallback"],"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"x"}}]}`))
	mustOK(t, e.group(t, "send_group_msg", `{"GroupId":"g","Random":2,"CloudCustomData":"ccd","MsgBody":[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"d"}}]}`))
	r = onlyCallback(t, e, rcv)
	if !strings.Contains(string(r.body), `"From_Account":"administrator","Operator_Account":"administrator","Random":2,"MsgSeq":2,`) ||
		!strings.Contains(string(r.body), `"OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMCustomElem","MsgContent":{"Data":"d"}}],"CloudCustomData":"ccd"`) {
		t.Errorf("send callback: %s", r.body)
	}
}

func TestCallbackSign(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url() + "?existing=1"; o.CallbackToken = "xxxxyyyy" })
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n"}`))
	r := onlyCallback(t, e, rcv)
	q := r.query
	if q.Get("existing") != "1" || !strings.HasPrefix(r.rawQuery, "existing=1&SdkAppid=") {
		t.Errorf("configured query not kept: %s", r.rawQuery)
	}
	if q.Get("RequestTime") != "1670574414" {
		t.Errorf("RequestTime %q, want Unix seconds of the fake clock", q.Get("RequestTime"))
	}
	if err := callbacksign.Check("xxxxyyyy", q.Get("Sign"), q.Get("RequestTime"), e.clock.Now(), time.Minute); err != nil {
		t.Errorf("Sign does not verify: %v (%s)", err, r.rawQuery)
	}
	if q.Get("Sign") != callbacksign.Sign("xxxxyyyy", "1670574414") {
		t.Errorf("Sign %s", q.Get("Sign"))
	}

	rcv2 := newReceiver(t)
	e2 := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv2.url() })
	mustOK(t, e2.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n"}`))
	r = onlyCallback(t, e2, rcv2)
	if r.query.Has("Sign") || r.query.Has("RequestTime") {
		t.Errorf("Sign without a token: %s", r.rawQuery)
	}
}

// Callbacks of one group arrive in the order of the changes, even with
// several workers and many groups interleaved.
func TestCallbackOrderPerGroup(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.CallbackWorkers = 4 })
	admin := e.fake.Admin()
	const groups, msgs = 8, 40
	for g := range groups {
		if _, err := admin.CreateGroup(timfake.GroupSpec{Type: timfake.TypePublic, GroupID: fmt.Sprintf("g%d", g), Name: "n", Owner: "o"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range msgs {
		for g := range groups {
			if _, err := e.fake.User("o", timfake.PlatformIOS).SendText(fmt.Sprintf("g%d", g), fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	flush(t, e.fake)
	last := map[string]int{}
	count := 0
	for _, r := range rcv.all() {
		var b struct {
			GroupId string
			MsgSeq  int
		}
		_ = json.Unmarshal(r.body, &b)
		if r.query.Get("CallbackCommand") != timfake.CmdAfterSendMsg {
			continue
		}
		count++
		if b.MsgSeq != last[b.GroupId]+1 {
			t.Fatalf("group %s: seq %d after %d", b.GroupId, b.MsgSeq, last[b.GroupId])
		}
		last[b.GroupId] = b.MsgSeq
	}
	if count != groups*msgs {
		t.Fatalf("%d message callbacks, want %d", count, groups*msgs)
	}
	st := e.fake.CallbackStats()
	if st.Delivered != groups*(msgs+1) || st.Failed != 0 || st.Enqueued != st.Delivered {
		t.Fatalf("stats %+v", st)
	}
}

func sendN(t *testing.T, e *env, group string, n int) {
	t.Helper()
	u := e.fake.User("o", timfake.PlatformWeb)
	for i := range n {
		if _, err := u.SendText(group, fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func seqs(rcv *receiver) []int {
	var out []int
	for _, r := range rcv.all() {
		var b struct{ MsgSeq int }
		_ = json.Unmarshal(r.body, &b)
		out = append(out, b.MsgSeq)
	}
	return out
}

func TestCallbackFaults(t *testing.T) {
	setup := func(t *testing.T, seed uint64) (*env, *receiver) {
		rcv := newReceiver(t)
		e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.Seed = seed; o.CallbackWorkers = 1 })
		if _, err := e.fake.Admin().CreateGroup(timfake.GroupSpec{Type: timfake.TypePublic, GroupID: "g", Name: "n", Owner: "o"}); err != nil {
			t.Fatal(err)
		}
		flush(t, e.fake)
		rcv.reset()
		return e, rcv
	}
	t.Run("drop all", func(t *testing.T) {
		e, rcv := setup(t, 1)
		e.fake.SetCallbackFaults(timfake.Faults{Drop: 1})
		sendN(t, e, "g", 10)
		flush(t, e.fake)
		if n := len(rcv.all()); n != 0 {
			t.Fatalf("%d callbacks arrived", n)
		}
		if st := e.fake.CallbackStats(); st.Dropped != 10 || st.Delivered != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("drop some, reproducibly", func(t *testing.T) {
		run := func() []int {
			e, rcv := setup(t, 42)
			e.fake.SetCallbackFaults(timfake.Faults{Drop: 0.5})
			sendN(t, e, "g", 40)
			flush(t, e.fake)
			return seqs(rcv)
		}
		a, b := run(), run()
		if len(a) == 0 || len(a) == 40 || fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("runs with one seed differ or drop nothing/everything:\n%v\n%v", a, b)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		e, rcv := setup(t, 1)
		e.fake.SetCallbackFaults(timfake.Faults{Duplicate: 1})
		sendN(t, e, "g", 3)
		flush(t, e.fake)
		if got := fmt.Sprint(seqs(rcv)); got != "[1 1 2 2 3 3]" {
			t.Fatalf("seqs %s", got)
		}
		if st := e.fake.CallbackStats(); st.Duplicated != 3 || st.Delivered != 1+6 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("reorder", func(t *testing.T) {
		e, rcv := setup(t, 1)
		e.fake.SetCallbackFaults(timfake.Faults{Reorder: 1})
		// Queue everything before the worker starts on it, so every
		// held event has a successor.
		e.fake.SetCallbackFaults(timfake.Faults{Reorder: 1, Delay: 30 * time.Millisecond})
		sendN(t, e, "g", 4)
		flush(t, e.fake)
		if got := fmt.Sprint(seqs(rcv)); got != "[2 1 4 3]" {
			t.Fatalf("seqs %s, want pairs swapped", got)
		}
	})
	t.Run("delay", func(t *testing.T) {
		e, rcv := setup(t, 1)
		e.fake.SetCallbackFaults(timfake.Faults{Delay: 100 * time.Millisecond})
		start := time.Now()
		sendN(t, e, "g", 2)
		flush(t, e.fake)
		if d := time.Since(start); d < 200*time.Millisecond || len(rcv.all()) != 2 {
			t.Fatalf("2 delayed callbacks took %v, got %d", d, len(rcv.all()))
		}
	})
	t.Run("receiver failing", func(t *testing.T) {
		e, rcv := setup(t, 1)
		rcv.set(http.StatusInternalServerError, `{}`)
		sendN(t, e, "g", 2)
		rcv.set(http.StatusOK, `not json`)
		sendN(t, e, "g", 1)
		flush(t, e.fake)
		if st := e.fake.CallbackStats(); st.Failed != 3 || st.Delivered != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestCallbackRetries(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.CallbackRetries = 2 })
	rcv.set(http.StatusServiceUnavailable, `{}`)
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n"}`))
	flush(t, e.fake)
	if n := len(rcv.all()); n != 3 {
		t.Fatalf("%d attempts, want 1 + 2 retries", n)
	}
	if st := e.fake.CallbackStats(); st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCallbackQueueOverflow(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.CallbackWorkers = 1; o.CallbackQueue = 2 })
	e.fake.SetCallbackFaults(timfake.Faults{Delay: 200 * time.Millisecond})
	if _, err := e.fake.Admin().CreateGroup(timfake.GroupSpec{Type: timfake.TypePublic, GroupID: "g", Name: "n", Owner: "o"}); err != nil {
		t.Fatal(err)
	}
	// One in flight, two queued, the rest lost; users are not held back.
	start := time.Now()
	sendN(t, e, "g", 10)
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Fatalf("sending blocked for %v on a full callback queue", d)
	}
	flush(t, e.fake)
	st := e.fake.CallbackStats()
	if st.Overflowed == 0 || st.Enqueued+st.Overflowed != 11 || st.Delivered != st.Enqueued {
		t.Fatalf("stats %+v", st)
	}
}

func TestWaitCallbacksDeliveredHonoursContext(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url() })
	e.fake.SetCallbackFaults(timfake.Faults{Delay: time.Second})
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g","Name":"n"}`))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := e.fake.WaitCallbacksDelivered(ctx); err == nil {
		t.Fatal("returned before the delayed callback was delivered")
	}
	if err := e.fake.Flush(5 * time.Second); err != nil || len(rcv.all()) != 1 {
		t.Fatalf("flush: %v, %d delivered", err, len(rcv.all()))
	}
}
