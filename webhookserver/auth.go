package webhookserver

import (
	"errors"
	"strconv"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
)

// authenticate applies the SdkAppid and Sign checks to the query's values.
// It returns the HTTP status and a message that never contains the token or
// Sign.
func (h *handler) authenticate(sdkAppID, sign, requestTime string, now time.Time) (int, string) {
	id, err := strconv.ParseUint(sdkAppID, 10, 64)
	if err != nil || id != h.opts.SDKAppID {
		return 403, "SdkAppid missing or not this app's"
	}
	if h.opts.Token == "" {
		return 0, ""
	}
	err = callbacksign.Check(h.opts.Token, sign, requestTime, now, h.opts.MaxSkew)
	switch {
	case err == nil:
		return 0, ""
	case errors.Is(err, callbacksign.ErrMissing):
		return 401, "Sign or RequestTime missing"
	case errors.Is(err, callbacksign.ErrBadTime):
		return 401, "RequestTime is not a Unix time in seconds"
	case errors.Is(err, callbacksign.ErrStale):
		return 401, "RequestTime outside the allowed skew"
	default:
		return 401, "Sign does not match"
	}
}
