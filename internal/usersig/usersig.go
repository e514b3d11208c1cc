// Package usersig verifies Tencent Cloud IM UserSig tickets in the
// TLSSigAPIv2 format, for the fake IM backend.
//
// The operator's REST client signs its admin UserSig with Tencent's own
// library (github.com/tencentyun/tls-sig-api-v2-golang). This package keeps
// what the fake needs and the library lacks: verification with distinct
// errors that the fake maps to distinct IM codes (70001, 70003, 70009, 70013,
// 70014), decoding bounded against hostile tickets (length, inflated size),
// and Generate with a chosen issue time, so tests on a fake clock can make
// tickets (the library signs only at the wall clock). It follows the library
// byte for byte where it matters: the signed string, the JSON keys, zlib and
// the URL-safe base64 alphabet; TestVendorLibraryInterop checks the two
// against each other both ways. The userbuf variant (TRTC private map keys)
// is not needed by IM REST calls and is not implemented.
package usersig

import (
	"bytes"
	"compress/zlib"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors returned (possibly wrapped) by Verify and Decode. The fake
// IM backend maps each one to a distinct IM error code (70003, 70014, 70013,
// 70001, 70009), which is why they are kept apart instead of one "invalid".
var (
	ErrMalformed          = errors.New("usersig: malformed ticket")
	ErrSDKAppIDMismatch   = errors.New("usersig: sdkappid does not match")
	ErrIdentifierMismatch = errors.New("usersig: identifier does not match")
	ErrExpired            = errors.New("usersig: ticket expired")
	ErrSigMismatch        = errors.New("usersig: signature does not match")
)

// Version is the only ticket version this package produces and accepts.
const Version = "2.0"

// maxTicketLen bounds the work Decode does on hostile input; real tickets are
// a few hundred bytes.
const maxTicketLen = 8 << 10

// encoding is standard base64 with the three URL-unsafe characters swapped
// ('+' -> '*', '/' -> '-', '=' -> '_'), so a ticket can sit in a query string
// without escaping.
var encoding = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-").WithPadding('_')

// Claims is the decoded, not yet trusted, content of a ticket.
type Claims struct {
	Version    string
	Identifier string
	SDKAppID   uint64
	// Time is when the ticket was issued, Unix seconds.
	Time int64
	// Expire is the validity period in seconds counted from Time (a
	// duration, not an absolute instant).
	Expire int64
	// Sig is the HMAC-SHA256 carried by the ticket.
	Sig []byte
}

// IssuedAt returns the issue instant.
func (c Claims) IssuedAt() time.Time { return time.Unix(c.Time, 0) }

// ExpiresAt returns the last instant at which the ticket is still valid.
func (c Claims) ExpiresAt() time.Time { return time.Unix(c.Time+c.Expire, 0) }

// wireClaims carries the JSON key names; json.Marshal of a []byte gives the
// standard base64 the format requires for TLS.sig.
type wireClaims struct {
	Version    string `json:"TLS.ver"`
	Identifier string `json:"TLS.identifier"`
	SDKAppID   uint64 `json:"TLS.sdkappid"`
	Expire     int64  `json:"TLS.expire"`
	Time       int64  `json:"TLS.time"`
	Sig        []byte `json:"TLS.sig"`
}

// Generate issues a ticket for identifier, valid for expire from now.
//
// expire is rounded down to whole seconds because the format counts seconds;
// anything under one second is refused rather than silently producing a
// ticket that is already useless.
func Generate(sdkAppID uint64, key, identifier string, expire time.Duration, now time.Time) (string, error) {
	if sdkAppID == 0 {
		return "", errors.New("usersig: sdkappid must not be zero")
	}
	if key == "" {
		return "", errors.New("usersig: secret key must not be empty")
	}
	if err := checkIdentifier(identifier); err != nil {
		return "", err
	}
	secs := int64(expire / time.Second)
	if secs < 1 {
		return "", fmt.Errorf("usersig: expire %v is shorter than one second", expire)
	}
	c := wireClaims{
		Version:    Version,
		Identifier: identifier,
		SDKAppID:   sdkAppID,
		Expire:     secs,
		Time:       now.Unix(),
	}
	c.Sig = mac(key, identifier, sdkAppID, c.Time, c.Expire)
	doc, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("usersig: encode: %w", err)
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(doc); err != nil {
		return "", fmt.Errorf("usersig: compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("usersig: compress: %w", err)
	}
	return encoding.EncodeToString(buf.Bytes()), nil
}

// Decode parses a ticket without checking its signature. It is meant for
// diagnostics and for callers that need the issue or expiry time of a ticket
// they produced themselves; never trust its result for authentication.
func Decode(ticket string) (Claims, error) {
	if ticket == "" || len(ticket) > maxTicketLen {
		return Claims{}, fmt.Errorf("%w: length %d", ErrMalformed, len(ticket))
	}
	raw, err := encoding.DecodeString(ticket)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: base64: %w", ErrMalformed, err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: zlib: %w", ErrMalformed, err)
	}
	defer zr.Close()
	// Bound the inflated size too: a tiny ticket must not expand into
	// megabytes of JSON.
	doc, err := io.ReadAll(io.LimitReader(zr, 4*maxTicketLen+1))
	if err != nil {
		return Claims{}, fmt.Errorf("%w: zlib: %w", ErrMalformed, err)
	}
	if len(doc) > 4*maxTicketLen {
		return Claims{}, fmt.Errorf("%w: inflated ticket too large", ErrMalformed)
	}
	var w wireClaims
	if err := json.Unmarshal(doc, &w); err != nil {
		return Claims{}, fmt.Errorf("%w: json: %w", ErrMalformed, err)
	}
	if w.Version != Version {
		return Claims{}, fmt.Errorf("%w: version %q", ErrMalformed, w.Version)
	}
	if len(w.Sig) != sha256.Size {
		return Claims{}, fmt.Errorf("%w: signature length %d", ErrMalformed, len(w.Sig))
	}
	return Claims{
		Version:    w.Version,
		Identifier: w.Identifier,
		SDKAppID:   w.SDKAppID,
		Time:       w.Time,
		Expire:     w.Expire,
		Sig:        w.Sig,
	}, nil
}

