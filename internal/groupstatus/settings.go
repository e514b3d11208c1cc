package groupstatus

import (
	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Settings are the group settings no callback reports (join options, the
// member limit, mute-all, custom fields): only reads and the operator's own
// pushes change them in status, ordered by one stamp,
// status.eventTimes.settings. The receiver never writes them, so a callback
// can neither clear nor regress them.
//
// A nil field is not part of the read or push. AppData holds the custom
// fields that were read or pushed; with AppDataKeys (a read), a key asked
// for but absent from AppData has no value in IM.
type Settings struct {
	ApplyJoinOption, InviteJoinOption *string
	MaxMemberCount                    *int64
	MuteAllMembers                    *bool
	AppData                           map[string]string
	AppDataKeys                       []string
}

// applySettings folds s, read or pushed at time at, unless status holds a
// later one.
func applySettings(st *imv1alpha1.ChatGroupStatus, s Settings, at int64) {
	if !newer(at, st.EventTimes.Settings) {
		return
	}
	st.EventTimes.Settings = at
	if s.ApplyJoinOption != nil {
		st.ApplyJoinOption = *s.ApplyJoinOption
	}
	if s.InviteJoinOption != nil {
		st.InviteJoinOption = *s.InviteJoinOption
	}
	if s.MaxMemberCount != nil {
		st.MaxMemberCount = *s.MaxMemberCount
	}
	if s.MuteAllMembers != nil {
		v := *s.MuteAllMembers
		st.MuteAllMembers = &v
	}
	for _, k := range s.AppDataKeys {
		if _, ok := s.AppData[k]; !ok {
			delete(st.AppDefinedData, k)
		}
	}
	for k, v := range s.AppData {
		if st.AppDefinedData == nil {
			st.AppDefinedData = map[string]string{}
		}
		st.AppDefinedData[k] = v
	}
	if len(st.AppDefinedData) == 0 {
		st.AppDefinedData = nil
	}
}

// RecordSettings records the settings a push set at time at.
func RecordSettings(st *imv1alpha1.ChatGroupStatus, s Settings, at int64) {
	applySettings(st, s, at)
}
