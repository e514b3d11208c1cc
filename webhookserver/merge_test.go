package webhookserver

import (
	"maps"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

const gid = "@TGS#UNIT"

func msg(seq, at int64, from string) *AfterSendMsg {
	return &AfterSendMsg{Common: Common{GroupID: gid, EventTime: EventTime(at)}, MsgSeq: seq, MsgTime: 1_700_000_000 + seq, FromAccount: from}
}

func attrOp(op string, at int64, kv ...string) *AfterGroupAttrChanged {
	m := &AfterGroupAttrChanged{Common: Common{GroupID: gid, EventTime: EventTime(at)}, OptionType: op}
	for i := 0; i < len(kv); i += 2 {
		m.GroupAttr = append(m.GroupAttr, GroupAttr{Key: kv[i], Value: kv[i+1]})
	}
	return m
}

func info(at int64, name, notification *string) *AfterGroupInfoChanged {
	return &AfterGroupInfoChanged{Common: Common{GroupID: gid, EventTime: EventTime(at)}, Name: name, Notification: notification}
}

func ptr(s string) *string { return &s }

func eventTimeOf(cb Callback) int64 { return int64(cb.common().EventTime) }

// mergeAll folds callbacks into one update in order and applies it.
func mergeAll(st imv1alpha1.ChatGroupStatus, cbs ...Callback) imv1alpha1.ChatGroupStatus {
	u := newUpdate(time.Now())
	for _, cb := range cbs {
		u.add(cb, eventTimeOf(cb), "RESTAPI", time.Now())
	}
	out := *st.DeepCopy()
	u.apply(&out)
	return out
}

func TestMergeMessagesSeqOnlyGrows(t *testing.T) {
	for _, order := range [][]int64{{5, 3, 9, 7}, {9, 7, 5, 3}, {3, 5, 7, 9}} {
		var cbs []Callback
		for _, s := range order {
			cbs = append(cbs, msg(s, 0, "user"+string(rune('0'+s))))
		}
		st := mergeAll(imv1alpha1.ChatGroupStatus{}, cbs...)
		if st.LastMessageSeq != 9 || st.LastMessageFrom != "user9" || st.LastMessageTime.Unix() != 1_700_000_009 {
			t.Errorf("order %v: seq=%d from=%s time=%v, want 9/user9/1700000009", order, st.LastMessageSeq, st.LastMessageFrom, st.LastMessageTime)
		}
		// A later, lower seq in a separate flush does not regress it.
		st2 := mergeAll(st, msg(4, 0, "late"))
		if st2.LastMessageSeq != 9 || st2.LastMessageFrom != "user9" {
			t.Errorf("order %v: a lower seq regressed the status: %+v", order, st2)
		}
	}
}

func TestMergeAttributes(t *testing.T) {
	tests := []struct {
		name   string
		base   map[string]string
		baseAt int64
		ops    []Callback
		want   map[string]string
		wantAt int64 // eventTimes.attributes: the last whole-map replacement
	}{
		{"set replaces", map[string]string{"old": "x"}, 0,
			[]Callback{attrOp(AttrSet, 10, "a", "1", "b", "2")}, map[string]string{"a": "1", "b": "2"}, 10},
		{"set modify delete", nil, 0,
			[]Callback{attrOp(AttrSet, 10, "a", "1", "b", "2"), attrOp(AttrModify, 20, "b", "3", "c", "4"), attrOp(AttrDelete, 30, "a", "")},
			map[string]string{"b": "3", "c": "4"}, 10},
		{"modify upserts onto base", map[string]string{"a": "1"}, 5,
			[]Callback{attrOp(AttrModify, 10, "b", "2")}, map[string]string{"a": "1", "b": "2"}, 5},
		{"clear empties", map[string]string{"a": "1"}, 5,
			[]Callback{attrOp(AttrClear, 10)}, nil, 10},
		{"clear then modify", map[string]string{"a": "1"}, 5,
			[]Callback{attrOp(AttrClear, 10), attrOp(AttrModify, 11, "z", "9")}, map[string]string{"z": "9"}, 10},
		{"older op in pending dropped", nil, 0,
			[]Callback{attrOp(AttrSet, 20, "a", "1"), attrOp(AttrModify, 15, "b", "2")}, map[string]string{"a": "1"}, 20},
		{"equal time: the later arrival wins", nil, 0,
			[]Callback{attrOp(AttrSet, 20, "a", "1"), attrOp(AttrSet, 20, "b", "2")}, map[string]string{"b": "2"}, 20},
		{"equal to applied: applied", map[string]string{"a": "1"}, 50,
			[]Callback{attrOp(AttrModify, 50, "b", "2")}, map[string]string{"a": "1", "b": "2"}, 50},
		{"op older than applied dropped", map[string]string{"a": "1"}, 50,
			[]Callback{attrOp(AttrClear, 40)}, map[string]string{"a": "1"}, 50},
		{"only ops newer than applied land", map[string]string{"a": "1"}, 50,
			[]Callback{attrOp(AttrSet, 40, "x", "x"), attrOp(AttrModify, 60, "b", "2")}, map[string]string{"a": "1", "b": "2"}, 50},
		{"delete of a missing key", map[string]string{"a": "1"}, 0,
			[]Callback{attrOp(AttrDelete, 10, "nope", "")}, map[string]string{"a": "1"}, 0},
		// Per key: a late operation on one key is not dropped because a newer
		// one on another key landed first (callbacks arrive out of order).
		{"late op on another key lands", map[string]string{"a": "1"}, 0,
			[]Callback{attrOp(AttrModify, 20, "b", "2"), attrOp(AttrModify, 10, "a", "9")}, map[string]string{"a": "9", "b": "2"}, 0},
		{"late op on the same key dropped", nil, 0,
			[]Callback{attrOp(AttrModify, 20, "a", "new"), attrOp(AttrModify, 10, "a", "old")}, map[string]string{"a": "new"}, 0},
		{"late modify of a key deleted later dropped", map[string]string{"a": "1"}, 0,
			[]Callback{attrOp(AttrDelete, 20, "a", ""), attrOp(AttrModify, 10, "a", "9")}, nil, 0},
		{"late modify newer than a set lands on it", nil, 0,
			[]Callback{attrOp(AttrSet, 10, "a", "1"), attrOp(AttrModify, 30, "c", "3"), attrOp(AttrModify, 20, "b", "2")},
			map[string]string{"a": "1", "b": "2", "c": "3"}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := imv1alpha1.ChatGroupStatus{Attributes: tt.base}
			base.EventTimes.Attributes = tt.baseAt
			st := mergeAll(base, tt.ops...)
			if !maps.Equal(st.Attributes, tt.want) || st.EventTimes.Attributes != tt.wantAt {
				t.Errorf("got %v at %d, want %v at %d", st.Attributes, st.EventTimes.Attributes, tt.want, tt.wantAt)
			}
		})
	}
}

