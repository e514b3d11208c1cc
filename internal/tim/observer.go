package tim

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
)

// Observer is told what the client does, for metrics. Every string it
// receives comes from a small fixed set (or, for IM codes, from the codes
// the backend answers with), never from the URL, the UserSig or the key, so
// it can be used as a metric label as is. Its methods are called from the
// caller's goroutine, concurrently across calls, and must not block.
type Observer interface {
	// Attempt reports one HTTP attempt of command ("<service>/<command>",
	// as in Error.Command) with its result (one of the Result* values,
	// "http_<status>" for a non-200 answer, or the IM ErrorCode in decimal)
	// and how long it took on Config.Now's clock. A call makes one attempt
	// plus one per retry.
	Attempt(command, result string, d time.Duration)
	// Retry reports that the client decided to send command again, before
	// any backoff sleep (so a retry whose sleep is cut short by the context
	// still counts); reason is one of the Retry* values.
	Retry(command, reason string)
	// RateLimitWait reports time spent waiting for a token of the client's
	// own bucket (Config.QPS). It is called only when a call had to wait,
	// also when the wait was cut short by the context, so its count is the
	// number of throttled attempts, not of all attempts.
	RateLimitWait(d time.Duration)
}

// Results of an attempt other than an IM error code.
const (
	ResultOK = "ok"
	// ResultCanceled: the caller's context ended before an answer was read.
	ResultCanceled = "canceled"
	// ResultNetwork: no answer (connection failure, client timeout, TLS).
	ResultNetwork = "network"
	// ResultBadResponse: HTTP 200 that is not a usable envelope: not JSON,
	// too large, a FAIL without an ErrorCode, or fields that do not decode.
	ResultBadResponse = "bad_response"
	// ResultError: the request could not be built; a validated Config makes
	// this unreachable, but the label set must still cover it.
	ResultError = "error"
	// resultHTTPPrefix + status, e.g. "http_502", for a non-200 answer.
	resultHTTPPrefix = "http_"
)

// Reasons for a retry.
const (
	RetryRateLimited = "rate_limited" // IsRateLimited
	RetryTransient   = "transient"    // IsTransient
	// RetryUserSigExpired: the backend refused the ticket as expired (70001)
	// and the client retries at once with a fresh one.
	RetryUserSigExpired = "usersig_expired"
)

type nopObserver struct{}

func (nopObserver) Attempt(string, string, time.Duration) {}
func (nopObserver) Retry(string, string)                  {}
func (nopObserver) RateLimitWait(time.Duration)           {}

// attemptResult maps what once returned onto the bounded result set. It
// reads the error's fields, never its text, which may quote the backend.
func attemptResult(err error) string {
	if err == nil {
		return ResultOK
	}
	e, ok := asError(err)
	if !ok {
		// once returns something other than *Error only for the caller's
		// context ending.
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return ResultCanceled
		}
		return ResultError
	}
	switch {
	case e.Err != nil:
		return ResultNetwork
	case e.HTTPStatus != 0 && e.HTTPStatus != http.StatusOK:
		return resultHTTPPrefix + strconv.Itoa(e.HTTPStatus)
	case e.Code != 0:
		return strconv.Itoa(e.Code)
	case e.HTTPStatus == http.StatusOK:
		return ResultBadResponse
	}
	return ResultError
}

// retryReason assumes err passed retryable, which admits exactly these two
// classes.
func retryReason(err error) string {
	if IsRateLimited(err) {
		return RetryRateLimited
	}
	return RetryTransient
}
