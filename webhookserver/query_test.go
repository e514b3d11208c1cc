package webhookserver

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// parseCallbackQuery must read every key exactly as url.Values.Get would:
// checked on the documented query, on edge cases, and on 50,000 random
// queries built from the characters that matter to the parser.
func TestCallbackQueryMatchesURLValues(t *testing.T) {
	keys := []string{paramSdkAppID, paramCommand, paramSign, paramRequestTime, paramPlatform, "contenttype", "ClientIP"}
	check := func(raw string) {
		t.Helper()
		want, _ := url.ParseQuery(raw)
		got := parseCallbackQuery(raw)
		for _, k := range keys {
			w := want.Get(k)
			if k == "contenttype" || k == "ClientIP" {
				w = "" // not read by the receiver
			}
			if g := got.get(k); g != w {
				t.Fatalf("query %q: Get(%q) = %q, url.Values has %q", raw, k, g, w)
			}
		}
	}
	for _, raw := range []string{
		"SdkAppid=888888&CallbackCommand=Group.CallbackAfterSendMsg&contenttype=json&ClientIP=127.0.0.1&OptPlatform=Web&RequestTime=1669872112&Sign=87cd2d6a1b9a8cb2f2e3c5cd0a1df9a1d1cbd9ab3e0f7a0e0ac3f3c5c1d2e3f4",
		"",
		"&&&",
		"Sign=a&Sign=b",                 // first wins
		"Sign=%zz&Sign=b",               // a bad escape is skipped, the next one counts
		"Sign=a;b&Sign=c",               // a semicolon drops the pair
		"Sign",                          // no '=': empty value
		"Sdk%41ppid=1&SdkAppid=2",       // escaped key
		"OptPlatform=Android+Pad%2F1.0", // '+' and %2F
		"=x&Sign=",
	} {
		check(raw)
	}
	r := rand.New(rand.NewPCG(7, 11))
	atoms := []string{"SdkAppid", "Sign", "RequestTime", "OptPlatform", "CallbackCommand", "x", "=", "=", "&", "&",
		"&", ";", "%", "%2", "%41", "%zz", "+", "1", "a", " ", "é"}
	for range 50_000 {
		var b strings.Builder
		for range r.IntN(12) {
			b.WriteString(atoms[r.IntN(len(atoms))])
		}
		check(b.String())
	}
}

// get returns the first value of key, as url.Values.Get does, for the five
// keys the receiver reads ("" for any other): the test's view of the parse.
func (q callbackQuery) get(key string) string {
	switch key {
	case paramSdkAppID:
		return q.sdkAppID
	case paramCommand:
		return q.command
	case paramSign:
		return q.sign
	case paramRequestTime:
		return q.requestTime
	case paramPlatform:
		return q.platform
	}
	return ""
}
