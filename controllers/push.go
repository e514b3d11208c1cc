package controllers

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// push makes the IM group match the declared fields (Enforce only).
//
// A group never observed is created. A group that existed and was destroyed
// outside the operator is re-created only when the user asks, by changing
// spec or the resync-requested-at annotation (userTriggered): silently
// bringing back a group someone disbanded on purpose would fight them, and
// a resync would do it behind their back. Until then it reports Ready False
// GroupDestroyed.
func (r *Reconciler) push(ctx context.Context, im IM, cg, view *imv1alpha1.ChatGroup, f *facts, userTriggered bool) error {
	created := false
	switch stateOf(view) {
	case stateExists:
	case stateMissing:
		if err := r.create(ctx, im, cg, view, f); err != nil {
			return err
		}
		created = true
	case stateDestroyed:
		if !userTriggered {
			return nil
		}
		if err := r.create(ctx, im, cg, view, f); err != nil {
			return err
		}
		created = true
	}
	if created {
		// The read that found it missing is superseded: no Destroyed Event.
		f.destroyedSeen = false
	}

	info := diffInfo(&cg.Spec, &view.Status)
	settings := diffSettings(&cg.Spec, &view.Status)
	attrs := diffAttrs(&cg.Spec, &view.Status)
	if info.empty() && settings.empty() && attrs.empty() {
		return nil
	}
	// Drift is a difference while spec is the one already synced: someone
	// changed the group outside the operator.
	drifted := cg.Status.ObservedGeneration == cg.Generation
	key := client.ObjectKeyFromObject(cg)
	now := r.opts.Now()
	if drifted && !created {
		if wait := r.holds.driftWait(key, now, r.opts.DriftCorrectionInterval); wait > 0 {
			f.requeueAfter = wait
			return nil
		}
	}
	at := now.UnixMilli()
	id := cg.Spec.GroupID

	if !info.empty() || !settings.empty() {
		req := tim.ModifyGroupBaseInfoRequest{
			GroupID: id, Name: info.Name, Introduction: info.Introduction,
			Notification: info.Notification, FaceURL: info.FaceURL,
		}
		settingsRequest(&req, settings)
		if err := im.ModifyGroupBaseInfo(ctx, req); err != nil {
			return r.pushFailed(view, f, err)
		}
		f.add(view, func(cg *imv1alpha1.ChatGroup) {
			recordInfo(&cg.Status, info, at)
			if !settings.empty() {
				groupstatus.RecordSettings(&cg.Status, groupstatus.Settings(settings), at)
			}
		})
	}
	if !attrs.empty() {
		// Delete first: at IM's limits (16 keys, 16,000 bytes) upserting
		// the new keys before the old ones are gone is refused (10047,
		// 10048), and then no valid spec could replace a full map.
		if err := im.DeleteGroupAttr(ctx, id, attrs.remove); err != nil {
			return r.pushFailed(view, f, err)
		}
		if err := im.ModifyGroupAttr(ctx, id, attrs.upsert); err != nil {
			return r.pushFailed(view, f, err)
		}
		want := specAttrs(&cg.Spec)
		f.add(view, func(cg *imv1alpha1.ChatGroup) { groupstatus.RecordAttrs(&cg.Status, want, at) })
	}

	if created {
		return nil // the Created or Adopted Event covers the first push
	}
	fields := append(info.fields(), settings.fields()...)
	if !attrs.empty() {
		fields = append(fields, fieldAttributes)
	}
	if drifted {
		r.holds.driftFixed(key, now)
		r.rec.Eventf(cg, nil, corev1.EventTypeNormal, EventDriftCorrected, "Update",
			"set %s back to the declared value (changed outside the operator)", strings.Join(fields, ", "))
	} else {
		r.rec.Eventf(cg, nil, corev1.EventTypeNormal, EventUpdated, "Update", "updated %s", strings.Join(fields, ", "))
	}
	return nil
}

// pushFailed turns "group not found" during an update into an observation
// (destroyed under our feet) rather than an error to retry.
func (r *Reconciler) pushFailed(view *imv1alpha1.ChatGroup, f *facts, err error) error {
	if tim.IsNotFound(err) {
		f.addRead(view, observation{At: r.opts.Now()})
		return nil
	}
	return err
}