// Verify checks that ticket was issued by the holder of key for sdkAppID and
// identifier and is still valid at now.
//
// The checks run in the official library's order (app, identifier, expiry,
// signature) so that the error a client sees from the fake backend matches
// the one the real backend would give for the same ticket. The signature is
// compared in constant time.
func Verify(sdkAppID uint64, key, identifier, ticket string, now time.Time) error {
	c, err := Decode(ticket)
	if err != nil {
		return err
	}
	if c.SDKAppID != sdkAppID {
		return fmt.Errorf("%w: ticket for %d", ErrSDKAppIDMismatch, c.SDKAppID)
	}
	if c.Identifier != identifier {
		return ErrIdentifierMismatch
	}
	if now.Unix() > c.Time+c.Expire {
		return fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt().UTC().Format(time.RFC3339))
	}
	want := mac(key, c.Identifier, c.SDKAppID, c.Time, c.Expire)
	if !hmac.Equal(want, c.Sig) {
		return ErrSigMismatch
	}
	return nil
}

// mac computes the HMAC-SHA256 over the exact text the official library signs.
func mac(key, identifier string, sdkAppID uint64, issued, expire int64) []byte {
	var b strings.Builder
	b.WriteString("TLS.identifier:")
	b.WriteString(identifier)
	b.WriteString("\nTLS.sdkappid:")
	b.WriteString(strconv.FormatUint(sdkAppID, 10))
	b.WriteString("\nTLS.time:")
	b.WriteString(strconv.FormatInt(issued, 10))
	b.WriteString("\nTLS.expire:")
	b.WriteString(strconv.FormatInt(expire, 10))
	b.WriteString("\n")
	h := hmac.New(sha256.New, []byte(key))
	h.Write([]byte(b.String()))
	return h.Sum(nil)
}

// checkIdentifier refuses identifiers that would make the signed text
// ambiguous (a newline could forge another "TLS.x:" line).
func checkIdentifier(id string) error {
	if id == "" {
		return errors.New("usersig: identifier must not be empty")
	}
	if strings.ContainsAny(id, "\n\r") {
		return errors.New("usersig: identifier must not contain line breaks")
	}
	return nil
}
