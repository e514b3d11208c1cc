// Package eventtext makes untrusted text (account IDs, platform names from
// IM callbacks) safe to put in a Kubernetes Event note: bounded in length,
// valid UTF-8, and free of control and formatting characters that could
// forge line breaks in logs or reorder text on a terminal.
package eventtext

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxBytes is the budget Bound applies. IM account IDs are at most 32
// bytes and platform names are short words, so genuine values always fit;
// anything longer came from a forged or broken callback.
const MaxBytes = 64

// ellipsis marks text that was cut.
const ellipsis = "…"

// Bound returns s cleaned and cut to at most MaxBytes bytes; see BoundTo.
func Bound(s string) string { return BoundTo(s, MaxBytes) }

// BoundTo returns s with control (Cc) and format (Cf: bidi overrides,
// zero-width characters) runes removed, invalid UTF-8 replaced by U+FFFD,
// and, when the result is longer than n bytes, cut on a rune boundary with
// "…" appended so that the whole stays within n bytes.
func BoundTo(s string, n int) string {
	if n <= 0 {
		return ""
	}
	var b strings.Builder
	b.Grow(min(len(s), n+len(ellipsis)))
	cut := -1 // byte length of the kept text where an ellipsis still fits
	for _, r := range s {
		// Ranging over a string yields utf8.RuneError for each invalid byte.
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		w := utf8.RuneLen(r)
		if b.Len()+w > n {
			if cut < 0 {
				return "" // n is too small for even one rune and the ellipsis
			}
			return b.String()[:cut] + ellipsis
		}
		b.WriteRune(r)
		if b.Len()+len(ellipsis) <= n {
			cut = b.Len()
		}
	}
	return b.String()
}