func TestMergeInfoLastWriterWins(t *testing.T) {
	base := imv1alpha1.ChatGroupStatus{Name: "applied", Notification: "before"}
	base.EventTimes.Name = 100
	tests := []struct {
		name     string
		ops      []Callback
		wantName string
		wantNote string
	}{
		{"newer wins", []Callback{info(200, ptr("new"), nil)}, "new", "before"},
		{"older than applied dropped", []Callback{info(50, ptr("old"), nil)}, "applied", "before"},
		{"equal to applied: later arrival wins", []Callback{info(100, ptr("same-time"), nil)}, "same-time", "before"},
		{"equal in pending: later arrival wins", []Callback{info(200, ptr("b1"), nil), info(200, ptr("b2"), nil)}, "b2", "before"},
		{"newest of pending wins", []Callback{info(300, ptr("c"), nil), info(200, ptr("b"), nil)}, "c", "before"},
		{"absent field untouched, empty applied", []Callback{info(200, nil, ptr(""))}, "applied", ""},
		{"empty string empties", []Callback{info(200, nil, ptr("n")), info(300, nil, ptr(""))}, "applied", ""},
		{"older empty dropped", []Callback{info(300, nil, ptr("n")), info(200, nil, ptr(""))}, "applied", "n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := mergeAll(base, tt.ops...)
			if st.Name != tt.wantName || st.Notification != tt.wantNote {
				t.Errorf("name=%q notification=%q, want %q %q", st.Name, st.Notification, tt.wantName, tt.wantNote)
			}
		})
	}
}

