package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// Recounts back off (2 s, doubling) and stop after maxRecounts reads in a
// row whose count did not land, so that a group whose members change all
// the time costs a bounded number of extra reads; a landed count starts
// over, and a ChatGroup made again under the same name (a new UID) starts
// with none pending.
func TestRecountSchedule(t *testing.T) {
	var h holds
	key := types.NamespacedName{Namespace: "ns", Name: "g"}
	now := time.Unix(1_800_000_000, 0)
	var waits []time.Duration
	for range maxRecounts + 2 {
		waits = append(waits, h.recountLater(key, "uid-1", now))
	}
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, 64 * time.Second, 0, 0}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	if m := h.memo(key); m.recountDue(now.Add(time.Hour)) || m.recountWait(now) != 0 {
		t.Fatalf("recounts spent, yet one is pending: %+v", m)
	}

	h.recounted(key, "uid-1")
	if w := h.recountLater(key, "uid-1", now); w != recountFirst {
		t.Fatalf("after a count landed, the first recount waits %v", w)
	}
	m := h.memo(key)
	if m.recountDue(now.Add(time.Second)) || !m.recountDue(now.Add(recountFirst)) || m.recountWait(now.Add(time.Second)) != time.Second {
		t.Fatalf("pending recount at +2 s: due at +1 s %v, at +2 s %v, wait at +1 s %v",
			m.recountDue(now.Add(time.Second)), m.recountDue(now.Add(recountFirst)), m.recountWait(now.Add(time.Second)))
	}

	h.observed(key, "uid-2", 1, "")
	if m := h.memo(key); m.recountDue(now.Add(time.Hour)) || m.recounts != 0 {
		t.Fatalf("a new ChatGroup under the same name inherited a recount: %+v", m)
	}
}
