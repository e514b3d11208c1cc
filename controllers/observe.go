package controllers

import (
	"context"
	"fmt"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// infoFilter asks get_group_info for the base fields status records and no
// member list: a resync of 2,000 groups must not download every member.
var infoFilter = &tim.ResponseFilter{GroupBaseInfoFilter: []string{
	"Type", "Name", "Introduction", "Notification", "FaceUrl", "Owner_Account",
	"MemberNum", "NextMsgSeq", "LastMsgTime",
}}

// observation is one REST read of a group, as internal/groupstatus folds it.
type observation = groupstatus.Read

// wantAttrs: get_group_attr is called only where attributes matter, i.e.
// declared, or tracked in status (so a removal shows up).
func wantAttrs(cg *imv1alpha1.ChatGroup) bool {
	return cg.Spec.Attributes != nil || len(cg.Status.Attributes) > 0
}

// read observes one group: get_group_info, plus get_group_attr where
// attributes matter. A missing group is an observation, not an error.
func (r *Reconciler) read(ctx context.Context, cg *imv1alpha1.ChatGroup) (observation, error) {
	obs := observation{At: r.opts.Now()}
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
	found(&obs, res[0].GroupInfo)
	if wantAttrs(cg) {
		attrs, err := r.im.GetGroupAttr(ctx, cg.Spec.GroupID)
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

// found records what get_group_info reported of an existing group.
func found(obs *observation, g tim.GroupInfo) {
	obs.Exists = true
	obs.GroupID, obs.Type, obs.Owner = g.GroupID, g.Type, g.OwnerAccount
	obs.Name, obs.Introduction, obs.Notification, obs.FaceURL = g.Name, g.Introduction, g.Notification, g.FaceURL
	obs.MemberCount = int64(g.MemberNum)
	obs.NextMsgSeq, obs.LastMsgUnix = g.NextMsgSeq, g.LastMsgTime
}

// existence is what status said about the group when a read was planned.
type existence = groupstatus.Existence

func existenceOf(st *imv1alpha1.ChatGroupStatus) existence { return groupstatus.ExistenceOf(st) }

// applyRead folds a read planned on status saw (see groupstatus.ApplyRead).
func applyRead(st *imv1alpha1.ChatGroupStatus, obs observation, saw existence) (destroyed bool) {
	return groupstatus.ApplyRead(st, obs, saw)
}
