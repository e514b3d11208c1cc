package controllers

import (
	"context"
	"fmt"
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/attrmerge"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// infoFilter asks get_group_info for the base fields status records and no
// member list: a resync of 2,000 groups must not download every member.
var infoFilter = &tim.ResponseFilter{GroupBaseInfoFilter: []string{
	"Type", "Name", "Introduction", "Notification", "FaceUrl", "Owner_Account",
	"MemberNum", "NextMsgSeq", "LastMsgTime",
}}

// observation is one REST read of a group. at is taken before the call, so
// that a callback applied to status while the call was in flight (its
// EventTime later than at) is never overwritten by the read.
type observation struct {
	at        time.Time
	exists    bool
	info      tim.GroupInfo
	attrs     map[string]string
	attrsRead bool
	// written: status is written after this read whatever it changes (a
	// reconcile's read), so the read may record the member count's time
	// even when the count is unchanged. The bulk resync writes only what
	// changed, and records it only with a changed count.
	written bool
}

// wantAttrs: get_group_attr is called only where attributes matter, i.e.
// declared, or tracked in status (so a removal shows up).
func wantAttrs(cg *imv1alpha1.ChatGroup) bool {
	return cg.Spec.Attributes != nil || len(cg.Status.Attributes) > 0
}

// read observes one group: get_group_info, plus get_group_attr where
// attributes matter. A missing group is an observation, not an error.
func (r *Reconciler) read(ctx context.Context, cg *imv1alpha1.ChatGroup) (observation, error) {
	obs := observation{at: r.opts.Now()}
	res, err := r.im.GetGroupInfoFiltered(ctx, []string{cg.Spec.GroupID}, infoFilter)
	if err != nil {
		return obs, err
	}
	if len(res) != 1 {
		return obs, fmt.Errorf("get_group_info returned %d results for one group", len(res))
	}
	if res[0].Err != nil {
		if tim.IsNotFound(res[0].Err) {
			return obs, nil
		}
		return obs, res[0].Err
	}
	obs.exists, obs.info = true, res[0].GroupInfo
	if wantAttrs(cg) {
		attrs, err := r.im.GetGroupAttr(ctx, cg.Spec.GroupID)
		if err != nil {
			if tim.IsNotFound(err) {
				return observation{at: obs.at}, nil
			}
			return obs, err
		}
		obs.attrs, obs.attrsRead = attrs, true
	}
	return obs, nil
}

// stamp sets *dst to v unless status holds a change newer than at (ms).
// The part's event time moves to at only on a change: the common resync
// that finds nothing new writes nothing.
func stamp(dst *string, et *int64, v string, at int64) {
	if *et > at || *dst == v {
		return
	}
	*dst, *et = v, at
}

// applyObservation folds a read into status without regressing it:
// lastMessageSeq only grows, and a part whose status.eventTimes entry is
// newer than the read keeps its value. It reports whether the group was
// newly seen destroyed.
func applyObservation(st *imv1alpha1.ChatGroupStatus, obs observation) (destroyed bool) {
	ms := obs.at.UnixMilli()
	if !obs.exists {
		// Only a group that existed can be destroyed; one never seen stays
		// "not found", which Enforce creates.
		if st.GroupID != "" && !st.Destroyed {
			// Ordered with the members, as the receiver orders a destroy
			// callback: a create callback from before this read, written
			// late, must not bring the group back.
			st.Destroyed, st.MemberCount = true, 0
			st.EventTimes.Members = max(st.EventTimes.Members, ms)
			st.EventTimes.MemberCount = max(st.EventTimes.MemberCount, ms)
			return true
		}
		return false
	}
	g := &obs.info
	st.GroupID, st.Destroyed = g.GroupID, false
	if g.Type != "" {
		st.Type = imv1alpha1.GroupType(g.Type)
	}
	et := &st.EventTimes
	stamp(&st.Name, &et.Name, g.Name, ms)
	stamp(&st.Introduction, &et.Introduction, g.Introduction, ms)
	stamp(&st.Notification, &et.Notification, g.Notification, ms)
	stamp(&st.FaceURL, &et.FaceURL, g.FaceURL, ms)
	stamp(&st.Owner, &et.Owner, g.OwnerAccount, ms)
	if et.Members <= ms {
		// The read counted every join and exit before it, also those the
		// receiver has not written yet: they must not count again.
		if st.MemberCount != int64(g.MemberNum) {
			st.MemberCount, et.Members = int64(g.MemberNum), ms
			et.MemberCount = max(et.MemberCount, ms)
		} else if obs.written {
			et.MemberCount = max(et.MemberCount, ms)
		}
	}
	// NextMsgSeq is the seq the next message gets: the last one is one less.
	if g.NextMsgSeq > 0 && g.NextMsgSeq <= math.MaxInt64 {
		if seq := int64(g.NextMsgSeq) - 1; seq > st.LastMessageSeq {
			st.LastMessageSeq = seq
			st.LastMessageFrom = "" // the REST read does not say who sent it
			st.LastMessageTime = nil
			if g.LastMsgTime > 0 {
				t := metav1.NewTime(time.Unix(g.LastMsgTime, 0).UTC())
				st.LastMessageTime = &t
			}
		}
	}
	// A read is the whole map at the time of the read: a replacement, ordered
	// against callbacks by the same rule the receiver uses.
	if obs.attrsRead && !sameAttrs(st.Attributes, obs.attrs) {
		var d attrmerge.Delta
		d.Replace(obs.attrs, ms)
		d.Apply(st)
	}
	return false
}

// existence is what status said about the group when a read was planned.
type existence struct {
	groupID   string
	destroyed bool
}

func existenceOf(st *imv1alpha1.ChatGroupStatus) existence {
	return existence{st.GroupID, st.Destroyed}
}

// applyRead is applyObservation for a read planned on status saw. When a
// status write conflicts, the read is replayed on a fresher status; if that
// status learned of a creation or destruction meanwhile (a callback), the
// read may predate it and is dropped rather than undo it: "missing" must
// not mark a group created since as destroyed, "exists" must not bring back
// a group destroyed since.
func applyRead(st *imv1alpha1.ChatGroupStatus, obs observation, saw existence) (destroyed bool) {
	if existenceOf(st) != saw {
		return false
	}
	return applyObservation(st, obs)
}
