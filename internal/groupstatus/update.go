package groupstatus

import (
	"cmp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// InfoField names one of the group's base info fields a callback can change.
type InfoField int

// The info fields of Group.CallbackAfterGroupInfoChanged.
const (
	FieldName InfoField = iota
	FieldIntroduction
	FieldNotification
	FieldFaceURL
	numInfoFields
)

// Changes says which kinds of status change an Apply made: the receiver
// raises one Event per kind.
type Changes struct {
	Info, Attributes, Owner, Destroyed bool
}

// Update is the pending, not yet written, change of one group, folded from
// callbacks in any order. The zero value is an empty update.
type Update struct {
	groupID   string
	groupType imv1alpha1.GroupType

	msgSeq, msgTime int64
	msgFrom         string

	info  [numInfoFields]*stamped
	owner *stamped

	attrs *Delta

	created *createInfo
	// members are the joins (+) and exits (-) by event time, oldest first.
	// At Apply those before eventTimes.memberCount are dropped: a read or a
	// create at that time counted them already.
	members []memberEvent

	destroyed   bool
	destroyedAt int64
}

type createInfo struct {
	memberCount int64
	appData     map[string]string
	at          int64
}

// memberEvent is the net of the joins and exits stamped at one time.
type memberEvent struct{ at, n int64 }

// maxMemberEvents bounds an update's member events. Past it the two oldest
// are folded into the newer one's time: a read falling between them would
// then count the older part twice, which only the next read corrects. That
// needs more than this many distinct milliseconds of joins and exits in one
// group between two writes of it.
const maxMemberEvents = 64

// Group records the group's ID and, when known, its type.
func (u *Update) Group(id string, t imv1alpha1.GroupType) {
	u.groupID = id
	if t != "" {
		u.groupType = t
	}
}

// GroupID returns the group the update is for.
func (u *Update) GroupID() string { return u.groupID }

// Type returns the group type the callbacks reported, if any.
func (u *Update) Type() imv1alpha1.GroupType { return u.groupType }

// Message records a sent message; the highest seq wins.
func (u *Update) Message(seq, sentUnix int64, from string) {
	if seq > u.msgSeq {
		u.msgSeq, u.msgTime, u.msgFrom = seq, sentUnix, from
	}
}

// Info records a changed info field; false when a newer change is pending.
func (u *Update) Info(f InfoField, v string, at int64) bool { return keep(&u.info[f], v, at) }

// Owner records an owner change; false when a newer one is pending.
func (u *Update) Owner(v string, at int64) bool { return keep(&u.owner, v, at) }

// Attrs returns the update's attribute delta, for the callback's operation.
func (u *Update) Attrs() *Delta {
	if u.attrs == nil {
		u.attrs = &Delta{}
	}
	return u.attrs
}

// Members records n joins (n > 0) or exits (n < 0) at time at.
func (u *Update) Members(at, n int64) {
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

// Created records the group's creation with its first members, custom
// data, owner and name.
func (u *Update) Created(at, memberCount int64, appData map[string]string, owner, name string) {
	if u.created == nil || newer(at, u.created.at) {
		u.created = &createInfo{memberCount: memberCount, appData: appData, at: at}
	}
	if owner != "" {
		keep(&u.owner, owner, at)
	}
	keep(&u.info[FieldName], name, at)
}

// Destroyed records the group's destruction.
func (u *Update) Destroyed(at int64) {
	u.destroyed = true
	u.destroyedAt = max(u.destroyedAt, at)
}

// OnlyCounters reports whether the update carries nothing but message and
// member-count changes: what a person or a health check looks at (names,
// attributes, owner, creation, destruction) is elsewhere.
func (u *Update) OnlyCounters() bool {
	for _, s := range u.info {
		if s != nil {
			return false
		}
	}
	return u.owner == nil && u.attrs == nil && u.created == nil && !u.destroyed
}

// Absorb folds n, which was collected after u, into u; the result is what
// folding every change of u then n into one update gives.
func (u *Update) Absorb(n *Update) {
	if n == nil {
		return
	}
	if n.groupID != "" {
		u.groupID = n.groupID
	}
	if n.groupType != "" {
		u.groupType = n.groupType
	}
	u.Message(n.msgSeq, n.msgTime, n.msgFrom)
	for i, s := range n.info {
		if s != nil {
			keep(&u.info[i], s.value, s.at)
		}
	}
	if n.owner != nil {
		keep(&u.owner, n.owner.value, n.owner.at)
	}
	if n.attrs != nil {
		u.Attrs().Absorb(n.attrs)
	}
	if n.created != nil && (u.created == nil || newer(n.created.at, u.created.at)) {
		u.created = n.created
	}
	for _, e := range n.members {
		u.Members(e.at, e.n)
	}
	u.destroyed = u.destroyed || n.destroyed
	u.destroyedAt = max(u.destroyedAt, n.destroyedAt)
}

// Apply lands u on st and reports which kinds of change it made.
// lastCallbackTime is left to the caller, so that an update that changes
// nothing else can be recognized and skipped.
func (u *Update) Apply(st *imv1alpha1.ChatGroupStatus) (c Changes) {
	if u.groupID != "" {
		st.GroupID = u.groupID
	}
	if u.groupType != "" {
		st.Type = u.groupType
	}
	if u.msgSeq > 0 {
		applyMessage(st, u.msgSeq, u.msgTime, u.msgFrom)
	}
	et := &st.EventTimes
	c.Info = land(u.info[FieldName], &st.Name, &et.Name)
	c.Info = land(u.info[FieldIntroduction], &st.Introduction, &et.Introduction) || c.Info
	c.Info = land(u.info[FieldNotification], &st.Notification, &et.Notification) || c.Info
	c.Info = land(u.info[FieldFaceURL], &st.FaceURL, &et.FaceURL) || c.Info
	c.Owner = land(u.owner, &st.Owner, &et.Owner)
	if u.attrs != nil {
		c.Attributes = u.attrs.Apply(st)
	}
	if cr := u.created; cr != nil {
		if cr.appData != nil {
			st.AppDefinedData = cr.appData
		}
		if et.Members == 0 || cr.at > et.Members {
			wholeCount(st, cr.memberCount, cr.at)
			if !u.destroyed || u.destroyedAt < cr.at {
				st.Destroyed = false // created (again) after any destruction seen
			}
		}
	}
	var delta, newest int64
	for _, e := range u.members {
		newest = max(newest, e.at)
		// A tie counts (IM stamps milliseconds, and an invite can share
		// the millisecond of the create before it), as ties do everywhere.
		if newer(e.at, et.MemberCount) {
			delta += e.n
		}
	}
	// Not held at zero: joins and exits may be written in any order (two
	// replicas each hold some of them, IM does not order callbacks), and
	// the sum is right only if every delta counts. A count below zero is
	// a moment between an exit and its join being written, or input that
	// did not happen; the next whole count (a read) replaces it.
	st.MemberCount += delta
	et.Members = max(et.Members, newest)
	if u.destroyed && newer(u.destroyedAt, et.Members) {
		c.Destroyed = !st.Destroyed
		markDestroyed(st, u.destroyedAt)
	}
	return c
}

// applyMessage records a message callback's seq, sender and send time. A
// higher seq replaces the last message; the same seq fills in the sender
// and time a REST read could not give (the read landed first).
func applyMessage(st *imv1alpha1.ChatGroupStatus, seq, sentUnix int64, from string) {
	switch {
	case seq > st.LastMessageSeq:
	case seq == st.LastMessageSeq && st.LastMessageFrom == "" && from != "":
	default:
		return
	}
	st.LastMessageSeq, st.LastMessageFrom, st.LastMessageTime = seq, from, nil
	if sentUnix > 0 {
		t := metav1.NewTime(time.Unix(sentUnix, 0).UTC())
		st.LastMessageTime = &t
	}
}

// wholeCount sets the member count as a whole at time at (a read, a
// create): joins and exits before at are in it.
func wholeCount(st *imv1alpha1.ChatGroupStatus, n, at int64) {
	st.MemberCount = n
	st.EventTimes.Members = max(st.EventTimes.Members, at)
	st.EventTimes.MemberCount = max(st.EventTimes.MemberCount, at)
}

// markDestroyed records the group's destruction at time at, ordered with
// the members: a create callback from before it, written late, cannot
// bring the group back.
func markDestroyed(st *imv1alpha1.ChatGroupStatus, at int64) {
	// A group made again under the same ID after this is someone else's
	// unless this ChatGroup creates it (RecordCreated).
	st.Destroyed, st.MemberCount, st.CreatedByOperator = true, 0, false
	st.EventTimes.Members = max(st.EventTimes.Members, at)
	st.EventTimes.MemberCount = max(st.EventTimes.MemberCount, at)
}
