package controllers

import (
	"slices"
	"testing"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

func TestDiffOnlyDeclaredFields(t *testing.T) {
	spec := imv1alpha1.ChatGroupSpec{Name: ptrTo("a"), Notification: ptrTo(""),
		Attributes: map[string]imv1alpha1.AttributeValue{"k": "v", "same": "s"}}
	st := imv1alpha1.ChatGroupStatus{Name: "a", Introduction: "unmanaged", Notification: "x",
		Attributes: map[string]string{"same": "s", "extra": "e", "k": "old"}}
	d := diffInfo(&spec, &st)
	if f := d.fields(); len(f) != 1 || f[0] != "notification" || *d.Notification != "" {
		t.Fatalf("info diff %v", f)
	}
	a := diffAttrs(&spec, &st)
	if len(a.upsert) != 1 || a.upsert["k"] != "v" || len(a.remove) != 1 || a.remove[0] != "extra" {
		t.Fatalf("attr diff %+v", a)
	}
	spec.Attributes = nil
	if !diffAttrs(&spec, &st).empty() {
		t.Fatal("unset attributes are not managed")
	}
}

// Settings: unset is unmanaged; only differing declared settings are
// pushed; an undeclared custom field is never part of a push.
func TestSettingsDiffOnlyDeclared(t *testing.T) {
	st := imv1alpha1.ChatGroupStatus{ApplyJoinOption: "FreeAccess", InviteJoinOption: "NeedPermission",
		MaxMemberCount: 200, MuteAllMembers: ptrTo(false),
		AppDefinedData: map[string]string{"tier": "gold", "other": "theirs"}}
	var spec imv1alpha1.ChatGroupSpec
	if d := diffSettings(&spec, &st); !d.empty() {
		t.Fatalf("nothing declared, diff %v", d.fields())
	}
	spec = imv1alpha1.ChatGroupSpec{ApplyJoinOption: "FreeAccess", InviteJoinOption: "DisableInvite",
		MaxMemberCount: ptrTo[int32](200), MuteAllMembers: ptrTo(true),
		AppDefinedData: map[string]imv1alpha1.AppDefinedValue{"tier": "gold", "new": "n"}}
	d := diffSettings(&spec, &st)
	if got, want := d.fields(), []string{fieldInviteJoinOption, fieldMuteAllMembers, fieldAppDefinedData}; !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	if len(d.AppData) != 1 || d.AppData["new"] != "n" {
		t.Fatalf("custom fields pushed %v, want only the changed declared one", d.AppData)
	}
	// Never read: mute-all unknown counts as different when declared.
	st.MuteAllMembers = nil
	spec.MuteAllMembers = ptrTo(false)
	if d := diffSettings(&spec, &st); d.MuteAllMembers == nil || *d.MuteAllMembers {
		t.Fatalf("unknown mute-all with false declared: %+v", d.MuteAllMembers)
	}
	if keys := appDataKeys(&imv1alpha1.ChatGroup{Spec: spec, Status: st}); !slices.Equal(keys, []string{"new", "other", "tier"}) {
		t.Fatalf("read keys %v: declared and shown ones, sorted", keys)
	}
}