func TestMergeMembersCreateOwnerDestroyed(t *testing.T) {
	create := &AfterCreateGroup{Common: Common{GroupID: gid, Type: "Public", EventTime: 10},
		OwnerAccount: "leckie", Name: "G", MemberList: []Member{{"bob"}, {"peter"}, {"leckie"}},
		UserDefinedDataList: []KeyValue{{"k", "v"}}}
	join := &AfterNewMemberJoin{Common: Common{GroupID: gid, EventTime: 20}, NewMemberList: []Member{{"a"}, {"b"}}}
	exit := &AfterMemberExit{Common: Common{GroupID: gid, EventTime: 30}, ExitMemberList: []Member{{"a"}}}
	owner := &AfterChangeGroupOwner{Common: Common{GroupID: gid, EventTime: 40}, NewOwnerAccount: "bob"}
	staleOwner := &AfterChangeGroupOwner{Common: Common{GroupID: gid, EventTime: 35}, NewOwnerAccount: "stale"}
	st := mergeAll(imv1alpha1.ChatGroupStatus{}, create, join, exit, owner, staleOwner)
	if st.GroupID != gid || st.Type != imv1alpha1.GroupTypePublic || st.Name != "G" || st.Owner != "bob" ||
		st.MemberCount != 4 || !maps.Equal(st.AppDefinedData, map[string]string{"k": "v"}) {
		t.Fatalf("unexpected status %+v", st)
	}
	// Written in the opposite order (two replicas, each holding one of
	// them): the exits before the joins still sum to the truth. A count
	// held at zero on the way would lose the exits for good.
	exits := &AfterMemberExit{Common: Common{GroupID: gid, EventTime: 45}, ExitMemberList: []Member{{"x"}, {"y"}, {"z"}, {"w"}, {"v"}, {"u"}}}
	joins := &AfterNewMemberJoin{Common: Common{GroupID: gid, EventTime: 44}, NewMemberList: []Member{{"x"}, {"y"}, {"z"}, {"w"}, {"v"}, {"u"}}}
	if reordered := mergeAll(mergeAll(st, exits), joins); reordered.MemberCount != 4 {
		t.Fatalf("exits written before their joins: member count %d, want 4", reordered.MemberCount)
	}
	if st = mergeAll(st, &AfterGroupDestroyed{Common: Common{GroupID: gid, EventTime: 60}}); !st.Destroyed {
		t.Fatal("destroyed not set")
	}
}

// A duplicate of applied callbacks must change nothing, so the writer can
// skip the write.
func TestMergeDuplicateChangesNothing(t *testing.T) {
	cbs := []Callback{msg(7, 5, "x"), attrOp(AttrSet, 10, "a", "1"), info(20, ptr("n"), ptr("m"))}
	st := mergeAll(imv1alpha1.ChatGroupStatus{}, cbs...)
	again := mergeAll(st, cbs...)
	if !equalStatus(st, again) {
		t.Fatalf("duplicate changed status:\n%+v\n%+v", st, again)
	}
}

