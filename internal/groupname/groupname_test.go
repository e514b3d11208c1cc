package groupname

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestFor(t *testing.T) {
	hash := func(id string) string { s := sha256.Sum256([]byte(id)); return hex.EncodeToString(s[:])[:8] }
	tests := []struct{ id, prefix string }{
		{"@TGS#2J4SZEAEL", "tgs-2j4szeael"},
		{"@TGS#_2J4SZEAEL", "tgs-2j4szeael"},
		{"my_group.01", "my-group-01"},
		{"--A--B--", "a-b"},
		{"@#$%", "group"},
		{"Zoë's group", "zo-s-group"},
		{strings.Repeat("x", 48), strings.Repeat("x", 48)},
		{strings.Repeat("abc#", 20), strings.TrimRight(strings.Repeat("abc-", 20)[:54], "-")},
	}
	for _, tt := range tests {
		got := For(tt.id)
		if want := tt.prefix + "-" + hash(tt.id); got != want {
			t.Errorf("For(%q) = %q, want %q", tt.id, got, want)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("For(%q) = %q is not a DNS label: %v", tt.id, got, errs)
		}
	}
	if For("@TGS#A") == For("tgs-a") {
		t.Error("IDs that sanitize alike must get different names")
	}
	if For("@TGS#_X") == For("@TGS#X") {
		t.Error("a Community ID and a Public ID that sanitize alike must get different names")
	}
}

// The default app keeps For's names; one group ID in two apps gets two
// names, each stable and a DNS label.
func TestForApp(t *testing.T) {
	const id = "@TGS#2J4SZEAEL"
	if got, want := ForApp("", id), For(id); got != want {
		t.Fatalf("ForApp(\"\", %q) = %q, want For's %q", id, got, want)
	}
	a, b := ForApp("prod", id), ForApp("dev", id)
	if a == b || a == For(id) || b == For(id) {
		t.Fatalf("names collide across apps: prod %q, dev %q, default %q", a, b, For(id))
	}
	if ForApp("prod", id) != a {
		t.Fatal("ForApp is not deterministic")
	}
	for _, n := range []string{a, b} {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("%q is not a DNS label: %v", n, errs)
		}
	}
}
