package webhookserver

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// The queue hands out the update that has waited longest, whatever the
// traffic of the others; a failed update waits out its own backoff and then
// takes its original place again.
func TestWriterFIFO(t *testing.T) {
	w := NewWriter(nil, nil, nil, eventSink{}, 1, 1, 3, logr.Discard())
	clock := time.Unix(0, 0)
	w.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	key := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }
	merge := func(n string, seq int64) {
		t.Helper()
		if err := w.Merge([]types.NamespacedName{key(n)}, msg(seq, 0, n), 0, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	pop := func(want string) (*entry, *update) {
		t.Helper()
		e, u := w.pop()
		if e == nil || e.key.Name != want {
			t.Fatalf("popped %v, want %s", e, want)
		}
		return e, u
	}

	merge("hot", 1) // t1
	merge("cold", 1)
	for i := int64(2); i < 100; i++ {
		merge("hot", i) // coalesced: hot keeps its first-pending time
	}
	e, u := pop("hot")
	if seqOf(u) != 99 || u.callbacks != 99 {
		t.Fatalf("hot update seq=%d callbacks=%d, want 99 and 99", seqOf(u), u.callbacks)
	}
	merge("hot", 100) // arrives while hot is being written
	w.finish(e, u, nil)
	pop("cold") // waited longer than hot's new update
	e, u = pop("hot")
	if seqOf(u) != 100 {
		t.Fatalf("seq %d, want 100", seqOf(u))
	}

	merge("third", 1)
	merge("hot", 101) // during the failing write
	w.finish(e, u, errors.New("API server down"))
	// The failed group waits out its own backoff; the others go on.
	pop("third")
	if e2, _ := w.pop(); e2 != nil {
		t.Fatalf("popped %v while hot backs off", e2.key)
	}
	w.requeue(e) // its backoff is over
	e, u = pop("hot")
	if seqOf(u) != 101 || u.callbacks != 2 {
		t.Fatalf("after a failure: seq=%d callbacks=%d, want 101 and 2 (folded)", seqOf(u), u.callbacks)
	}
	w.finish(e, u, nil)

	// Bound: cold's entry is still in flight (popped, not finished), third too.
	if got := w.Pending(); got != 2 {
		t.Fatalf("pending %d, want 2", got)
	}
	merge("a", 1)
	if err := w.Merge([]types.NamespacedName{key("b")}, msg(1, 0, "b"), 0, "", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("Merge past the bound: %v, want ErrBusy", err)
	}
	// All or nothing: a callback for a pending and a new group is refused whole.
	if err := w.Merge([]types.NamespacedName{key("a"), key("b")}, msg(2, 0, "x"), 0, "", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("Merge past the bound: %v, want ErrBusy", err)
	}
	if seqOf(w.entries[key("a")].next) != 1 {
		t.Fatal("a refused callback changed a pending update")
	}
}

// seqOf is the lastMessageSeq u would write on an empty status.
func seqOf(u *update) int64 {
	var st imv1alpha1.ChatGroupStatus
	u.apply(&st)
	return st.LastMessageSeq
}

// Two lanes, one budget: a change people look at is written before
// counters that waited longer, a counters update that gains such a change
// moves lanes with its age, and the counters lane keeps one write in
// countersFloor while both wait.
func TestWriterLanes(t *testing.T) {
	w := NewWriter(nil, nil, nil, eventSink{}, 1, 1, 1000, logr.Discard())
	clock := time.Unix(0, 0)
	w.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	key := func(n string) types.NamespacedName { return types.NamespacedName{Namespace: "ns", Name: n} }
	merge := func(n string, cb Callback) {
		t.Helper()
		if err := w.Merge([]types.NamespacedName{key(n)}, cb, 0, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	rename := func(v string) Callback {
		return &AfterGroupInfoChanged{Common: Common{GroupID: gid, EventTime: 1}, Name: &v}
	}
	pops := func(n int) []string {
		t.Helper()
		var out []string
		for range n {
			e, u := w.pop()
			if e == nil {
				break
			}
			out = append(out, e.key.Name)
			w.finish(e, u, nil)
		}
		return out
	}

	merge("c1", msg(1, 0, "a")) // oldest, counters only
	merge("c2", msg(1, 0, "a"))
	merge("renamed", rename("new name")) // newest, but a name change
	merge("c3", msg(1, 0, "a"))
	merge("c1", msg(2, 0, "a")) // still counters: stays in its lane
	merge("c3", rename("c3 renamed"))
	// c3 moved to the priority lane with its first-pending time: after
	// renamed, which became pending before it.
	if got, want := pops(5), []string{"renamed", "c3", "c1", "c2"}; !slices.Equal(got, want) {
		t.Fatalf("write order %v, want %v", got, want)
	}

	// The floor: with 12 priority and 4 counters updates waiting, every
	// fourth write is a counters one.
	for i := range 4 {
		merge(fmt.Sprintf("m%d", i), msg(1, 0, "a"))
	}
	for i := range 12 {
		merge(fmt.Sprintf("p%02d", i), rename(fmt.Sprint(i)))
	}
	got := pops(16)
	for i, name := range got {
		counters := strings.HasPrefix(name, "m")
		if want := i%countersFloor == countersFloor-1; counters != want {
			t.Fatalf("write %d is %s; order %v: want a counters write exactly every %d", i, name, got, countersFloor)
		}
	}
	// Once the priority lane is empty, the counters lane takes every turn.
	for i := range 3 {
		merge(fmt.Sprintf("n%d", i), msg(1, 0, "a"))
	}
	if got := pops(3); !slices.Equal(got, []string{"n0", "n1", "n2"}) {
		t.Fatalf("counters alone: %v", got)
	}

	// A failed priority update comes back in the priority lane.
	merge("again", rename("x"))
	merge("later", msg(1, 0, "a"))
	e, u := w.pop()
	if e.key.Name != "again" {
		t.Fatalf("popped %s, want again", e.key.Name)
	}
	w.finish(e, u, errors.New("API server down"))
	w.requeue(e)
	if got := pops(2); !slices.Equal(got, []string{"again", "later"}) {
		t.Fatalf("after a failure: %v, want the priority update first", got)
	}
}
