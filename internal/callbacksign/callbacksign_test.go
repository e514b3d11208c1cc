package callbacksign

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The example from the IM callback overview (1047/34354, "Security
// considerations"). The older English copy's token "xxxyyy" is a doc typo.
const (
	docToken = "xxxxyyyy"
	docTime  = "1669872112"
	docSign  = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
)

func TestSignDocumentedExample(t *testing.T) {
	if got := Sign(docToken, docTime); got != docSign {
		t.Fatalf("Sign = %s, want %s", got, docSign)
	}
	if Sign("xxxyyy", docTime) == docSign {
		t.Fatal("the typo token from the old doc must not produce the documented sign")
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name, token, rt, sign string
		want                  bool
	}{
		{"documented", docToken, docTime, docSign, true},
		{"upper-case hex", docToken, docTime, strings.ToUpper(docSign), true},
		{"other time", docToken, "1669872113", docSign, false},
		{"other token", "xxxxyyyz", docTime, docSign, false},
		{"truncated", docToken, docTime, docSign[:63], false},
		{"empty", docToken, docTime, "", false},
		{"one digit off", docToken, docTime, docSign[:63] + "0", false},
	}
	for _, tt := range tests {
		if got := Verify(tt.token, tt.rt, tt.sign); got != tt.want {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	at := time.Unix(1669872112, 0)
	tests := []struct {
		name     string
		sign, rt string
		now      time.Time
		skew     time.Duration
		want     error
	}{
		{"ok", docSign, docTime, at, time.Minute, nil},
		{"ok at edge of skew", docSign, docTime, at.Add(time.Minute), time.Minute, nil},
		{"ok receiver clock behind", docSign, docTime, at.Add(-time.Minute), time.Minute, nil},
		{"stale", docSign, docTime, at.Add(time.Minute + time.Second), time.Minute, ErrStale},
		{"future", docSign, docTime, at.Add(-2 * time.Minute), time.Minute, ErrStale},
		{"skew disabled", docSign, docTime, at.Add(240 * time.Hour), 0, nil},
		{"missing sign", "", docTime, at, time.Minute, ErrMissing},
		{"missing time", docSign, "", at, time.Minute, ErrMissing},
		{"time not a number", docSign, "16698721l2", at, time.Minute, ErrBadTime},
		{"milliseconds are not seconds", Sign(docToken, "1669872112000"), "1669872112000", at, time.Minute, ErrStale},
		{"bad sign", Sign("other", docTime), docTime, at, time.Minute, ErrBadSign},
	}
	for _, tt := range tests {
		err := Check(docToken, tt.sign, tt.rt, tt.now, tt.skew)
		if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: Check = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// A token read from a file or a Secret loses only trailing line breaks:
// inner and leading spaces are part of it, as IM takes it.
func TestTokenFrom(t *testing.T) {
	for in, want := range map[string]string{
		"tok":         "tok",
		"tok\n":       "tok",
		"tok\r\n\n":   "tok",
		" to k \n":    " to k ",
		"\n":          "",
		"":            "",
		"tok\nnext\n": "tok\nnext",
	} {
		if got := TokenFrom([]byte(in)); got != want {
			t.Errorf("TokenFrom(%q) = %q, want %q", in, got, want)
		}
	}
}
