package webhookserver

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/attrmerge"
)

// This file holds the pure merge rules: how a callback folds into a pending
// update (add), how two pending updates fold together (absorb, after a failed
// write), and how a pending update lands on a ChatGroupStatus (apply).
//
// Ordering. Every change carries an event time in Unix ms: the callback's
// EventTime, or, when IM sent none, the receive time (so such callbacks
// follow arrival order). A change older than the last applied one, for that
// part of the status (status.eventTimes.<part>) or in the pending update, is
// dropped; every replica compares against the same stored times, so they all
// drop the same ones, after restarts too. Ties (the same millisecond) are
// applied in arrival order, the later one winning: IM stamps in ms, and two
// changes in one ms are real (a script setting name then notification), so
// dropping the second would lose it. A redelivered callback carries the old
// time and values, so it is dropped once anything newer landed, and changes
// nothing otherwise.
//
// Memory. An update holds at most one value per info field, one entry per
// attribute key, and counters: it grows with the group, never with the
// number of callbacks merged into it.

// stamped is a value and the event time that set it.
type stamped struct {
	value string
	at    int64
}

// eventKind is a kind of change worth a Kubernetes Event.
type eventKind int

const (
	eventInfo eventKind = iota
	eventAttributes
	eventOwner
	eventDestroyed
	numEventKinds
)

// note is what an Event says: who did it and from where.
type note struct {
	what     string
	operator string
	platform string
}

// update is the pending, not yet written, change for one ChatGroup.
type update struct {
	firstPending time.Time // when this update became pending (FIFO order)
	lastCallback time.Time
	callbacks    int // callbacks merged into it

	groupID   string
	groupType imv1alpha1.GroupType

	msgSeq  int64
	msgTime int64
	msgFrom string

	name, introduction, notification, faceURL, owner *stamped

	attrs *attrmerge.Delta

	// created is set by Group.CallbackAfterCreateGroup.
	created *createInfo
	// members are the joins (+) and exits (-) by event time, oldest first;
	// membersAt is the newest time. At flush those before
	// eventTimes.memberCount are dropped: a REST read or a create at that
	// time counted them already.
	members   []memberEvent
	membersAt int64

	// destroyed is set by Group.CallbackAfterGroupDestroyed at destroyedAt.
	// A destroyed group has no members, so it is ordered with them: it
	// zeroes memberCount and stamps eventTimes.members, and a create with
	// a later EventTime (a custom group ID reused) clears it again.
	destroyed   bool
	destroyedAt int64

	// discover: create the ChatGroup (Observe) if it does not exist.
	discover bool

	notes [numEventKinds]*note
}

// memberEvent is the net of the joins and exits stamped at one time.
type memberEvent struct{ at, n int64 }

// maxMemberEvents bounds an update's member events. Past it the two oldest
// are folded into the newer one's time: a read falling between them would
// then count the older part twice, which only the next read corrects. That
// needs more than this many distinct milliseconds of joins and exits in
// one group between two writes of it.
const maxMemberEvents = 64

func (u *update) addMembers(at, n int64) {
	u.membersAt = max(u.membersAt, at)
	i, found := slices.BinarySearchFunc(u.members, at, func(e memberEvent, t int64) int { return cmp.Compare(e.at, t) })
	if found {
		u.members[i].n += n
		return
	}
	u.members = slices.Insert(u.members, i, memberEvent{at: at, n: n})
	if len(u.members) > maxMemberEvents {
		u.members[1].n += u.members[0].n
		u.members = slices.Delete(u.members, 0, 1)
	}
}

type createInfo struct {
	memberCount int64
	appData     map[string]string
	at          int64
}

func newUpdate(now time.Time) *update {
	return &update{firstPending: now}
}

// newer reports whether at should replace a value stamped with cur.
func newer(at int64, cur *stamped) bool { return cur == nil || at >= cur.at }

func setStamped(dst **stamped, value string, at int64) bool {
	if !newer(at, *dst) {
		return false
	}
	*dst = &stamped{value: value, at: at}
	return true
}

