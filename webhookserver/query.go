package webhookserver

import (
	"net/url"
	"strings"
)

// Query parameters of a callback URL that the receiver reads.
const (
	paramSdkAppID    = "SdkAppid"
	paramCommand     = "CallbackCommand"
	paramSign        = "Sign"
	paramRequestTime = "RequestTime"
	paramPlatform    = "OptPlatform"
)

// callbackQuery holds the query parameters the receiver reads.
//
// url.Values would parse every parameter IM sends (contenttype, ClientIP
// and the rest) into a map of slices on every callback; only five are read,
// and under load building the map was a visible share of the request's CPU
// (make bench, pprof). The rules are url.ParseQuery's: pairs split on '&',
// a pair with ';' or a bad escape is skipped, keys and values are
// unescaped, and the first value of a key wins, as url.Values.Get does.
type callbackQuery struct {
	sdkAppID, command, sign, requestTime, platform string
	seen                                           uint8 // bit per field: first value wins
}

func parseCallbackQuery(raw string) callbackQuery {
	var q callbackQuery
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" || strings.Contains(pair, ";") {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, ok := unescape(key)
		if !ok {
			continue
		}
		var field *string
		var bit uint8
		switch key {
		case paramSdkAppID:
			field, bit = &q.sdkAppID, 1
		case paramCommand:
			field, bit = &q.command, 2
		case paramSign:
			field, bit = &q.sign, 4
		case paramRequestTime:
			field, bit = &q.requestTime, 8
		case paramPlatform:
			field, bit = &q.platform, 16
		default:
			continue
		}
		if q.seen&bit != 0 {
			continue
		}
		if v, ok := unescape(value); ok {
			*field, q.seen = v, q.seen|bit
		}
	}
	return q
}

// unescape decodes a query component, skipping the work when there is
// nothing to decode (IM's values are digits, hex and dotted names).
func unescape(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return s, true
	}
	v, err := url.QueryUnescape(s)
	return v, err == nil
}
