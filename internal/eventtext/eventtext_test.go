package eventtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestBoundTo(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short text is kept", "alice", 64, "alice"},
		{"exactly the budget", strings.Repeat("a", 8), 8, strings.Repeat("a", 8)},
		{"one byte over: cut with an ellipsis", strings.Repeat("a", 9), 8, "aaaaa…"},
		{"multibyte runes are not split", "ééééé", 8, "éé…"}, // é is 2 bytes
		{"a 4-byte rune at the edge", "ab😀😀", 8, "ab…"},
		{"line breaks and tabs are removed", "ev\nil\r\tuser", 64, "eviluser"},
		{"escape sequences lose their ESC", "\x1b[31mred", 64, "[31mred"},
		{"bidi override and zero-width space are removed", "abc\u202edef\u200b", 64, "abcdef"},
		{"NUL and DEL are removed", "a\x00b\x7fc", 64, "abc"},
		{"invalid UTF-8 becomes U+FFFD", "a\xffb", 64, "a\uFFFDb"},
		{"empty", "", 64, ""},
		{"zero budget", "abc", 0, ""},
		{"budget below the ellipsis", "abcdef", 2, ""},
		{"budget below the ellipsis, text fits", "ab", 2, "ab"},
	}
	for _, tt := range tests {
		got := BoundTo(tt.in, tt.n)
		if got != tt.want {
			t.Errorf("%s: BoundTo(%q, %d) = %q, want %q", tt.name, tt.in, tt.n, got, tt.want)
		}
		if len(got) > max(tt.n, 0) || !utf8.ValidString(got) {
			t.Errorf("%s: %q is over budget or not UTF-8", tt.name, got)
		}
	}
}

func TestBoundUsesMaxBytes(t *testing.T) {
	long := strings.Repeat("x", 10<<20)
	got := Bound(long)
	if len(got) > MaxBytes || !strings.HasSuffix(got, "…") {
		t.Fatalf("Bound of 10 MiB: %d bytes %q", len(got), got)
	}
	// A genuine IM account ID (up to 32 bytes) and platform pass unchanged.
	for _, s := range []string{strings.Repeat("u", 32), "RESTAPI", "Android", "user_001@example"} {
		if Bound(s) != s {
			t.Errorf("Bound(%q) = %q", s, Bound(s))
		}
	}
}

func FuzzBound(f *testing.F) {
	for _, s := range []string{"alice", "é\n😀\u202e", "\xff\xfe", strings.Repeat("é", 40)} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n % 200
		got := BoundTo(s, n)
		if len(got) > max(n, 0) || !utf8.ValidString(got) {
			t.Fatalf("BoundTo(%q, %d) = %q", s, n, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || r == '\u202e' {
				t.Fatalf("BoundTo(%q, %d) = %q keeps %U", s, n, got, r)
			}
		}
	})
}