// add merges one decoded, validated callback. at is its effective event time
// (EventTime, or receive time when absent); platform is OptPlatform.
func (u *update) add(cb any, at int64, platform string, now time.Time) {
	u.callbacks++
	u.lastCallback = now
	c := cb.(interface{ common() *Common }).common()
	u.groupID = c.GroupID
	if t := knownType(c.Type); t != "" {
		u.groupType = t
	}
	n := &note{operator: c.OperatorAccount, platform: platform}
	switch m := cb.(type) {
	case *AfterSendMsg:
		if m.MsgSeq > u.msgSeq {
			u.msgSeq, u.msgTime, u.msgFrom = m.MsgSeq, m.MsgTime, m.FromAccount
		}
	case *AfterGroupInfoChanged:
		var changed []string
		for _, f := range []struct {
			label string
			v     *string
			dst   **stamped
		}{
			{"name", m.Name, &u.name},
			{"introduction", m.Introduction, &u.introduction},
			{"notification", m.Notification, &u.notification},
			{"faceURL", m.FaceURL, &u.faceURL},
		} {
			if f.v != nil && setStamped(f.dst, *f.v, at) {
				changed = append(changed, f.label)
			}
		}
		if len(changed) > 0 {
			n.what = "changed " + strings.Join(changed, ", ")
			u.notes[eventInfo] = n
		}
	case *AfterGroupAttrChanged:
		if u.attrs == nil {
			u.attrs = &attrmerge.Delta{}
		}
		if addAttrOp(u.attrs, m.OptionType, m.GroupAttr, at) {
			n.what = fmt.Sprintf("%s %d attribute(s)", m.OptionType, len(m.GroupAttr))
			u.notes[eventAttributes] = n
		}
	case *AfterNewMemberJoin:
		u.addMembers(at, int64(len(m.NewMemberList)))
	case *AfterMemberExit:
		u.addMembers(at, -int64(len(m.ExitMemberList)))
	case *AfterChangeGroupOwner:
		if setStamped(&u.owner, m.NewOwnerAccount, at) {
			n.what = fmt.Sprintf("owner changed from %s to %s", m.OldOwnerAccount, m.NewOwnerAccount)
			u.notes[eventOwner] = n
		}
	case *AfterCreateGroup:
		members := map[string]struct{}{}
		if m.OwnerAccount != "" {
			members[m.OwnerAccount] = struct{}{}
		}
		for _, mb := range m.MemberList {
			members[mb.MemberAccount] = struct{}{}
		}
		var data map[string]string
		if len(m.UserDefinedDataList) > 0 {
			data = make(map[string]string, len(m.UserDefinedDataList))
			for _, kv := range m.UserDefinedDataList {
				data[kv.Key] = kv.Value
			}
		}
		if u.created == nil || at >= u.created.at {
			u.created = &createInfo{memberCount: int64(len(members)), appData: data, at: at}
		}
		if m.OwnerAccount != "" {
			setStamped(&u.owner, m.OwnerAccount, at)
		}
		setStamped(&u.name, m.Name, at)
	case *AfterGroupDestroyed:
		u.destroyed = true
		u.destroyedAt = max(u.destroyedAt, at)
		n.what = "group destroyed"
		if n.operator == "" {
			n.operator = m.OwnerAccount
		}
		u.notes[eventDestroyed] = n
	}
}

func attrMap(attrs []GroupAttr) map[string]string {
	m := make(map[string]string, len(attrs))
	for _, a := range attrs {
		m[a.Key] = a.Value
	}
	return m
}

// addAttrOp folds one attribute callback into d; false when it is older than
// what d (or, later, status) already holds and so changes nothing. The order
// of operations on different keys does not matter: see internal/attrmerge.
func addAttrOp(d *attrmerge.Delta, op string, attrs []GroupAttr, at int64) bool {
	switch op {
	case AttrSet:
		return d.Replace(attrMap(attrs), at)
	case AttrClear:
		return d.Replace(nil, at)
	case AttrModify:
		return d.Upsert(attrMap(attrs), at)
	case AttrDelete:
		keys := make([]string, 0, len(attrs))
		for _, a := range attrs {
			keys = append(keys, a.Key)
		}
		return d.Delete(keys, at)
	}
	return false
}

