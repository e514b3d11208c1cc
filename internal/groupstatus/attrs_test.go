package groupstatus

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"testing"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

type op struct {
	kind  string // set, clear, modify, delete
	at    int64
	attrs map[string]string
}

func (o op) addTo(d *Delta) {
	switch o.kind {
	case "set":
		d.Replace(o.attrs, o.at)
	case "clear":
		d.Replace(nil, o.at)
	case "modify":
		d.Upsert(o.attrs, o.at)
	case "delete":
		keys := make([]string, 0, len(o.attrs))
		for k := range o.attrs {
			keys = append(keys, k)
		}
		d.Delete(keys, o.at)
	}
}

// inIMOrder is what IM itself holds after the operations, applied by time.
func inIMOrder(ops []op) map[string]string {
	sorted := append([]op(nil), ops...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].at < sorted[j].at })
	m := map[string]string{}
	for _, o := range sorted {
		switch o.kind {
		case "set":
			m = maps.Clone(o.attrs)
		case "clear":
			m = map[string]string{}
		case "modify":
			maps.Copy(m, o.attrs)
		case "delete":
			for k := range o.attrs {
				delete(m, k)
			}
		}
	}
	if len(m) == 0 || m == nil {
		return nil
	}
	return m
}

func randomOps(r *rand.Rand, n int) []op {
	kinds := []string{"set", "clear", "modify", "modify", "delete"}
	ops := make([]op, n)
	for i := range ops {
		o := op{kind: kinds[r.IntN(len(kinds))], at: int64(1000 + i*10), attrs: map[string]string{}}
		for range 1 + r.IntN(3) {
			o.attrs[fmt.Sprintf("k%d", r.IntN(5))] = fmt.Sprintf("v%d", i)
		}
		ops[i] = o
	}
	return ops
}

// The property the package exists for: with distinct EventTimes, every
// arrival order, merged into status one callback at a time or coalesced in
// pending deltas first, ends with the map IM holds.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range 2000 {
		ops := randomOps(r, 2+r.IntN(8))
		want := inIMOrder(ops)
		arrival := append([]op(nil), ops...)
		r.Shuffle(len(arrival), func(i, j int) { arrival[i], arrival[j] = arrival[j], arrival[i] })

		// One write per callback.
		var st imv1alpha1.ChatGroupStatus
		for _, o := range arrival {
			var d Delta
			o.addTo(&d)
			d.Apply(&st)
		}
		if !maps.Equal(st.Attributes, want) {
			t.Fatalf("trial %d, one by one: got %v, want %v (arrival %+v)", trial, st.Attributes, want, arrival)
		}

		// Coalesced: a pending delta collects a random prefix, is written,
		// and the rest is absorbed into a second delta.
		var st2 imv1alpha1.ChatGroupStatus
		cut := r.IntN(len(arrival) + 1)
		var first, second Delta
		for _, o := range arrival[:cut] {
			o.addTo(&first)
		}
		for _, o := range arrival[cut:] {
			o.addTo(&second)
		}
		if r.IntN(2) == 0 {
			first.Apply(&st2)
			second.Apply(&st2)
		} else {
			first.Absorb(&second)
			first.Apply(&st2)
		}
		if !maps.Equal(st2.Attributes, want) {
			t.Fatalf("trial %d, coalesced at %d: got %v, want %v (arrival %+v)", trial, cut, st2.Attributes, want, arrival)
		}

		// Redelivering everything changes nothing.
		before := maps.Clone(st.Attributes)
		for _, o := range arrival {
			var d Delta
			o.addTo(&d)
			if d.Apply(&st) {
				t.Fatalf("trial %d: a redelivered %s@%d changed the map", trial, o.kind, o.at)
			}
		}
		if !maps.Equal(st.Attributes, before) {
			t.Fatalf("trial %d: redelivery changed %v to %v", trial, before, st.Attributes)
		}
	}
}

func TestEqualTimesLaterArrivalWins(t *testing.T) {
	var st imv1alpha1.ChatGroupStatus
	for _, o := range []op{{"set", 20, map[string]string{"a": "1"}}, {"set", 20, map[string]string{"b": "2"}}} {
		var d Delta
		o.addTo(&d)
		d.Apply(&st)
	}
	if want := map[string]string{"b": "2"}; !maps.Equal(st.Attributes, want) {
		t.Fatalf("got %v, want %v", st.Attributes, want)
	}
}

func TestLegacyStatusWithoutKeyTimes(t *testing.T) {
	// Written before per-key times existed: every key shares eventTimes.attributes.
	st := imv1alpha1.ChatGroupStatus{Attributes: map[string]string{"a": "1", "b": "2"}}
	st.EventTimes.Attributes = 100
	var d Delta
	d.Upsert(map[string]string{"a": "old"}, 50) // older than the map: dropped
	d.Upsert(map[string]string{"b": "new"}, 150)
	d.Apply(&st)
	if want := map[string]string{"a": "1", "b": "new"}; !maps.Equal(st.Attributes, want) {
		t.Fatalf("got %v, want %v", st.Attributes, want)
	}
	if st.EventTimes.AttributeKeys["b"] != 150 || st.EventTimes.Attributes != 100 {
		t.Fatalf("times: %+v", st.EventTimes)
	}
}

func TestTombstonesAreBounded(t *testing.T) {
	var st imv1alpha1.ChatGroupStatus
	for i := range 100 {
		var d Delta
		k := fmt.Sprintf("k%d", i)
		d.Upsert(map[string]string{k: "v"}, int64(10+2*i))
		d.Delete([]string{k}, int64(11+2*i))
		d.Apply(&st)
	}
	if len(st.Attributes) != 0 || len(st.EventTimes.AttributeKeys) > maxTombstones {
		t.Fatalf("%d attributes, %d key times (bound %d)", len(st.Attributes), len(st.EventTimes.AttributeKeys), maxTombstones)
	}
	// The newest tombstones are the ones kept.
	if _, ok := st.EventTimes.AttributeKeys["k99"]; !ok {
		t.Fatalf("newest tombstone dropped: %v", st.EventTimes.AttributeKeys)
	}
}