// create calls create_group with the custom group ID; if IM says the ID is
// taken, the existing group is adopted and read back.
func (r *Reconciler) create(ctx context.Context, im IM, cg, view *imv1alpha1.ChatGroup, f *facts) error {
	s := &cg.Spec
	req := tim.CreateGroupRequest{
		Type:         string(s.Type),
		GroupID:      s.GroupID,
		OwnerAccount: s.Owner,
		Name:         cg.Name, // the API requires a name; unset spec.name is not managed afterwards
	}
	if req.Type == "" {
		req.Type = string(imv1alpha1.GroupTypePublic)
	}
	if s.Name != nil {
		req.Name = *s.Name
	}
	if s.Introduction != nil {
		req.Introduction = *s.Introduction
	}
	if s.Notification != nil {
		req.Notification = *s.Notification
	}
	if s.FaceURL != nil {
		req.FaceURL = *s.FaceURL
	}
	// The declared settings go with the create; mute-all has no create
	// field and follows in the first modify.
	req.ApplyJoinOption, req.InviteJoinOption = s.ApplyJoinOption, s.InviteJoinOption
	if s.MaxMemberCount != nil {
		req.MaxMemberCount = memberLimit(int64(*s.MaxMemberCount))
	}
	for _, k := range slices.Sorted(maps.Keys(s.AppDefinedData)) {
		req.AppDefinedData = append(req.AppDefinedData, tim.KeyValue{Key: k, Value: string(s.AppDefinedData[k])})
	}
	if s.SupportTopic != nil && *s.SupportTopic {
		req.SupportTopic = 1
	}
	at := r.opts.Now().UnixMilli()
	_, err := im.CreateGroup(ctx, req)
	switch {
	case err == nil:
		f.add(view, func(cg *imv1alpha1.ChatGroup) { recordCreated(&cg.Status, req, at) })
		r.rec.Eventf(cg, nil, corev1.EventTypeNormal, EventCreated, "Create", "created IM group %s (%s)", req.GroupID, req.Type)
		return nil
	case tim.IsAlreadyExists(err):
		obs, rerr := r.read(ctx, im, view)
		if rerr != nil {
			return rerr
		}
		if !obs.Exists {
			return fmt.Errorf("create_group said %s exists but get_group_info does not find it: %w", req.GroupID, err)
		}
		// view may have no attributes tracked yet: read them if declared.
		f.addRead(view, obs)
		r.rec.Eventf(cg, nil, corev1.EventTypeNormal, EventAdopted, "Adopt", "adopted the existing IM group %s", req.GroupID)
		return nil
	default:
		return err
	}
}

func recordCreated(st *imv1alpha1.ChatGroupStatus, req tim.CreateGroupRequest, at int64) {
	c := groupstatus.Created{
		GroupID: req.GroupID, Type: req.Type, Name: req.Name, Introduction: req.Introduction,
		Notification: req.Notification, FaceURL: req.FaceURL, Owner: req.OwnerAccount,
		SupportTopic: req.SupportTopic == 1,
	}
	// Only what the create carried is known; reads fill in IM's defaults.
	if req.ApplyJoinOption != "" {
		c.Settings.ApplyJoinOption = &req.ApplyJoinOption
	}
	if req.InviteJoinOption != "" {
		c.Settings.InviteJoinOption = &req.InviteJoinOption
	}
	if req.MaxMemberCount > 0 {
		n := int64(req.MaxMemberCount)
		c.Settings.MaxMemberCount = &n
	}
	for _, kv := range req.AppDefinedData {
		if c.Settings.AppData == nil {
			c.Settings.AppData = map[string]string{}
		}
		c.Settings.AppData[kv.Key] = kv.Value
	}
	groupstatus.RecordCreated(st, c, at)
}

// settingsRequest puts the differing settings into a modify request, with
// the wire's names and values (MaxMemberNum, MuteAllMember "On"/"Off").
func settingsRequest(req *tim.ModifyGroupBaseInfoRequest, d settingsDiff) {
	req.ApplyJoinOption, req.InviteJoinOption = d.ApplyJoinOption, d.InviteJoinOption
	if d.MaxMemberCount != nil {
		n := memberLimit(*d.MaxMemberCount)
		req.MaxMemberNum = &n
	}
	if d.MuteAllMembers != nil {
		v := "Off"
		if *d.MuteAllMembers {
			v = "On"
		}
		req.MuteAllMember = &v
	}
	for _, k := range slices.Sorted(maps.Keys(d.AppData)) {
		req.AppDefinedData = append(req.AppDefinedData, tim.KeyValue{Key: k, Value: d.AppData[k]})
	}
}

func recordInfo(st *imv1alpha1.ChatGroupStatus, d infoDiff, at int64) {
	groupstatus.RecordInfo(st, groupstatus.Info{Name: d.Name, Introduction: d.Introduction, Notification: d.Notification, FaceURL: d.FaceURL}, at)
}

// memberLimit is a member limit on the wire. The schema bounds it to
// 1..100000; a value out of uint32's range (never valid) is sent as 0,
// which IM refuses, rather than wrapped into a different limit.
func memberLimit(n int64) uint32 {
	if n < 0 || n > math.MaxUint32 {
		return 0
	}
	return uint32(n)
}
