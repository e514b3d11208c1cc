package controllers

import (
	"sort"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Field names used in condition messages and Events; they are the spec's
// JSON names so users can map them back to their manifests.
const (
	fieldName         = "name"
	fieldIntroduction = "introduction"
	fieldNotification = "notification"
	fieldFaceURL      = "faceURL"
	fieldAttributes   = "attributes"
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

// drift lists the declared fields whose observed value differs.
func drift(spec *imv1alpha1.ChatGroupSpec, st *imv1alpha1.ChatGroupStatus) []string {
	out := diffInfo(spec, st).fields()
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
