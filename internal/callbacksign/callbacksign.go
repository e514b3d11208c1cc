// Package callbacksign computes and checks the Sign parameter that Tencent
// Cloud IM adds to callback URLs when callback authentication is enabled.
//
// The scheme is plain SHA-256 (not HMAC) of the token followed by the
// RequestTime decimal string, as lower-case hex. It lives in its own package
// because both sides need the identical rule: the fake IM backend signs the
// callbacks it sends and the operator's webhook server checks them.
package callbacksign

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Errors returned by Check. They are separate so a receiver can count replay
// attempts apart from forgeries.
var (
	ErrMissing = errors.New("callbacksign: Sign or RequestTime missing")
	ErrBadTime = errors.New("callbacksign: RequestTime is not a Unix time in seconds")
	ErrStale   = errors.New("callbacksign: RequestTime outside the allowed skew")
	ErrBadSign = errors.New("callbacksign: Sign does not match")
)

// TokenFrom is the callback token stored in b (a file or a Secret's
// value): trailing line breaks, as an editor or `echo` leaves them, are
// dropped; anything else is part of the token, as IM takes it.
func TokenFrom(b []byte) string { return strings.TrimRight(string(b), "\r\n") }

// Sign returns hex(sha256(token + requestTime)) in lower case.
func Sign(token, requestTime string) string {
	sum := sha256.Sum256([]byte(token + requestTime))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether sign is the signature of requestTime under token.
// The comparison takes the same time wherever the strings differ, so the
// expected signature cannot be learned byte by byte; hex digits are accepted
// in either case because some proxies upper-case query values.
func Verify(token, requestTime, sign string) bool {
	want := Sign(token, requestTime)
	got := []byte(sign)
	if len(got) != len(want) {
		return false
	}
	for i, c := range got {
		if 'A' <= c && c <= 'F' {
			got[i] = c + ('a' - 'A')
		}
	}
	return subtle.ConstantTimeCompare([]byte(want), got) == 1
}

// Check is what a callback receiver needs: both parameters present, the
// RequestTime within maxSkew of now (either direction, against replays and
// against a receiver whose clock runs late), and the signature right. A
// maxSkew of zero or less disables the freshness check.
//
// Tencent documents no freshness window for IM; its LiveKit callbacks, which
// use the same scheme, reject requests older than one minute.
func Check(token, sign, requestTime string, now time.Time, maxSkew time.Duration) error {
	if sign == "" || requestTime == "" {
		return ErrMissing
	}
	secs, err := strconv.ParseInt(requestTime, 10, 64)
	if err != nil || secs < 0 {
		return ErrBadTime
	}
	if maxSkew > 0 {
		// Compare in whole seconds: a Duration would overflow (and wrap
		// negative) for a RequestTime centuries away, e.g. milliseconds.
		skew := now.Unix() - secs
		if skew < 0 {
			skew = -skew
		}
		if skew > int64(maxSkew/time.Second) {
			return fmt.Errorf("%w: %ds > %v", ErrStale, skew, maxSkew)
		}
	}
	// Check the signature last, so an error never hints that a stale
	// request carried a valid one.
	if !Verify(token, requestTime, sign) {
		return ErrBadSign
	}
	return nil
}