// absorb (used after a failed write) must equal merging the callbacks of
// both updates one by one, wherever the split falls.
func TestAbsorbEqualsSequentialMerge(t *testing.T) {
	cbs := []Callback{
		attrOp(AttrSet, 10, "a", "1", "b", "2"), msg(3, 0, "p"), info(12, ptr("n1"), nil),
		attrOp(AttrModify, 20, "b", "3"), attrOp(AttrModify, 15, "late", "x"), msg(9, 0, "q"),
		attrOp(AttrDelete, 30, "a", ""), attrOp(AttrClear, 40), info(11, ptr("old"), nil),
		attrOp(AttrModify, 50, "c", "5"), msg(8, 0, "r"),
		&AfterCreateGroup{Common: Common{GroupID: gid, EventTime: 12}, OwnerAccount: "o", MemberList: []Member{{"a"}, {"b"}}},
		&AfterNewMemberJoin{Common: Common{GroupID: gid, EventTime: 14}, NewMemberList: []Member{{"c"}}},
		&AfterGroupDestroyed{Common: Common{GroupID: gid, EventTime: 60}},
		&AfterCreateGroup{Common: Common{GroupID: gid, EventTime: 70}, OwnerAccount: "n", MemberList: []Member{{"z"}}},
		&AfterChangeGroupOwner{Common: Common{GroupID: gid, EventTime: 65}, NewOwnerAccount: "stale"},
	}
	base := imv1alpha1.ChatGroupStatus{Attributes: map[string]string{"base": "1"}}
	base.EventTimes.Attributes = 5
	want := mergeAll(base, cbs...)
	for split := 0; split <= len(cbs); split++ {
		u1, u2 := newUpdate(time.Now()), newUpdate(time.Now())
		for _, cb := range cbs[:split] {
			u1.add(cb, eventTimeOf(cb), "", time.Now())
		}
		for _, cb := range cbs[split:] {
			u2.add(cb, eventTimeOf(cb), "", time.Now())
		}
		u1.absorb(u2)
		got := *base.DeepCopy()
		u1.apply(&got)
		if !equalStatus(got, want) {
			t.Errorf("split %d: absorb gives %+v, sequential merge %+v", split, got, want)
		}
	}
}

func equalStatus(a, b imv1alpha1.ChatGroupStatus) bool {
	return a.LastMessageSeq == b.LastMessageSeq && a.LastMessageFrom == b.LastMessageFrom &&
		maps.Equal(a.Attributes, b.Attributes) && equality.Semantic.DeepEqual(a.EventTimes, b.EventTimes) &&
		a.Name == b.Name && a.Notification == b.Notification && a.Owner == b.Owner &&
		a.MemberCount == b.MemberCount && a.Destroyed == b.Destroyed
}

func TestArrivalStampsIncrease(t *testing.T) {
	var h handler
	now := time.UnixMilli(1_000)
	a, b := h.arrivalStamp(now), h.arrivalStamp(now)
	if a != 1_000 || b != 1_001 {
		t.Fatalf("stamps %d, %d: want 1000, 1001", a, b)
	}
	if c := h.arrivalStamp(time.UnixMilli(5_000)); c != 5_000 {
		t.Fatalf("stamp %d: want the clock once it is ahead", c)
	}
	// Two info changes without EventTime in one millisecond: the later wins.
	u := newUpdate(now)
	u.add(info(0, ptr("first"), nil), h.arrivalStamp(now), "", now)
	u.add(info(0, ptr("second"), nil), h.arrivalStamp(now), "", now)
	var st imv1alpha1.ChatGroupStatus
	u.apply(&st)
	if st.Name != "second" {
		t.Fatalf("name %q, want the later arrival", st.Name)
	}
}

func TestMergeDestroyedAndRecreated(t *testing.T) {
	create := func(at int64) *AfterCreateGroup {
		return &AfterCreateGroup{Common: Common{GroupID: gid, EventTime: EventTime(at)}, OwnerAccount: "o", MemberList: []Member{{"a"}}}
	}
	destroy := func(at int64) *AfterGroupDestroyed {
		return &AfterGroupDestroyed{Common: Common{GroupID: gid, EventTime: EventTime(at)}}
	}
	tests := []struct {
		name      string
		cbs       []Callback
		destroyed bool
		members   int64
	}{
		{"create then destroy", []Callback{create(10), destroy(20)}, true, 0},
		{"destroy then create again (ID reused)", []Callback{create(10), destroy(20), create(30)}, false, 2},
		{"late create of the destroyed group", []Callback{destroy(20), create(10)}, true, 0},
	}
	for _, tt := range tests {
		// Every callback in one update, and each in its own flush.
		together := mergeAll(imv1alpha1.ChatGroupStatus{}, tt.cbs...)
		var apart imv1alpha1.ChatGroupStatus
		for _, cb := range tt.cbs {
			apart = mergeAll(apart, cb)
		}
		for how, st := range map[string]imv1alpha1.ChatGroupStatus{"together": together, "apart": apart} {
			if st.Destroyed != tt.destroyed || st.MemberCount != tt.members {
				t.Errorf("%s (%s): destroyed=%v members=%d, want %v %d", tt.name, how, st.Destroyed, st.MemberCount, tt.destroyed, tt.members)
			}
		}
	}
}

