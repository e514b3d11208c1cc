package timfake_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

func code(err error) int {
	var e *timfake.Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return 0
	}
	return -1
}

func TestUserPermissions(t *testing.T) {
	e := newEnv(t, nil)
	owner := e.fake.User("owner", timfake.PlatformIOS)
	alice := e.fake.User("alice", timfake.PlatformAndroid)
	bob := e.fake.User("bob", timfake.PlatformWeb)
	pub, err := owner.CreateGroup(timfake.GroupSpec{Type: timfake.TypePublic, Name: "pub", Members: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	work, err := owner.CreateGroup(timfake.GroupSpec{Type: timfake.TypePrivate, GroupID: "work", Name: "work", Members: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"plain member renames a Public group", alice.SetName(pub, "x"), timfake.CodeNoPermission},
		{"plain member renames a Work group", alice.SetName(work, "x"), 0},
		{"outsider sends", sendErr(bob, pub), timfake.CodeNoPermission},
		{"outsider sets attributes", bob.ModifyAttrs(pub, map[string]string{"k": "v"}), timfake.CodeNoPermission},
		{"outsider joins a Work group", bob.Join(work), timfake.CodeNoPermission},
		{"outsider joins a Public group", bob.Join(pub), 0},
		{"member joins again", bob.Join(pub), timfake.CodeAlreadyMember},
		{"owner quits", owner.Quit(pub), timfake.CodeOwnerCannotQuit},
		{"member kicks", alice.Kick(pub, "bob"), timfake.CodeNoPermission},
		{"non-owner transfers", alice.ChangeOwner(pub, "alice"), timfake.CodeNoPermission},
		{"transfer to outsider", owner.ChangeOwner(pub, "carol"), timfake.CodeInvalidParam},
		{"owner disbands a Work group", owner.Destroy(work), timfake.CodeNoPermission},
		{"member disbands", alice.Destroy(pub), timfake.CodeNoPermission},
		{"owner kicks", owner.Kick(pub, "bob"), 0},
		{"member quits", alice.Quit(pub), 0},
		{"quit twice", alice.Quit(pub), timfake.CodeNoPermission},
		{"unknown group", alice.Join("nope"), timfake.CodeGroupNotFound},
	}
	for _, tt := range tests {
		if got := code(tt.err); got != tt.want {
			t.Errorf("%s: code %d (%v), want %d", tt.name, got, tt.err, tt.want)
		}
	}
	// Muted group: members cannot send, the owner can.
	mustOK(t, e.group(t, "modify_group_base_info", `{"GroupId":"`+pub+`","MuteAllMember":"On"}`))
	if err := bob.Join(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendText(pub, "hi"); code(err) != timfake.CodeMuted {
		t.Errorf("muted member sent: %v", err)
	}
	if _, err := owner.SendText(pub, "hi"); err != nil {
		t.Errorf("owner of a muted group: %v", err)
	}
	if err := owner.Destroy(pub); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.fake.Group(pub); ok {
		t.Fatal("destroyed group still there")
	}
}

func sendErr(u *timfake.User, group string) error {
	_, err := u.SendText(group, "x")
	return err
}

func TestUserCallbacksCarryPlatform(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url() })
	u := e.fake.User("zoe", timfake.PlatformIPad)
	id, err := u.CreateGroup(timfake.GroupSpec{Type: timfake.TypeChatRoom, Name: "room", AppDefinedData: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.SendText(id, "hello"); err != nil {
		t.Fatal(err)
	}
	flush(t, e.fake)
	got := rcv.all()
	if len(got) != 2 {
		t.Fatalf("%d callbacks", len(got))
	}
	for _, r := range got {
		if r.query.Get("OptPlatform") != "iPad" || r.query.Get("ClientIP") != u.ClientIP {
			t.Errorf("query %s", r.rawQuery)
		}
	}
	want := `{"CallbackCommand":"Group.CallbackAfterCreateGroup","GroupId":"` + id + `","Operator_Account":"zoe","Owner_Account":"zoe","Type":"ChatRoom","Name":"room","MemberList":[],"UserDefinedDataList":[{"Key":"k","Value":"v"}],"EventTime":"1670574414123"}`
	if string(got[0].body) != want {
		t.Errorf("create callback\n got %s\nwant %s", got[0].body, want)
	}
}

func TestSimulatorIsReproducible(t *testing.T) {
	run := func() (string, timfake.SimStats, []string) {
		e := newEnv(t, func(o *timfake.Options) { o.Seed = 7 })
		adm := e.fake.Admin()
		for i := range 3 {
			if _, err := adm.CreateGroup(timfake.GroupSpec{Type: timfake.TypePublic, GroupID: fmt.Sprintf("g%d", i), Name: "n", Owner: "user-000"}); err != nil {
				t.Fatal(err)
			}
		}
		sim, err := e.fake.NewSimulator(timfake.SimConfig{Seed: 99})
		if err != nil {
			t.Fatal(err)
		}
		var trace []string
		for range 300 {
			a, err := sim.Step()
			trace = append(trace, fmt.Sprintf("%s:%d", a, code(err)))
			e.clock.Advance(50 * time.Millisecond)
		}
		var state []string
		for _, id := range e.fake.Groups() {
			g, _ := e.fake.Group(id)
			state = append(state, fmt.Sprintf("%s seq=%d owner=%s members=%d name=%q attrs=%v", id, g.NextMsgSeq, g.Owner, len(g.Members), g.Name, g.Attributes))
		}
		return fmt.Sprint(trace), sim.Stats(), state
	}
	t1, s1, g1 := run()
	t2, s2, g2 := run()
	if t1 != t2 || fmt.Sprint(g1) != fmt.Sprint(g2) {
		t.Fatal("same seeds, different simulations")
	}
	if s1.Steps != 300 || s1.OK+s1.Failed != 300 || s1.OK < 250 || s2.Steps != 300 {
		t.Fatalf("stats %+v", s1)
	}
	// The mix covers the actions the operator cares about.
	for _, a := range []string{"send", "info", "attr", "join", "quit"} {
		if s1.ByAction[a] == 0 {
			t.Errorf("no %s in 300 steps: %v", a, s1.ByAction)
		}
	}
}

func TestSimulatorRun(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.Now = time.Now })
	if _, err := e.fake.Admin().CreateGroup(timfake.GroupSpec{Type: timfake.TypePublic, GroupID: "g", Name: "n", Owner: "user-001"}); err != nil {
		t.Fatal(err)
	}
	sim, err := e.fake.NewSimulator(timfake.SimConfig{Groups: []string{"g"}, Rate: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := sim.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats()
	// 200/s for 0.3 s, plus the initial burst: roughly 60, never hundreds.
	if st.Steps < 30 || st.Steps > 120 {
		t.Fatalf("%d steps in 300ms at 200/s", st.Steps)
	}
	flush(t, e.fake)
	if n := len(rcv.all()); n < int(st.OK) {
		t.Fatalf("%d callbacks for %d successful actions", n, st.OK)
	}
	if _, err := e.fake.NewSimulator(timfake.SimConfig{Weights: &timfake.Weights{}}); err == nil {
		t.Fatal("all-zero weights accepted")
	}
}
