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

// Class is what a failed call means to its caller: whether to retry, stop
// every call, or give up on this request.
type Class string

// The classes. An error that matches no row of Table and no rule of ClassOf
// has ClassNone: the caller treats it as an unexpected failure.
const (
	ClassNone Class = ""
	// ClassNotFound: the group does not exist (or no longer does).
	ClassNotFound Class = "NotFound"
	// ClassAlreadyExists: a create found the group ID in use.
	ClassAlreadyExists Class = "AlreadyExists"
	// ClassRateLimited: a frequency limit that clears by itself; retried
	// with backoff.
	ClassRateLimited Class = "RateLimited"
	// ClassCredentials: the admin identity is refused (key, admin account,
	// SDKAppID, region); no call can succeed until the configuration changes.
	ClassCredentials Class = "Credentials"
	// ClassAppUnavailable: the app itself may not call (disabled, package
	// expired, source IP not allowed); no call can succeed until someone
	// acts in the IM console. Callers stop calls as for ClassCredentials.
	ClassAppUnavailable Class = "AppUnavailable"
	// ClassRejected: this request will be refused however often it is
	// sent, until what it carries (the spec) changes: bad parameters, a
	// missing account, or an HTTP 4xx from the endpoint.
	ClassRejected Class = "Rejected"
	// ClassTransient: worth retrying as is.
	ClassTransient Class = "Transient"
)

// Row is one line of Table: an IM ErrorCode (or an inclusive range of
// them), or a non-200 HTTP status, with its class and meaning.
type Row struct {
	// Code is the IM ErrorCode; CodeLast, when set, ends an inclusive range.
	Code, CodeLast int
	// HTTPStatus is a non-200 status from the endpoint (Code is then 0).
	HTTPStatus int
	Class      Class
	// Meaning says what the backend means and what fixes it; it ends up in
	// condition messages, so it names the remedy.
	Meaning string
}

// Table is the only place IM error codes and HTTP statuses are classified;
// the Is* predicates and ClassOf read it, and docs/im-errors.md is checked
// against it by a test. Codes are from Tencent's "REST API common error
// codes" (679/131708), the group API error list and the UserSig error list.
var Table = []Row{
	// Group existence.
	{Code: 10010, Class: ClassNotFound, Meaning: "the group does not exist, or was disbanded"},
	{Code: 10015, Class: ClassNotFound, Meaning: "invalid group ID: no group has it"},
	{Code: 10021, Class: ClassAlreadyExists, Meaning: "the group ID is already used"},
	{Code: 10025, Class: ClassAlreadyExists, Meaning: "the group ID is already used and the admin account owns that group"},
	// Frequency limits: they clear by themselves after a while.
	{Code: 60007, Class: ClassRateLimited, Meaning: "REST call frequency over the limit"},
	{Code: 60011, Class: ClassRateLimited, Meaning: "SDKAppID request frequency over the limit"},
	{Code: 60018, Class: ClassRateLimited, Meaning: "too many requests; retry later"},
	{Code: 60019, Class: ClassRateLimited, Meaning: "too many requests; retry later"},
	{Code: 10006, Class: ClassRateLimited, Meaning: "group operation frequency limit"},
	{Code: 10023, Class: ClassRateLimited, Meaning: "message frequency limit"},
	{Code: 10049, Class: ClassRateLimited, Meaning: "group attribute writes over 5 per second per group"},
	{HTTPStatus: 429, Class: ClassRateLimited, Meaning: "HTTP 429 Too Many Requests from a proxy or gateway on the way"},
	// The admin identity is refused: the key, the admin account, the
	// SDKAppID or the endpoint's region must change.
	{Code: 60004, Class: ClassCredentials, Meaning: "account or signature error in the request: check the admin identifier and the secret key"},
	{Code: 60005, Class: ClassCredentials, Meaning: "account or signature error in the request: check the admin identifier and the secret key"},
	{Code: 60006, Class: ClassCredentials, Meaning: "the SDKAppID is not valid: check --sdkappid"},
	{Code: 60010, Class: ClassCredentials, Meaning: "the call needs the app admin: the admin identifier is not an app admin"},
	{Code: 60012, Class: ClassCredentials, Meaning: "the request carries no SDKAppID"},
	{Code: 70001, CodeLast: 70020, Class: ClassCredentials, Meaning: "the admin UserSig is refused (expired, malformed, signed with another key, for another account or app, or the app is not in this data center): check the secret key, the SDKAppID and the endpoint's region"},
	{Code: 70050, Class: ClassCredentials, Meaning: "UserSig verification failed and is rate-limited for one minute: check the secret key"},
	// The app may not call at all: someone must act in the IM console.
	{Code: 60016, Class: ClassAppUnavailable, Meaning: "the SDKAppID is disabled: re-enable the app in the IM console"},
	{Code: 60020, Class: ClassAppUnavailable, Meaning: "the app's Pro edition package has expired and is suspended: renew it in the IM console (effective about 5 minutes after purchase)"},
	{Code: 60021, Class: ClassAppUnavailable, Meaning: "REST calls from this source IP are not allowed: add the operator's egress IP to the app's IP allowlist in the IM console"},
	// This request will be refused however often it is sent.
	{Code: 10004, Class: ClassRejected, Meaning: "invalid parameter; the error info names it"},
	{Code: 10019, Class: ClassRejected, Meaning: "an account in the request does not exist in IM (for example spec.owner was never imported)"},
	{Code: 10045, Class: ClassRejected, Meaning: "a group attribute key is longer than 32 bytes"},
	{Code: 10046, Class: ClassRejected, Meaning: "a group attribute value is longer than 4000 bytes"},
	{Code: 10047, Class: ClassRejected, Meaning: "more than 16 group attribute keys"},
	{Code: 10048, Class: ClassRejected, Meaning: "the group attributes total more than 16000 bytes"},
	{Code: 10050, Class: ClassRejected, Meaning: "the group attribute key does not exist"},
	// The IM backend itself always answers HTTP 200, so these come from a
	// proxy, a gateway or a wrong URL; resending the same request cannot help.
	{HTTPStatus: 400, Class: ClassRejected, Meaning: "HTTP 400 Bad Request from the endpoint (not the IM backend, which answers 200): check --im-endpoint and any proxy on the way"},
	{HTTPStatus: 401, Class: ClassRejected, Meaning: "HTTP 401 Unauthorized from the endpoint (a proxy or gateway, not the IM backend): check --im-endpoint and any proxy on the way"},
	{HTTPStatus: 403, Class: ClassRejected, Meaning: "HTTP 403 Forbidden from the endpoint (a proxy or gateway, not the IM backend): check --im-endpoint and any proxy on the way"},
	{HTTPStatus: 404, Class: ClassRejected, Meaning: "HTTP 404 Not Found from the endpoint (a wrong URL or path, not the IM backend): check --im-endpoint"},
	// Worth retrying as is.
	{Code: 10002, Class: ClassTransient, Meaning: "IM internal error; the documentation says to retry"},
	{Code: 60008, Class: ClassTransient, Meaning: "the IM service timed out; the documentation says to retry"},
}

