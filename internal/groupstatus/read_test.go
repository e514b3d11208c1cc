package groupstatus

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

func timeMs(ms int64) time.Time { return time.UnixMilli(ms) }

// A read never regresses status: a part changed after the read started
// keeps its value, lastMessageSeq only grows.
func TestReadNeverRegresses(t *testing.T) {
	st := imv1alpha1.ChatGroupStatus{GroupID: "g", Name: "newer", LastMessageSeq: 50,
		LastMessageTime: &metav1.Time{Time: timeMs(1_400)}}
	st.EventTimes.Name = 2000
	r := Read{Exists: true, GroupID: "g", Name: "older", Notification: "n", NextMsgSeq: 10, At: timeMs(1500)}
	ApplyRead(&st, r, ExistenceOf(&st))
	if st.Name != "newer" {
		t.Fatalf("name regressed to %q", st.Name)
	}
	if st.Notification != "n" || st.EventTimes.Notification != 1500 {
		t.Fatalf("notification %q at %d", st.Notification, st.EventTimes.Notification)
	}
	if st.LastMessageSeq != 50 {
		t.Fatalf("lastMessageSeq went back to %d (its message is not older than the read)", st.LastMessageSeq)
	}
	r.NextMsgSeq = 61
	ApplyRead(&st, r, ExistenceOf(&st))
	if st.LastMessageSeq != 60 {
		t.Fatalf("lastMessageSeq %d, want NextMsgSeq-1 = 60", st.LastMessageSeq)
	}
	// Missing after having existed: destroyed, reported once.
	if !ApplyRead(&st, Read{At: timeMs(3000)}, ExistenceOf(&st)).Destroyed || !st.Destroyed {
		t.Fatal("a vanished group must be marked destroyed")
	}
	// Stamped with the members, so that a create callback from before the
	// read (written late by the receiver) does not undo it.
	if st.MemberCount != 0 || st.EventTimes.Members != 3000 || st.EventTimes.MemberCount != 3000 {
		t.Fatalf("destroyed by a read: count %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	if ApplyRead(&st, Read{At: timeMs(4000)}, ExistenceOf(&st)).Destroyed {
		t.Fatal("destroyed must be reported once")
	}
	// A read planned before the destruction was recorded does not bring
	// the group back; one planned after it does.
	r.At = timeMs(5000)
	ApplyRead(&st, r, Existence{groupID: "g"})
	if !st.Destroyed {
		t.Fatal("a read planned before the destruction undid it")
	}
	ApplyRead(&st, r, Existence{groupID: "g", destroyed: true})
	if st.Destroyed {
		t.Fatal("a read planned after the destruction must clear it")
	}
	// A "missing" read planned before a creation callback does not mark
	// the created group destroyed.
	fresh := imv1alpha1.ChatGroupStatus{GroupID: "g"}
	if ApplyRead(&fresh, Read{At: timeMs(6000)}, Existence{}).Destroyed || fresh.Destroyed {
		t.Fatal("a stale missing read marked a new group destroyed")
	}
}

// A read sets the baseline of the member count (eventTimes.memberCount), so
// that a join or exit from before the read that the receiver writes later
// does not count twice. A read older than an applied join or exit changes
// neither. A read that changes no value changes nothing SameValues sees
// (the bulk resync then skips the write).
func TestReadMemberCountBaseline(t *testing.T) {
	st := imv1alpha1.ChatGroupStatus{GroupID: "g", MemberCount: 7}
	st.EventTimes.Members = 900
	before := st.DeepCopy()
	r := Read{Exists: true, GroupID: "g", MemberCount: 7, At: timeMs(1000)}
	ApplyRead(&st, r, ExistenceOf(&st))
	if st.MemberCount != 7 || st.EventTimes.MemberCount != 1000 || st.EventTimes.Members != 1000 {
		t.Fatalf("equal count: %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	if !SameValues(before, &st) {
		t.Fatal("a read that changed no value must compare equal by SameValues")
	}
	r.At, r.MemberCount = timeMs(2000), 5
	ApplyRead(&st, r, ExistenceOf(&st))
	if st.MemberCount != 5 || st.EventTimes.MemberCount != 2000 || st.EventTimes.Members != 2000 {
		t.Fatalf("changed count: %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	st.EventTimes.Members = 3500 // a join newer than the next read was applied
	r.At, r.MemberCount = timeMs(3000), 9
	ApplyRead(&st, r, ExistenceOf(&st))
	if st.MemberCount != 5 || st.EventTimes.MemberCount != 2000 {
		t.Fatalf("an older read changed the count: %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
}

// A read that lands after joins stamped later than it cannot set the count,
// and says so (CountSkipped), so that the controller reads again: the
// first count of a group observed while members join (base 0, joins
// applied) would otherwise stay short until the next resync. A read older
// than a whole count already in status needs no other, and a read that
// lands reports nothing.
func TestReadReportsASkippedCount(t *testing.T) {
	var st imv1alpha1.ChatGroupStatus
	st.GroupID = "g"
	var u Update
	u.Members(1500, 6) // six joins stamped after the read below
	u.Apply(&st)
	r := Read{Exists: true, GroupID: "g", MemberCount: 1, At: timeMs(1000)}
	if out := ApplyRead(&st, r, ExistenceOf(&st)); !out.CountSkipped || out.Destroyed {
		t.Fatalf("a read older than the joins applied: outcome %+v", out)
	}
	if st.MemberCount != 6 {
		t.Fatalf("memberCount %d after a skipped count", st.MemberCount)
	}
	r.At, r.MemberCount = timeMs(2000), 7
	if out := ApplyRead(&st, r, ExistenceOf(&st)); out.CountSkipped {
		t.Fatalf("a read newer than every join: outcome %+v", out)
	}
	if st.MemberCount != 7 || st.EventTimes.MemberCount != 2000 {
		t.Fatalf("the read after the joins: memberCount %d, eventTimes %+v", st.MemberCount, st.EventTimes)
	}
	// An older read replayed on this status: the count it would give is
	// older than the one in status.
	u = Update{}
	u.Members(2500, 1)
	u.Apply(&st)
	r.At, r.MemberCount = timeMs(1800), 6
	if out := ApplyRead(&st, r, ExistenceOf(&st)); out.CountSkipped {
		t.Fatalf("a read older than the whole count in status: outcome %+v", out)
	}
	if st.MemberCount != 8 {
		t.Fatalf("memberCount %d, want 7 + 1", st.MemberCount)
	}
	// A read that finds the group gone reports its destruction only.
	if out := ApplyRead(&st, Read{At: timeMs(3000)}, ExistenceOf(&st)); !out.Destroyed || out.CountSkipped {
		t.Fatalf("a read finding the group gone: outcome %+v", out)
	}
}

// A forged far-future event time (issue: one callback could pin a field
// forever) is forgotten by the next read: the read's values land.
func TestReadOverridesFutureStamps(t *testing.T) {
	const now = 1_800_000_000_000
	st := imv1alpha1.ChatGroupStatus{GroupID: "g", Name: "forged", MemberCount: 999, Owner: "evil",
		Attributes: map[string]string{"k": "forged"}, LastMessageSeq: 1 << 40, LastMessageFrom: "evil",
		LastMessageTime: &metav1.Time{Time: timeMs(now - 10*60_000)}}
	far := int64(9_999_999_999_999)
	st.EventTimes = imv1alpha1.EventTimes{Name: far, Owner: far, Members: far, MemberCount: far, Attributes: far,
		AttributeKeys: map[string]int64{"k": far}}
	r := Read{Exists: true, GroupID: "g", Name: "real", Owner: "o", MemberCount: 3, NextMsgSeq: 8,
		LastMsgUnix: (now - 5000) / 1000, Attrs: map[string]string{"k": "real"}, AttrsRead: true, At: timeMs(now)}
	ApplyRead(&st, r, ExistenceOf(&st))
	if st.Name != "real" || st.Owner != "o" || st.MemberCount != 3 || st.Attributes["k"] != "real" {
		t.Fatalf("a read did not override forged future stamps: %+v", st)
	}
	if st.LastMessageSeq != 7 || st.LastMessageFrom != "" {
		t.Fatalf("a forged seq older than the read was kept: %d from %q", st.LastMessageSeq, st.LastMessageFrom)
	}
	// A genuine rename after the read lands again.
	var u Update
	u.Info(FieldName, "renamed", now+1000)
	u.Apply(&st)
	if st.Name != "renamed" {
		t.Fatalf("name %q after a genuine rename", st.Name)
	}
	// A stamp only a little ahead (clock skew, a change during the read)
	// is respected.
	st.EventTimes.Name = now + 30_000
	st.Name = "during"
	ApplyRead(&st, r, ExistenceOf(&st))
	if st.Name != "during" {
		t.Fatalf("a change within MaxAhead of the read was overwritten: %q", st.Name)
	}
}

// The race of a read and a message callback with the same seq: whichever
// lands first, the sender the callback carries is kept.
func TestReadAndMessageWithTheSameSeq(t *testing.T) {
	const at = 1_800_000_000_000
	r := Read{Exists: true, GroupID: "g", NextMsgSeq: 11, LastMsgUnix: at / 1000, At: timeMs(at)}
	msg := func() *Update {
		var u Update
		u.Message(10, at/1000, "alice")
		return &u
	}
	// Read first, then the callback.
	var a imv1alpha1.ChatGroupStatus
	a.GroupID = "g"
	ApplyRead(&a, r, ExistenceOf(&a))
	msg().Apply(&a)
	// Callback first, then the read.
	var b imv1alpha1.ChatGroupStatus
	b.GroupID = "g"
	msg().Apply(&b)
	ApplyRead(&b, r, ExistenceOf(&b))
	for name, st := range map[string]imv1alpha1.ChatGroupStatus{"read first": a, "callback first": b} {
		if st.LastMessageSeq != 10 || st.LastMessageFrom != "alice" || st.LastMessageTime == nil {
			t.Errorf("%s: seq %d from %q time %v", name, st.LastMessageSeq, st.LastMessageFrom, st.LastMessageTime)
		}
	}
}

// An update keeps at most maxMemberEvents distinct times, folding the
// oldest, and the net count is unchanged by the folding.
func TestMemberEventsBounded(t *testing.T) {
	var u Update
	for i := range 3 * maxMemberEvents {
		u.Members(int64(1000-i), 1)
	}
	if len(u.members) != maxMemberEvents {
		t.Fatalf("%d member events kept, want %d", len(u.members), maxMemberEvents)
	}
	var st imv1alpha1.ChatGroupStatus
	u.Apply(&st)
	if st.MemberCount != 3*maxMemberEvents || st.EventTimes.Members != 1000 {
		t.Fatalf("count %d, members time %d", st.MemberCount, st.EventTimes.Members)
	}
}

// A pending attribute delta never holds more than maxDeltaKeys entries,
// however many distinct keys callbacks name.
func TestDeltaBounded(t *testing.T) {
	var d Delta
	for i := range 20 * maxDeltaKeys {
		d.Upsert(map[string]string{string(rune('a'+i%26)) + time.Duration(i).String(): "v"}, int64(i))
	}
	if len(d.Keys) != maxDeltaKeys {
		t.Fatalf("%d keys pending, want the bound %d", len(d.Keys), maxDeltaKeys)
	}
	for k, e := range d.Keys {
		if e.At < int64(19*maxDeltaKeys) {
			t.Fatalf("kept %s at %d: the oldest must go first", k, e.At)
		}
	}
}

// The writer's two lanes rest on OnlyCounters: messages and member joins and
// exits are counters; a change of name, introduction, notification, face
// URL, attributes or owner, a creation and a destruction are what people
// look at (#18's list), alone or with counters.
func TestOnlyCountersSeparatesWhatPeopleLookAt(t *testing.T) {
	counters := func() *Update {
		var u Update
		u.Message(5, 1_800_000_000, "alice")
		u.Members(1_800_000_000_000, 2)
		return &u
	}
	if !counters().OnlyCounters() {
		t.Fatal("messages and member changes are counters")
	}
	if !(&Update{}).OnlyCounters() {
		t.Fatal("an empty update has no change people look at")
	}
	const at = 1_800_000_000_001
	for name, add := range map[string]func(*Update){
		"name":         func(u *Update) { u.Info(FieldName, "renamed", at) },
		"introduction": func(u *Update) { u.Info(FieldIntroduction, "about", at) },
		"notification": func(u *Update) { u.Info(FieldNotification, "notice", at) },
		"face URL":     func(u *Update) { u.Info(FieldFaceURL, "https://example.com/f.png", at) },
		"attributes":   func(u *Update) { u.Attrs().Upsert(map[string]string{"k": "v"}, at) },
		"owner":        func(u *Update) { u.Owner("bob", at) },
		"created":      func(u *Update) { u.Created(at, 1, nil, "bob", "room") },
		"destroyed":    func(u *Update) { u.Destroyed(at) },
	} {
		u := counters()
		add(u)
		if u.OnlyCounters() {
			t.Errorf("%s with counters: OnlyCounters true", name)
		}
	}
}
