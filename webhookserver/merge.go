package webhookserver

import (
	"fmt"
	"strings"
	"time"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/eventtext"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
)

// This file turns decoded callbacks into pending status changes. The rules
// that order and fold them (last writer wins by event time, per-key
// attributes, member counts against the last whole count, destruction) live
// in internal/groupstatus, which the controller's reads and pushes use too.

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

// update is the pending, not yet written, change for one ChatGroup: the
// status change (folded by internal/groupstatus, the one home of the merge
// rules) and what the writer needs around it.
type update struct {
	firstPending time.Time // when this update became pending (FIFO order)
	lastCallback time.Time
	callbacks    int // callbacks merged into it

	status groupstatus.Update

	// discover: create the ChatGroup (Observe) if it does not exist.
	discover *Discover

	notes [numEventKinds]*note
}

func newUpdate(now time.Time) *update {
	return &update{firstPending: now}
}

// add merges one decoded, validated callback. at is its effective event time
// (EventTime, or receive time when absent); platform is OptPlatform.
func (u *update) add(cb Callback, at int64, platform string, now time.Time) {
	u.callbacks++
	u.lastCallback = now
	c := cb.common()
	gs := &u.status
	gs.Group(c.GroupID, knownType(c.Type))
	n := &note{operator: c.OperatorAccount, platform: platform}
	switch m := cb.(type) {
	case *AfterSendMsg:
		gs.Message(m.MsgSeq, m.MsgTime, m.FromAccount)
	case *AfterGroupInfoChanged:
		var changed []string
		for _, f := range []struct {
			label string
			v     *string
			field groupstatus.InfoField
		}{
			{"name", m.Name, groupstatus.FieldName},
			{"introduction", m.Introduction, groupstatus.FieldIntroduction},
			{"notification", m.Notification, groupstatus.FieldNotification},
			{"faceURL", m.FaceURL, groupstatus.FieldFaceURL},
		} {
			if f.v != nil && gs.Info(f.field, *f.v, at) {
				changed = append(changed, f.label)
			}
		}
		if len(changed) > 0 {
			n.what = "changed " + strings.Join(changed, ", ")
			u.notes[eventInfo] = n
		}
	case *AfterGroupAttrChanged:
		if addAttrOp(gs.Attrs(), m.OptionType, m.GroupAttr, at) {
			n.what = fmt.Sprintf("%s %d attribute(s)", m.OptionType, len(m.GroupAttr))
			u.notes[eventAttributes] = n
		}
	case *AfterNewMemberJoin:
		gs.Members(at, int64(len(m.NewMemberList)))
	case *AfterMemberExit:
		gs.Members(at, -int64(len(m.ExitMemberList)))
	case *AfterChangeGroupOwner:
		if gs.Owner(m.NewOwnerAccount, at) {
			n.what = fmt.Sprintf("owner changed from %s to %s", eventtext.Bound(m.OldOwnerAccount), eventtext.Bound(m.NewOwnerAccount))
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
		gs.Created(at, int64(len(members)), data, m.OwnerAccount, m.Name)
	case *AfterGroupDestroyed:
		gs.Destroyed(at)
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
// what d (or, later, status) already holds and so changes nothing.
func addAttrOp(d *groupstatus.Delta, op string, attrs []GroupAttr, at int64) bool {
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
	u.status.Absorb(&n.status)
	if u.discover == nil {
		u.discover = n.discover
	}
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
	c := u.status.Apply(st)
	kinds[eventInfo], kinds[eventAttributes], kinds[eventOwner], kinds[eventDestroyed] = c.Info, c.Attributes, c.Owner, c.Destroyed
	return kinds
}

// message is the Event text: what changed, by whom, from which platform.
func (n *note) message() string {
	var b strings.Builder
	b.WriteString(n.what)
	// The account and platform come from the request: bounded, so that no
	// callback can write a long or control-laden Event note.
	if n.operator != "" {
		fmt.Fprintf(&b, " by %s", eventtext.Bound(n.operator))
	}
	if n.platform != "" {
		fmt.Fprintf(&b, " from %s", eventtext.Bound(n.platform))
	}
	return b.String()
}
