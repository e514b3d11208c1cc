package controllers

import (
	"context"
	"fmt"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// infoFilter asks get_group_info for the base fields status records, the
// custom fields named in appData, and no member list: a resync of 2,000
// groups must not download every member.
func infoFilter(appData []string) *tim.ResponseFilter {
	return &tim.ResponseFilter{
		GroupBaseInfoFilter: []string{
			"Type", "Name", "Introduction", "Notification", "FaceUrl", "Owner_Account",
			"MemberNum", "NextMsgSeq", "LastMsgTime",
			"MaxMemberNum", "ApplyJoinOption", "InviteJoinOption", "MuteAllMember",
		},
		AppDefinedDataFilterGroup: appData,
	}
}

// observation is one REST read of a group, as internal/groupstatus folds it.
type observation = groupstatus.Read

// wantAttrs: get_group_attr is called only where attributes matter, i.e.
// declared, or tracked in status (so a removal shows up).
func wantAttrs(cg *imv1alpha1.ChatGroup) bool {
	return cg.Spec.Attributes != nil || len(cg.Status.Attributes) > 0
}

// read observes one group: get_group_info, plus get_group_attr where
// attributes matter. A missing group is an observation, not an error.
func (r *Reconciler) read(ctx context.Context, im IM, cg *imv1alpha1.ChatGroup) (observation, error) {
	obs := observation{At: r.opts.Now()}
	keys := appDataKeys(cg)
	res, err := im.GetGroupInfoFiltered(ctx, []string{cg.Spec.GroupID}, infoFilter(keys))
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
	found(&obs, res[0].GroupInfo, keys)
	if wantAttrs(cg) {
		attrs, err := im.GetGroupAttr(ctx, cg.Spec.GroupID)
		if err != nil {
			if tim.IsNotFound(err) {
				return observation{At: obs.At}, nil
			}
			return obs, err
		}
		obs.Attrs, obs.AttrsRead = attrs, true
	}
	return obs, nil
}

// found records what get_group_info reported of an existing group; keys
// are the custom fields the read asked for.
func found(obs *observation, g tim.GroupInfo, keys []string) {
	obs.Exists = true
	obs.GroupID, obs.Type, obs.Owner = g.GroupID, g.Type, g.OwnerAccount
	obs.Name, obs.Introduction, obs.Notification, obs.FaceURL = g.Name, g.Introduction, g.Notification, g.FaceURL
	obs.MemberCount = int64(g.MemberNum)
	obs.NextMsgSeq, obs.LastMsgUnix = g.NextMsgSeq, g.LastMsgTime
	s := &obs.Settings
	// An empty answer is "not reported" (AVChatRoom omits what it does not
	// have), never a value that would read as drift.
	if g.ApplyJoinOption != "" {
		v := g.ApplyJoinOption
		s.ApplyJoinOption = &v
	}
	if g.InviteJoinOption != "" {
		v := g.InviteJoinOption
		s.InviteJoinOption = &v
	}
	if g.MaxMemberNum > 0 {
		v := int64(g.MaxMemberNum)
		s.MaxMemberCount = &v
	}
	if g.MuteAllMember == "On" || g.MuteAllMember == "Off" {
		v := g.MuteAllMember == "On"
		s.MuteAllMembers = &v
	}
	s.AppDataKeys = keys
	for _, kv := range g.AppDefinedData {
		if s.AppData == nil {
			s.AppData = map[string]string{}
		}
		s.AppData[kv.Key] = kv.Value
	}
}

// existence is what status said about the group when a read was planned.
type existence = groupstatus.Existence

func existenceOf(st *imv1alpha1.ChatGroupStatus) existence { return groupstatus.ExistenceOf(st) }

// applyRead folds a read planned on status saw (see groupstatus.ApplyRead).
func applyRead(st *imv1alpha1.ChatGroupStatus, obs observation, saw existence) groupstatus.ReadOutcome {
	return groupstatus.ApplyRead(st, obs, saw)
}
