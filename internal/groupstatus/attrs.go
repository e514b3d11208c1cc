// Attributes. IM applies set, modify, delete and clear in EventTime order,
// but their callbacks can arrive in any order and through any replica. One
// time for the whole map is not enough: a late modify of key A must not be
// dropped just because a newer modify of key B already landed. So the state
// is a last-writer-wins map with a wipe time: the time R of the last
// operation that replaced the whole map (set, clear, a REST read, a push),
// and per key the newest upsert or delete with its time. Merging takes the
// newest entry per key and drops entries older than R. That merge is
// commutative, associative and idempotent, so duplicates, reordering and
// concurrent replicas all converge on IM's own order.

package groupstatus

import (
	"maps"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// maxTombstones bounds the deleted keys whose times are kept in status
// between two replacements. A late operation older than a forgotten
// tombstone could resurrect its key until the next resync; callbacks arrive
// within seconds, so only pathological churn gets near the bound.
const maxTombstones = 32

// maxDeltaKeys bounds the keys one pending Delta holds. IM keeps at most 16
// live keys, so genuine traffic between two writes of a group stays far
// below it; past it the oldest entries are forgotten (the next read heals
// what that loses), so that no stream of callbacks can grow a Delta.
const maxDeltaKeys = 64

// Entry is the newest known operation on one key.
type Entry struct {
	Value   string
	Deleted bool
	At      int64 // EventTime, Unix ms
}

// Delta is a run of attribute operations folded together. Its size is
// bounded by the keys it touches, not by the operations.
type Delta struct {
	Replaced  bool  // a set, clear or read replaced the whole map ...
	ReplaceAt int64 // ... at this time
	Keys      map[string]Entry
}

func (d *Delta) stale(at int64) bool { return d.Replaced && at < d.ReplaceAt }

func (d *Delta) put(k string, e Entry) bool {
	if d.Keys == nil {
		d.Keys = map[string]Entry{}
	}
	if cur, ok := d.Keys[k]; ok && cur.At > e.At {
		return false
	}
	d.Keys[k] = e
	for len(d.Keys) > maxDeltaKeys {
		d.forgetOldest()
	}
	return true
}

// forgetOldest drops the oldest entry (deleted ones first at equal times).
func (d *Delta) forgetOldest() {
	var oldest string
	first := true
	for k, e := range d.Keys {
		o := d.Keys[oldest]
		if first || e.At < o.At || (e.At == o.At && (e.Deleted && !o.Deleted || e.Deleted == o.Deleted && k < oldest)) {
			oldest, first = k, false
		}
	}
	delete(d.Keys, oldest)
}

// wipe drops the entries a replacement at time at supersedes: older ones, and
// equal ones, which arrived before it.
func wipe(keys map[string]Entry, at int64) {
	for k, e := range keys {
		if e.At <= at {
			delete(keys, k)
		}
	}
}

// Replace records that the whole map became attrs at time at (a set; a clear
// is Replace(nil, at); a REST read is a replace at the time of the read). It
// reports false when an already recorded replacement is newer.
func (d *Delta) Replace(attrs map[string]string, at int64) bool {
	if d.stale(at) {
		return false
	}
	d.Replaced, d.ReplaceAt = true, at
	wipe(d.Keys, at)
	for k, v := range attrs {
		d.put(k, Entry{Value: v, At: at})
	}
	return true
}

// Upsert records a modify at time at; false when nothing in it is newer
// than what is recorded.
func (d *Delta) Upsert(attrs map[string]string, at int64) bool {
	if d.stale(at) {
		return false
	}
	applied := false
	for k, v := range attrs {
		applied = d.put(k, Entry{Value: v, At: at}) || applied
	}
	return applied
}

// Delete records a delete at time at; false when nothing in it is newer
// than what is recorded.
func (d *Delta) Delete(keys []string, at int64) bool {
	if d.stale(at) {
		return false
	}
	applied := false
	for _, k := range keys {
		applied = d.put(k, Entry{Deleted: true, At: at}) || applied
	}
	return applied
}

// Absorb folds n, which arrived after d, into d. Apart from equal times
// (where n, the later arrival, wins) the result does not depend on which
// came first.
func (d *Delta) Absorb(n *Delta) {
	if n == nil {
		return
	}
	if n.Replaced && (!d.Replaced || n.ReplaceAt >= d.ReplaceAt) {
		d.Replaced, d.ReplaceAt = true, n.ReplaceAt
		wipe(d.Keys, n.ReplaceAt)
	}
	for k, e := range n.Keys {
		d.put(k, e)
	}
	if d.Replaced {
		for k, e := range d.Keys {
			if e.At < d.ReplaceAt {
				delete(d.Keys, k)
			}
		}
	}
}

// Apply merges d into status (attributes and their event times) and reports
// whether the attribute values changed. Times can move without a value
// change (a redelivered modify); callers that decide whether to write must
// compare the whole status, as they do.
func (d *Delta) Apply(st *imv1alpha1.ChatGroupStatus) bool {
	et := &st.EventTimes
	cur := Delta{Replaced: true, ReplaceAt: et.Attributes, Keys: make(map[string]Entry, len(st.Attributes)+len(et.AttributeKeys))}
	for k, v := range st.Attributes {
		at, ok := et.AttributeKeys[k]
		if !ok {
			at = et.Attributes // written before per-key times, or by a replace
		}
		cur.Keys[k] = Entry{Value: v, At: at}
	}
	for k, at := range et.AttributeKeys {
		if _, live := st.Attributes[k]; !live {
			cur.Keys[k] = Entry{Deleted: true, At: at}
		}
	}
	cur.Absorb(d)

	attrs := map[string]string{}
	times := map[string]int64{}
	var tombstones []string
	for k, e := range cur.Keys {
		if !e.Deleted {
			attrs[k] = e.Value
		}
		// A time equal to the wipe time says nothing the wipe time does not.
		if e.At > cur.ReplaceAt {
			times[k] = e.At
			if e.Deleted {
				tombstones = append(tombstones, k)
			}
		}
	}
	for len(tombstones) > maxTombstones {
		oldest := 0
		for i, k := range tombstones {
			if times[k] < times[tombstones[oldest]] {
				oldest = i
			}
		}
		delete(times, tombstones[oldest])
		tombstones = append(tombstones[:oldest], tombstones[oldest+1:]...)
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	if len(times) == 0 {
		times = nil
	}
	changed := !maps.Equal(attrs, st.Attributes)
	st.Attributes, et.AttributeKeys, et.Attributes = attrs, times, cur.ReplaceAt
	return changed
}
