package webhookserver

import (
	"errors"
	"strconv"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
)

// authenticate selects the app by the query's SdkAppid and checks the Sign
// against that app's tokens (current and previous, so a rotation in the IM
// console refuses nothing). It returns the app, or the HTTP status and a
// message that never contains a token or Sign.
func (h *handler) authenticate(sdkAppID, sign, requestTime string, now time.Time) (*apps.App, int, string) {
	id, err := strconv.ParseUint(sdkAppID, 10, 64)
	if err != nil {
		return nil, 403, "SdkAppid missing or not a served app's"
	}
	app, ok := h.opts.Apps.BySDKAppID(id)
	if !ok {
		return nil, 403, "SdkAppid missing or not a served app's"
	}
	if app.SkipAuth {
		return app, 0, ""
	}
	if len(app.Tokens) == 0 {
		// Fail closed: an app whose token is not loaded (no Secret, no key
		// in it) accepts nothing rather than everything.
		return nil, 401, "the app has no callback token configured"
	}
	for _, token := range app.Tokens {
		err = callbacksign.Check(token, sign, requestTime, now, h.opts.MaxSkew)
		if err == nil {
			return app, 0, ""
		}
		if !errors.Is(err, callbacksign.ErrBadSign) {
			break // the same for every token: the query is wrong, not the token
		}
	}
	switch {
	case errors.Is(err, callbacksign.ErrMissing):
		return nil, 401, "Sign or RequestTime missing"
	case errors.Is(err, callbacksign.ErrBadTime):
		return nil, 401, "RequestTime is not a Unix time in seconds"
	case errors.Is(err, callbacksign.ErrStale):
		return nil, 401, "RequestTime outside the allowed skew"
	default:
		return nil, 401, "Sign does not match"
	}
}