// absorb folds n, which was merged after u, into u. It is used when a write
// of u failed and n collected the callbacks that arrived meanwhile; the
// result is what merging every callback of u then n into one update gives.
func (u *update) absorb(n *update) {
	if n == nil {
		return
	}
	u.callbacks += n.callbacks
	if n.lastCallback.After(u.lastCallback) {
		u.lastCallback = n.lastCallback
	}
	if n.groupID != "" {
		u.groupID = n.groupID
	}
	if n.groupType != "" {
		u.groupType = n.groupType
	}
	if n.msgSeq > u.msgSeq {
		u.msgSeq, u.msgTime, u.msgFrom = n.msgSeq, n.msgTime, n.msgFrom
	}
	for _, p := range []struct{ dst, src **stamped }{
		{&u.name, &n.name}, {&u.introduction, &n.introduction}, {&u.notification, &n.notification},
		{&u.faceURL, &n.faceURL}, {&u.owner, &n.owner},
	} {
		if *p.src != nil {
			setStamped(p.dst, (*p.src).value, (*p.src).at)
		}
	}
	if n.attrs != nil {
		if u.attrs == nil {
			u.attrs = &attrmerge.Delta{}
		}
		u.attrs.Absorb(n.attrs)
	}
	if n.created != nil && (u.created == nil || n.created.at >= u.created.at) {
		u.created = n.created
	}
	for _, e := range n.members {
		u.addMembers(e.at, e.n)
	}
	u.destroyed = u.destroyed || n.destroyed
	u.destroyedAt = max(u.destroyedAt, n.destroyedAt)
	u.discover = u.discover || n.discover
	for k, nt := range n.notes {
		if nt != nil {
			u.notes[k] = nt
		}
	}
}

// apply lands u on st and reports which event kinds changed something.
// lastCallbackTime is left to the caller, so that an update that changes
// nothing else can be recognized and skipped.
func (u *update) apply(st *imv1alpha1.ChatGroupStatus) (kinds [numEventKinds]bool) {
	if u.groupID != "" {
		st.GroupID = u.groupID
	}
	if u.groupType != "" {
		st.Type = u.groupType
	}
	if u.msgSeq > st.LastMessageSeq {
		st.LastMessageSeq = u.msgSeq
		st.LastMessageFrom = u.msgFrom
		st.LastMessageTime = nil
		if u.msgTime > 0 {
			t := metav1.NewTime(time.Unix(u.msgTime, 0).UTC())
			st.LastMessageTime = &t
		}
	}
	et := &st.EventTimes
	info := applyStamped(u.name, &st.Name, &et.Name)
	info = applyStamped(u.introduction, &st.Introduction, &et.Introduction) || info
	info = applyStamped(u.notification, &st.Notification, &et.Notification) || info
	info = applyStamped(u.faceURL, &st.FaceURL, &et.FaceURL) || info
	kinds[eventInfo] = info
	kinds[eventOwner] = applyStamped(u.owner, &st.Owner, &et.Owner)
	if u.attrs != nil {
		kinds[eventAttributes] = u.attrs.Apply(st)
	}
	if c := u.created; c != nil {
		if c.appData != nil {
			st.AppDefinedData = c.appData
		}
		if et.Members == 0 || c.at > et.Members {
			st.MemberCount = c.memberCount
			et.Members = max(et.Members, c.at)
			et.MemberCount = max(et.MemberCount, c.at)
			if !u.destroyed || u.destroyedAt < c.at {
				st.Destroyed = false // created (again) after any destruction seen
			}
		}
	}
	var delta int64
	for _, e := range u.members {
		// A tie counts (IM stamps milliseconds, and an invite can share
		// the millisecond of the create before it), as ties do everywhere.
		if e.at >= et.MemberCount {
			delta += e.n
		}
	}
	if delta != 0 {
		st.MemberCount = max(0, st.MemberCount+delta)
	}
	et.Members = max(et.Members, u.membersAt)
	if u.destroyed && u.destroyedAt >= et.Members {
		if !st.Destroyed {
			kinds[eventDestroyed] = true
		}
		st.Destroyed = true
		st.MemberCount = 0
		et.Members = u.destroyedAt
		et.MemberCount = max(et.MemberCount, u.destroyedAt)
	}
	return kinds
}

func applyStamped(s *stamped, dst *string, at *int64) bool {
	if s == nil || s.at < *at {
		return false
	}
	*at = s.at
	changed := *dst != s.value
	*dst = s.value
	return changed
}

// message is the Event text: what changed, by whom, from which platform.
func (n *note) message() string {
	var b strings.Builder
	b.WriteString(n.what)
	if n.operator != "" {
		fmt.Fprintf(&b, " by %s", n.operator)
	}
	if n.platform != "" {
		fmt.Fprintf(&b, " from %s", n.platform)
	}
	return b.String()
}