// Joins and exits are deltas on top of the last whole count (a REST read,
// a create, a destroy): one before that count's time is in it already and
// must not count again, however late it is written; newer ones
// count in any order, across writes too.
func TestMergeMemberDeltasAfterTheLastWholeCount(t *testing.T) {
	join := func(at int64, n int) *AfterNewMemberJoin {
		return &AfterNewMemberJoin{Common: Common{GroupID: gid, EventTime: EventTime(at)}, NewMemberList: make([]Member, n)}
	}
	exit := func(at int64, n int) *AfterMemberExit {
		return &AfterMemberExit{Common: Common{GroupID: gid, EventTime: EventTime(at)}, ExitMemberList: make([]Member, n)}
	}
	// A read at 100 counted 7 members: the join at 90 and exit at 95 are in it.
	read := imv1alpha1.ChatGroupStatus{MemberCount: 7, EventTimes: imv1alpha1.EventTimes{Members: 100, MemberCount: 100}}
	st := mergeAll(read, join(90, 1), exit(95, 1), join(110, 2), exit(120, 1))
	if st.MemberCount != 8 || st.EventTimes.MemberCount != 100 || st.EventTimes.Members != 120 {
		t.Fatalf("want 7 + 2 - 1 = 8 members (joins/exits before the read dropped), got %d (eventTimes %+v)", st.MemberCount, st.EventTimes)
	}
	// Reordered across writes: the join at 105 arrives after the one at
	// 110 was written; it is after the read, so it counts.
	if st = mergeAll(st, join(105, 3)); st.MemberCount != 11 {
		t.Fatalf("a late join after the read must count: got %d", st.MemberCount)
	}
	// A create (whole count 3 at 200) resets the baseline the same way; an
	// invite in the create's millisecond counts (ties apply).
	create := &AfterCreateGroup{Common: Common{GroupID: gid, EventTime: 200}, OwnerAccount: "o", MemberList: []Member{{"a"}, {"b"}}}
	if st = mergeAll(st, join(150, 5), create, join(200, 1)); st.MemberCount != 4 || st.EventTimes.MemberCount != 200 {
		t.Fatalf("after a create at 200: want 3 + 1, got %d (eventTimes %+v)", st.MemberCount, st.EventTimes)
	}
}

// A resync that found the group gone stamps the members' time (as a destroy
// callback does): a create callback from before it, written late, must not
// bring the group back; a later create (the ID reused) does.
func TestMergeLateCreateAfterReadFoundGroupGone(t *testing.T) {
	gone := imv1alpha1.ChatGroupStatus{GroupID: gid, Destroyed: true,
		EventTimes: imv1alpha1.EventTimes{Members: 3000, MemberCount: 3000}}
	create := func(at int64) *AfterCreateGroup {
		return &AfterCreateGroup{Common: Common{GroupID: gid, EventTime: EventTime(at)}, OwnerAccount: "o", MemberList: []Member{{"a"}}}
	}
	if st := mergeAll(gone, create(2500)); !st.Destroyed || st.MemberCount != 0 {
		t.Fatalf("a create from before the read undid the destruction: %+v", st)
	}
	if st := mergeAll(gone, create(3500)); st.Destroyed || st.MemberCount != 2 {
		t.Fatalf("a create after the read must bring the group back: %+v", st)
	}
}
