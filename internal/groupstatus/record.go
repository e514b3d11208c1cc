package groupstatus

import (
	"k8s.io/apimachinery/pkg/api/equality"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// A push that IM accepted is a change made at the time it was sent: it is
// recorded through the same primitive as callbacks and reads, so a callback
// reporting a later change still wins.

// Created is what create_group made.
type Created struct {
	GroupID, Type, Name, Introduction, Notification, FaceURL, Owner string
	// Settings are those create_group carried; a new group is not muted.
	Settings     Settings
	SupportTopic bool
}

// RecordCreated records a group this ChatGroup created at time at: it has
// the declared info, the owner and no attributes.
func RecordCreated(st *imv1alpha1.ChatGroupStatus, c Created, at int64) {
	et := &st.EventTimes
	st.GroupID, st.Type, st.Destroyed = c.GroupID, imv1alpha1.GroupType(c.Type), false
	// Recorded with the creation itself: deletion may destroy only a group
	// this ChatGroup made, and a restart must still know it did.
	st.CreatedByOperator = true
	lww(&st.Name, &et.Name, c.Name, at)
	lww(&st.Introduction, &et.Introduction, c.Introduction, at)
	lww(&st.Notification, &et.Notification, c.Notification, at)
	lww(&st.FaceURL, &et.FaceURL, c.FaceURL, at)
	lww(&st.Owner, &et.Owner, c.Owner, at)
	RecordAttrs(st, nil, at)
	settings := c.Settings
	if settings.MuteAllMembers == nil {
		off := false
		settings.MuteAllMembers = &off
	}
	applySettings(st, settings, at)
	st.SupportTopic = c.SupportTopic
}

// Info is a modify_group_base_info that IM accepted; nil fields were not sent.
type Info struct {
	Name, Introduction, Notification, FaceURL *string
}

// RecordInfo records the info fields a push set at time at.
func RecordInfo(st *imv1alpha1.ChatGroupStatus, in Info, at int64) {
	et := &st.EventTimes
	for _, p := range []struct {
		v, dst *string
		et     *int64
	}{{in.Name, &st.Name, &et.Name}, {in.Introduction, &st.Introduction, &et.Introduction},
		{in.Notification, &st.Notification, &et.Notification}, {in.FaceURL, &st.FaceURL, &et.FaceURL}} {
		if p.v != nil {
			lww(p.dst, p.et, *p.v, at)
		}
	}
}

// RecordAttrs records that a push made the attribute map exactly want at
// time at.
func RecordAttrs(st *imv1alpha1.ChatGroupStatus, want map[string]string, at int64) {
	var d Delta
	d.Replace(want, at)
	d.Apply(st)
}

func equalStatus(a, b *imv1alpha1.ChatGroupStatus) bool { return equality.Semantic.DeepEqual(a, b) }
