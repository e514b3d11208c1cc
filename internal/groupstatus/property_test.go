package groupstatus

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// imEvent is one change IM made to a group, at its event time.
type imEvent struct {
	at     int64
	kind   string // name, notification, owner, modify, delete, set, message, join, exit, push
	value  string
	key    string
	attrs  map[string]string
	seq    int64
	n      int64
	pushed *Info // kind push: what the controller sent (IM sends a callback for it too)
}

// truth is the group as IM has it.
type truth struct {
	name, notification, owner string
	attrs                     map[string]string
	seq                       int64
	from                      string
	members                   int64
}

func (t *truth) apply(e imEvent) {
	switch e.kind {
	case "name":
		t.name = e.value
	case "push":
		t.name = *e.pushed.Name
	case "notification":
		t.notification = e.value
	case "owner":
		t.owner = e.value
	case "modify":
		t.attrs[e.key] = e.value
	case "delete":
		delete(t.attrs, e.key)
	case "set":
		t.attrs = maps.Clone(e.attrs)
	case "message":
		t.seq, t.from = e.seq, e.value
	case "join":
		t.members += e.n
	case "exit":
		t.members -= e.n
	}
}

// fold is the receiver's side: one callback into a pending update.
func fold(u *Update, e imEvent) {
	switch e.kind {
	case "name":
		u.Info(FieldName, e.value, e.at)
	case "push":
		u.Info(FieldName, *e.pushed.Name, e.at)
	case "notification":
		u.Info(FieldNotification, e.value, e.at)
	case "owner":
		u.Owner(e.value, e.at)
	case "modify":
		u.Attrs().Upsert(map[string]string{e.key: e.value}, e.at)
	case "delete":
		u.Attrs().Delete([]string{e.key}, e.at)
	case "set":
		u.Attrs().Replace(e.attrs, e.at)
	case "message":
		u.Message(e.seq, e.at/1000, e.value)
	case "join":
		u.Members(e.at, e.n)
	case "exit":
		u.Members(e.at, -e.n)
	}
}

// Property: whatever the order in which callbacks (duplicated, through two
// replicas that coalesce them), REST reads (each a snapshot of IM at its
// own time, landing late) and the controller's records of its pushes reach
// status, once every callback has landed status equals IM's final truth.
// Both components fold through this package, so this is the agreement of
// the receiver and the controller. (Joins and exits are not duplicated: a
// callback carries no ID that tells a duplicate from a second join.)
func TestEveryInterleavingConvergesOnIMsTruth(t *testing.T) {
	const base = int64(1_800_000_000_000)
	for trial := range 500 {
		rng := rand.New(rand.NewPCG(uint64(trial), 7))
		// IM's history.
		var events []imEvent
		// The group starts with 100 members: a count is clamped at zero, so
		// exits that arrive before the joins they follow could otherwise be
		// lost until the next read (a known limit of counting by deltas).
		tr := truth{attrs: map[string]string{}, members: 100}
		var snapshots []Read
		seq := int64(0)
		for i := range 10 + rng.IntN(40) {
			e := imEvent{at: base + int64(i)*7 + int64(rng.IntN(3))}
			if len(events) > 0 && e.at <= events[len(events)-1].at {
				e.at = events[len(events)-1].at + 1
			}
			v := fmt.Sprintf("v%d", i)
			switch rng.IntN(10) {
			case 0:
				e.kind, e.value = "name", v
			case 1:
				e.kind, e.pushed = "push", &Info{Name: &v}
			case 2:
				e.kind, e.value = "notification", v
			case 3:
				e.kind, e.value = "owner", v
			case 4:
				e.kind, e.key, e.value = "modify", fmt.Sprintf("k%d", rng.IntN(4)), v
			case 5:
				e.kind, e.key = "delete", fmt.Sprintf("k%d", rng.IntN(4))
			case 6:
				e.kind, e.attrs = "set", map[string]string{fmt.Sprintf("k%d", rng.IntN(4)): v}
			case 7:
				seq++
				e.kind, e.seq, e.value = "message", seq, v
			case 8:
				e.kind, e.n = "join", 1+int64(rng.IntN(3))
			default:
				if tr.members == 0 {
					e.kind, e.n = "join", 1
				} else {
					e.kind, e.n = "exit", 1
				}
			}
			events = append(events, e)
			tr.apply(e)
			if rng.IntN(5) == 0 { // a REST read started 1 ms after this event (events are at least 5 ms apart)
				snapshots = append(snapshots, Read{At: time.UnixMilli(e.at + 1), Exists: true, GroupID: "g",
					Name: tr.name, Notification: tr.notification, Owner: tr.owner, MemberCount: tr.members,
					NextMsgSeq: uint64(tr.seq + 1), LastMsgUnix: e.at / 1000,
					Attrs: maps.Clone(tr.attrs), AttrsRead: true})
			}
		}

		// What reaches status, in a random order.
		type step struct {
			replica int
			ev      *imEvent
			read    *Read
			push    *imEvent
			flush   bool
		}
		var steps []step
		for i := range events {
			e := &events[i]
			copies := 1
			if e.kind != "join" && e.kind != "exit" && rng.IntN(3) == 0 {
				copies = 2
			}
			for range copies {
				steps = append(steps, step{replica: rng.IntN(2), ev: e})
			}
			if e.kind == "push" {
				steps = append(steps, step{push: e})
			}
		}
		for i := range snapshots {
			steps = append(steps, step{read: &snapshots[i]})
		}
		for range len(steps) / 3 {
			steps = append(steps, step{replica: rng.IntN(2), flush: true})
		}
		rng.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })

		st := imv1alpha1.ChatGroupStatus{GroupID: "g", MemberCount: 100}
		pending := [2]*Update{{}, {}}
		flush := func(r int) {
			pending[r].Apply(&st)
			pending[r] = &Update{}
		}
		for _, s := range steps {
			switch {
			case s.ev != nil:
				fold(pending[s.replica], *s.ev)
			case s.read != nil:
				ApplyRead(&st, *s.read, ExistenceOf(&st))
			case s.push != nil:
				RecordInfo(&st, *s.push.pushed, s.push.at)
			case s.flush:
				flush(s.replica)
			}
		}
		flush(0)
		flush(1)

		got := truth{name: st.Name, notification: st.Notification, owner: st.Owner, attrs: st.Attributes,
			seq: st.LastMessageSeq, from: st.LastMessageFrom, members: st.MemberCount}
		if got.attrs == nil {
			got.attrs = map[string]string{}
		}
		if got.name != tr.name || got.notification != tr.notification || got.owner != tr.owner ||
			!maps.Equal(got.attrs, tr.attrs) || got.seq != tr.seq || got.from != tr.from || got.members != tr.members {
			t.Fatalf("trial %d: status %+v, IM has %+v", trial, got, tr)
		}
	}
}
