package controllers

import (
	"slices"
	"sort"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
)

// Field names used in condition messages and Events; they are the spec's
// JSON names so users can map them back to their manifests.
const (
	fieldName         = "name"
	fieldIntroduction = "introduction"
	fieldNotification = "notification"
	fieldFaceURL      = "faceURL"
	fieldAttributes   = "attributes"

	fieldApplyJoinOption  = "applyJoinOption"
	fieldInviteJoinOption = "inviteJoinOption"
	fieldMaxMemberCount   = "maxMemberCount"
	fieldMuteAllMembers   = "muteAllMembers"
	fieldAppDefinedData   = "appDefinedData"
)

// infoDiff is the declared base-info fields that differ from status: only
// those go into modify_group_base_info. A nil spec field is unmanaged.
type infoDiff struct {
	Name, Introduction, Notification, FaceURL *string
}

func (d infoDiff) fields() []string {
	var out []string
	for _, f := range []struct {
		n string
		v *string
	}{{fieldName, d.Name}, {fieldIntroduction, d.Introduction}, {fieldNotification, d.Notification}, {fieldFaceURL, d.FaceURL}} {
		if f.v != nil {
			out = append(out, f.n)
		}
	}
	return out
}

func (d infoDiff) empty() bool { return len(d.fields()) == 0 }

func diffInfo(spec *imv1alpha1.ChatGroupSpec, st *imv1alpha1.ChatGroupStatus) infoDiff {
	pick := func(want *string, have string) *string {
		if want == nil || *want == have {
			return nil
		}
		v := *want
		return &v
	}
	return infoDiff{
		Name:         pick(spec.Name, st.Name),
		Introduction: pick(spec.Introduction, st.Introduction),
		Notification: pick(spec.Notification, st.Notification),
		FaceURL:      pick(spec.FaceURL, st.FaceURL),
	}
}

// attrDiff turns the observed map into the declared one: upsert holds the
// new and changed keys (modify_group_attr), remove the extra keys
// (delete_group_attr). Unset spec.attributes is unmanaged: no diff.
type attrDiff struct {
	upsert map[string]string
	remove []string
}

func (d attrDiff) empty() bool { return len(d.upsert) == 0 && len(d.remove) == 0 }

func diffAttrs(spec *imv1alpha1.ChatGroupSpec, st *imv1alpha1.ChatGroupStatus) attrDiff {
	var d attrDiff
	if spec.Attributes == nil {
		return d
	}
	for k, v := range spec.Attributes {
		if have, ok := st.Attributes[k]; !ok || have != string(v) {
			if d.upsert == nil {
				d.upsert = map[string]string{}
			}
			d.upsert[k] = string(v)
		}
	}
	for k := range st.Attributes {
		if _, ok := spec.Attributes[k]; !ok {
			d.remove = append(d.remove, k)
		}
	}
	sort.Strings(d.remove)
	return d
}

// settingsDiff is the declared settings that differ from status, in the
// form status records them (AppData: the declared keys whose value
// differs); they go into the same modify_group_base_info as the info
// fields.
type settingsDiff groupstatus.Settings

func (d settingsDiff) fields() []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(d.ApplyJoinOption != nil, fieldApplyJoinOption)
	add(d.InviteJoinOption != nil, fieldInviteJoinOption)
	add(d.MaxMemberCount != nil, fieldMaxMemberCount)
	add(d.MuteAllMembers != nil, fieldMuteAllMembers)
	add(len(d.AppData) > 0, fieldAppDefinedData)
	return out
}

func (d settingsDiff) empty() bool { return len(d.fields()) == 0 }

func diffSettings(spec *imv1alpha1.ChatGroupSpec, st *imv1alpha1.ChatGroupStatus) settingsDiff {
	var d settingsDiff
	if v := spec.ApplyJoinOption; v != "" && v != st.ApplyJoinOption {
		d.ApplyJoinOption = &v
	}
	if v := spec.InviteJoinOption; v != "" && v != st.InviteJoinOption {
		d.InviteJoinOption = &v
	}
	if spec.MaxMemberCount != nil && int64(*spec.MaxMemberCount) != st.MaxMemberCount {
		v := int64(*spec.MaxMemberCount)
		d.MaxMemberCount = &v
	}
	if spec.MuteAllMembers != nil && (st.MuteAllMembers == nil || *st.MuteAllMembers != *spec.MuteAllMembers) {
		v := *spec.MuteAllMembers
		d.MuteAllMembers = &v
	}
	for k, v := range spec.AppDefinedData {
		if have, ok := st.AppDefinedData[k]; !ok || have != string(v) {
			if d.AppData == nil {
				d.AppData = map[string]string{}
			}
			d.AppData[k] = string(v)
		}
	}
	return d
}

// appDataKeys are the custom fields a read for cgs asks for (sorted, each
// once): get_group_info returns only those it names. The declared ones, and
// those status shows already (so a field once declared stays current after
// it is no longer).
func appDataKeys(cgs ...*imv1alpha1.ChatGroup) []string {
	var keys []string
	for _, cg := range cgs {
		for k := range cg.Spec.AppDefinedData {
			keys = append(keys, k)
		}
		for k := range cg.Status.AppDefinedData {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return slices.Compact(keys)
}

// drift lists the declared fields whose observed value differs.
func drift(spec *imv1alpha1.ChatGroupSpec, st *imv1alpha1.ChatGroupStatus) []string {
	out := diffInfo(spec, st).fields()
	out = append(out, diffSettings(spec, st).fields()...)
	if !diffAttrs(spec, st).empty() {
		out = append(out, fieldAttributes)
	}
	return out
}

// specAttrs is spec.attributes as the plain map status holds (nil when empty,
// as status omits an empty map).
func specAttrs(spec *imv1alpha1.ChatGroupSpec) map[string]string {
	if len(spec.Attributes) == 0 {
		return nil
	}
	m := make(map[string]string, len(spec.Attributes))
	for k, v := range spec.Attributes {
		m[k] = string(v)
	}
	return m
}