func asError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// Lookup returns the row of Table that err matches, if any.
func Lookup(err error) (Row, bool) {
	e, ok := asError(err)
	if !ok || e.Err != nil {
		return Row{}, false
	}
	for _, r := range Table {
		switch {
		case r.HTTPStatus != 0:
			if e.HTTPStatus == r.HTTPStatus {
				return r, true
			}
		case e.Code != 0 && (e.HTTPStatus == 0 || e.HTTPStatus == http.StatusOK):
			if e.Code == r.Code || (r.CodeLast != 0 && e.Code >= r.Code && e.Code <= r.CodeLast) {
				return r, true
			}
		}
	}
	return Row{}, false
}

// ClassOf classifies err: by its row in Table, else a transport failure or
// client timeout is ClassTransient (a failed certificate check is not: it
// will fail again), and any other non-200 HTTP status, which only a proxy
// or load balancer on the way can send, is ClassTransient too. Anything
// else is ClassNone.
func ClassOf(err error) Class {
	e, ok := asError(err)
	if !ok {
		return ClassNone
	}
	if e.Err != nil {
		var cv *tls.CertificateVerificationError
		if errors.As(e.Err, &cv) {
			return ClassNone
		}
		return ClassTransient
	}
	if r, ok := Lookup(err); ok {
		return r.Class
	}
	if e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK {
		return ClassTransient
	}
	return ClassNone
}

// Meaning returns what err's row in Table says, or "" when none matches.
func Meaning(err error) string {
	r, _ := Lookup(err)
	return r.Meaning
}

// IsNotFound reports a group that does not exist (or no longer does).
func IsNotFound(err error) bool { return ClassOf(err) == ClassNotFound }

// IsAlreadyExists reports a create with a group ID already in use; the
// caller may adopt the existing group.
func IsAlreadyExists(err error) bool { return ClassOf(err) == ClassAlreadyExists }

// IsRateLimited reports a frequency limit, including HTTP 429 from a proxy.
func IsRateLimited(err error) bool { return ClassOf(err) == ClassRateLimited }

// IsCredentials reports that no call can succeed until someone changes the
// configuration or the app in the IM console: the admin identity is refused
// (ClassCredentials) or the app may not call at all (ClassAppUnavailable).
// Callers stop calling; Meaning(err) says which.
func IsCredentials(err error) bool {
	c := ClassOf(err)
	return c == ClassCredentials || c == ClassAppUnavailable
}

// IsInvalidInput reports a request the backend will refuse however often it
// is sent (ClassRejected): bad parameters, a missing account, an HTTP 4xx.
func IsInvalidInput(err error) bool { return ClassOf(err) == ClassRejected }

// IsTransient reports a failure worth retrying as is (ClassTransient).
func IsTransient(err error) bool { return ClassOf(err) == ClassTransient }

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
