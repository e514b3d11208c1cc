package groupstatus

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Read is one REST read of a group (get_group_info, and get_group_attr when
// attributes matter). At is taken before the call, so that a callback
// applied while the call was in flight (its EventTime later than At) is
// not overwritten by the read.
type Read struct {
	At     time.Time
	Exists bool
	// The group as IM reported it (when Exists).
	GroupID, Type, Name, Introduction, Notification, FaceURL, Owner string
	MemberCount                                                     int64
	// NextMsgSeq is the seq IM gives the next message (0: unknown);
	// LastMsgUnix the time of the last one, in seconds.
	NextMsgSeq  uint64
	LastMsgUnix int64
	// Attrs is the whole attribute map, when AttrsRead.
	Attrs     map[string]string
	AttrsRead bool
	// Settings are the settings as read (see Settings).
	Settings Settings
}

// Existence is what status said about the group when a read was planned.
type Existence struct {
	groupID   string
	destroyed bool
}

// ExistenceOf captures st's existence facts before a read.
func ExistenceOf(st *imv1alpha1.ChatGroupStatus) Existence {
	return Existence{st.GroupID, st.Destroyed}
}

// ReadOutcome is what ApplyRead did that its caller acts on.
type ReadOutcome struct {
	// Destroyed: the group, which existed, was newly found destroyed.
	Destroyed bool
	// CountSkipped: the read's member count did not land. A join or exit
	// stamped after the read was applied already, and status keeps only
	// the sum of the joins and exits since its last whole count, so the
	// read cannot tell which of them it had counted. memberCount then
	// rests on an older whole count plus those deltas, or on the deltas
	// alone when the read was to be the first count (a group observed
	// while members join), and is short by whatever happened before. A
	// read made after those joins lands: the caller reads again soon
	// instead of leaving the count wrong until the next resync.
	CountSkipped bool
}

// ApplyRead folds a read planned on status saw into st.
//
// When a status write conflicts, the read is replayed on a fresher status;
// if that status learned of a creation or destruction meanwhile (a
// callback), the read may predate it and is dropped rather than undo it:
// "missing" must not mark a group created since as destroyed, "exists" must
// not bring back a group destroyed since.
func ApplyRead(st *imv1alpha1.ChatGroupStatus, r Read, saw Existence) ReadOutcome {
	if ExistenceOf(st) != saw {
		return ReadOutcome{}
	}
	at := r.At.UnixMilli()
	forgetFuture(st, at+MaxAhead.Milliseconds())
	if !r.Exists {
		// Only a group that existed can be destroyed; one never seen stays
		// "not found", which Enforce creates.
		if st.GroupID != "" && !st.Destroyed {
			markDestroyed(st, at)
			return ReadOutcome{Destroyed: true}
		}
		return ReadOutcome{}
	}
	st.GroupID, st.Destroyed = r.GroupID, false
	if r.Type != "" {
		st.Type = imv1alpha1.GroupType(r.Type)
	}
	et := &st.EventTimes
	lww(&st.Name, &et.Name, r.Name, at)
	lww(&st.Introduction, &et.Introduction, r.Introduction, at)
	lww(&st.Notification, &et.Notification, r.Notification, at)
	lww(&st.FaceURL, &et.FaceURL, r.FaceURL, at)
	lww(&st.Owner, &et.Owner, r.Owner, at)
	var out ReadOutcome
	if newer(at, et.Members) {
		// The read counted every join and exit before it, also those the
		// receiver has not written yet: they must not count again.
		wholeCount(st, r.MemberCount, at)
	} else {
		// A whole count at least as new as this read needs no other.
		out.CountSkipped = et.MemberCount < at
	}
	readMessage(st, r, at)
	applySettings(st, r.Settings, at)
	// A read is the whole map at the time of the read: a replacement,
	// ordered against callbacks by the same rule as theirs.
	if r.AttrsRead {
		var d Delta
		d.Replace(r.Attrs, at)
		d.Apply(st)
	}
	return out
}

// readMessage folds the read's NextMsgSeq into lastMessageSeq. The seq only
// grows, with one exception that keeps a forged seq from freezing it: a
// recorded message that claims a higher seq than the read but is older
// than the read by more than MaxAhead (or has no time) cannot be genuine,
// since IM had counted it when the read was made.
func readMessage(st *imv1alpha1.ChatGroupStatus, r Read, at int64) {
	if r.NextMsgSeq == 0 || r.NextMsgSeq > 1<<62 {
		return
	}
	seq := int64(r.NextMsgSeq) - 1
	switch {
	case seq > st.LastMessageSeq:
	case seq == st.LastMessageSeq:
		if st.LastMessageTime == nil && r.LastMsgUnix > 0 {
			t := metav1.NewTime(time.Unix(r.LastMsgUnix, 0).UTC())
			st.LastMessageTime = &t
		}
		return // the sender a callback recorded for this seq stays
	case st.LastMessageTime != nil && st.LastMessageTime.UnixMilli() >= at-MaxAhead.Milliseconds():
		return // a message sent while the read was in flight
	}
	st.LastMessageSeq, st.LastMessageFrom, st.LastMessageTime = seq, "", nil // the read does not say who sent it
	if r.LastMsgUnix > 0 {
		t := metav1.NewTime(time.Unix(r.LastMsgUnix, 0).UTC())
		st.LastMessageTime = &t
	}
}

// forgetFuture drops every stored event time later than limit (Unix ms):
// no genuine change carries one, and keeping it would let it hold its part
// against every later change, reads included.
func forgetFuture(st *imv1alpha1.ChatGroupStatus, limit int64) {
	et := &st.EventTimes
	for _, p := range []*int64{&et.Name, &et.Introduction, &et.Notification, &et.FaceURL, &et.Owner,
		&et.Attributes, &et.Members, &et.MemberCount, &et.Settings} {
		if *p > limit {
			*p = 0
		}
	}
	for k, at := range et.AttributeKeys {
		if at > limit {
			delete(et.AttributeKeys, k)
		}
	}
	if len(et.AttributeKeys) == 0 {
		et.AttributeKeys = nil
	}
}

// SameValues reports whether a and b differ only in their event times: a
// bulk resync that would move times but change no value skips the write.
func SameValues(a, b *imv1alpha1.ChatGroupStatus) bool {
	x, y := a.DeepCopy(), b.DeepCopy()
	x.EventTimes, y.EventTimes = imv1alpha1.EventTimes{}, imv1alpha1.EventTimes{}
	return equalStatus(x, y)
}
