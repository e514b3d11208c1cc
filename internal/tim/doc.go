// Package tim is a small client for the Tencent Cloud IM ("Chat") server REST
// API, limited to the group calls the operator needs.
//
// Every call is a POST of JSON to
//
//	<endpoint>/v4/<service>/<command>?sdkappid=..&identifier=..&usersig=..&random=..&contenttype=json
//
// and the answer is always HTTP 200 with {"ActionStatus","ErrorCode","ErrorInfo"}
// plus the call's fields; a non-200 status only ever comes from the network
// path in between. The client turns a failed envelope into a *Error whose
// predicates (IsNotFound, IsAlreadyExists, IsRateLimited, IsCredentials,
// IsInvalidInput, IsTransient) are what callers branch on.
//
// All calls share one token bucket (the IM backend limits each app per API,
// and the operator must not starve itself), retry only rate-limited and
// transient failures with jittered exponential backoff, and reuse one admin
// UserSig until it nears expiry.
//
// Secrets never leave the client: the secret key, the UserSig and the request
// URL (whose query holds the UserSig) appear in no error, no log line and
// nothing given to Config.Observer.
//
// Config.Observer sees every HTTP attempt, retry and rate-limiter wait with
// bounded strings only, so that a metrics package can count them without
// this one depending on Prometheus.
//
// # Endpoints
//
// The app's data center fixes the endpoint; calling another region's domain
// fails with 70016/70020. The domains, with the backup domain Tencent
// documents for use when DNS is hijacked:
//
//	China           https://console.tim.qq.com         (backup adminapi.my-imcloud.com)
//	Singapore       https://adminapisgp.im.qcloud.com  (backup adminapisgp.my-imcloud.com)
//	Seoul           https://adminapikr.im.qcloud.com   (backup adminapikr.my-imcloud.com)
//	Tokyo           https://adminapijpn.im.qcloud.com  (no backup documented)
//	Frankfurt       https://adminapiger.im.qcloud.com  (backup adminapiger.my-imcloud.com)
//	Mumbai          https://adminapiind.im.qcloud.com  (backup adminapiind.my-imcloud.com, older pages only)
//	Silicon Valley  https://adminapiusa.im.qcloud.com  (backup adminapiusa.my-imcloud.com)
//	Jakarta         https://adminapiidn.im.qcloud.com  (backup adminapiidn.my-imcloud.com)
package tim

// Regional REST endpoints (base URLs for Config.Endpoint).
const (
	EndpointChina         = "https://console.tim.qq.com"
	EndpointSingapore     = "https://adminapisgp.im.qcloud.com"
	EndpointSeoul         = "https://adminapikr.im.qcloud.com"
	EndpointTokyo         = "https://adminapijpn.im.qcloud.com"
	EndpointFrankfurt     = "https://adminapiger.im.qcloud.com"
	EndpointMumbai        = "https://adminapiind.im.qcloud.com"
	EndpointSiliconValley = "https://adminapiusa.im.qcloud.com"
	EndpointJakarta       = "https://adminapiidn.im.qcloud.com"
)
