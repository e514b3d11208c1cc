// Package timfake is a fake Tencent Cloud IM backend for tests, the demo and
// the benchmark: the REST group API with real state, and the callbacks the
// real backend sends after each change.
//
// The real backend cannot be reached from development machines, so the fake
// follows the documented wire exactly (Tencent's server API pages and the
// callback documents in testdata/seeds): the same URL parameters, UserSig
// checks and error codes, the same JSON field names and casing, the same
// callback query parameters and Sign. Where the documents are silent the
// choice made is written next to the code that makes it.
//
// One state path serves both the REST API (acting as the app admin, callbacks
// with OptPlatform=RESTAPI) and simulated app users on a client platform
// (User, Simulator), so a callback looks the same whoever caused it.
//
// It also sends IM's two app alarms the way the real backend does:
// Alert.RequestOverLimit when the REST request rate passes 80% of QPS, and
// Group.CallbackOnDailyGroupQuotaAlarm after a creation that takes the day's
// net new groups past 70% of DailyGroupQuota (alarms.go).
//
// One Server is one app. Apps serves several on one endpoint, as the real
// backend serves every app from one host: the sdkappid URL parameter picks
// the Server, and each keeps its own key, admin, callback token, groups, QPS
// and callbacks; a missing or unknown sdkappid gets 60012 or 60006 as from a
// lone Server. SetSecretKey and SetCallbackToken rotate credentials on a live
// Server without a restart, safely while requests and deliveries run: old
// UserSigs fail with 70009 from then on, and callbacks sent afterwards are
// signed with the new token (unsigned for "").
//
// Tests drive failure modes with InjectError, FailHTTP, SetLatency and
// SetCallbackFaults; Calls counts requests per command; Group and Groups
// inspect the state; WaitCallbacksDelivered waits until every queued
// callback has been handled.
package timfake
