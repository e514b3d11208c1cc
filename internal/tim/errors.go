package tim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error is a failed REST call: either the IM backend answered with a FAIL
// envelope (Code and Info set, HTTPStatus 200), or the network path answered
// with another HTTP status (HTTPStatus set), or no answer came at all (Err
// set). Its text never contains the request URL, the UserSig or the key.
type Error struct {
	// Command is "<service>/<command>", e.g. "group_open_http_svc/create_group".
	Command string
	// Code is the IM ErrorCode; 0 when the failure is not an IM answer.
	Code int
	// Info is the IM ErrorInfo, or a short description of the failure.
	Info string
	// HTTPStatus is the status received; 0 when no response arrived.
	HTTPStatus int
	// Err is the transport failure (connection refused, timeout, ...),
	// stripped of the request URL; nil when a response arrived.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tim: ")
	b.WriteString(e.Command)
	switch {
	case e.Err != nil:
		b.WriteString(": transport: ")
		b.WriteString(e.Err.Error())
	case e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK:
		fmt.Fprintf(&b, ": HTTP %d", e.HTTPStatus)
		if e.Info != "" {
			b.WriteString(": ")
			b.WriteString(e.Info)
		}
	default:
		fmt.Fprintf(&b, ": error %d", e.Code)
		if e.Info != "" {
			b.WriteString(": ")
			b.WriteString(e.Info)
		}
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Codes groups the IM error codes each predicate recognises. They are
// exported so callers can log or count by class without duplicating lists.
var (
	// Group missing or disbanded (10010), or invalid group ID (10015).
	NotFoundCodes = []int{10010, 10015}
	// Group ID already used (10021), already used and the caller owns it (10025).
	AlreadyExistsCodes = []int{10021, 10025}
	// REST frequency limits (60007, 60011, 60018, 60019), group operation
	// frequency (10006), message frequency (10023) and attribute writes
	// beyond 5/s per group (10049): all clear by themselves after a while.
	RateLimitedCodes = []int{60007, 60011, 60018, 60019, 10006, 10023, 10049}
	// Account and signature problems: retrying cannot help, the key, the
	// admin identifier, the SDKAppID or the endpoint region must change.
	CredentialsCodes = []int{60004, 60005, 60006, 60010, 60012, 70050}
	// Invalid parameters, attribute limits (10045-10048) and missing
	// attribute key (10050).
	InvalidInputCodes = []int{10004, 10045, 10046, 10047, 10048, 10050}
	// Internal server error: the doc says to retry.
	TransientCodes = []int{10002}
)

// UserSig error codes 70001..70020 (expired, malformed, wrong key, identifier
// or app mismatch, key missing in this data center, app not found) are all
// credential failures; the range is checked rather than listed.
const (
	credentialsRangeLo = 70001
	credentialsRangeHi = 70020
)

func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

func hasCode(err error, codes []int) bool {
	e, ok := asError(err)
	if !ok || e.Code == 0 {
		return false
	}
	for _, c := range codes {
		if e.Code == c {
			return true
		}
	}
	return false
}

// IsNotFound reports a group that does not exist (or no longer does).
func IsNotFound(err error) bool { return hasCode(err, NotFoundCodes) }

// IsAlreadyExists reports a create with a group ID already in use; the
// caller may adopt the existing group.
func IsAlreadyExists(err error) bool { return hasCode(err, AlreadyExistsCodes) }

// IsRateLimited reports a frequency limit, including HTTP 429 from a proxy.
func IsRateLimited(err error) bool {
	if hasCode(err, RateLimitedCodes) {
		return true
	}
	e, ok := asError(err)
	return ok && e.HTTPStatus == http.StatusTooManyRequests
}

// IsCredentials reports that the admin identity itself is refused.
func IsCredentials(err error) bool {
	if hasCode(err, CredentialsCodes) {
		return true
	}
	e, ok := asError(err)
	return ok && e.Code >= credentialsRangeLo && e.Code <= credentialsRangeHi
}

// IsInvalidInput reports a request the backend will refuse however often it
// is sent.
func IsInvalidInput(err error) bool { return hasCode(err, InvalidInputCodes) }

// IsTransient reports a failure worth retrying as is: IM internal error
// 10002, an HTTP status other than 200 (the IM backend itself always answers
// 200, so any other status came from a proxy or load balancer on the way;
// 429 counts as rate limiting instead), or a network failure or client
// timeout. A failed certificate check is not transient.
func IsTransient(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	if e.Err != nil {
		var cv *tls.CertificateVerificationError
		return !errors.As(e.Err, &cv)
	}
	if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK && e.HTTPStatus != http.StatusTooManyRequests {
		return true
	}
	return hasCode(err, TransientCodes)
}

// retryable is the client's retry rule.
func retryable(err error) bool { return IsRateLimited(err) || IsTransient(err) }

// redactedError keeps a transport error's cause reachable for errors.Is/As
// (timeouts, context errors) while its text has secrets removed.
type redactedError struct {
	msg   string
	cause error
}

func (r *redactedError) Error() string { return r.msg }
func (r *redactedError) Unwrap() error { return r.cause }

// Timeout lets net.Error-style checks see through the wrapper.
func (r *redactedError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(r.cause, &t) && t.Timeout()
}
