package webhookserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
)

func TestSeedSamplesDecode(t *testing.T) {
	for _, cmd := range seedCommands {
		body, query, err := seedSample(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(query, "SdkAppid=$SDKAppID") || !strings.Contains(query, "OptPlatform=$OptPlatform") {
			t.Errorf("%s: unexpected documented query %q", cmd, query)
		}
		if _, err := Decode(cmd, body); err != nil {
			t.Errorf("%s: documented sample refused: %v", cmd, err)
		}
	}
	for _, cmd := range allCommands {
		body, err := goldenBody(cmd)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(cmd, body); err != nil {
			t.Errorf("%s: golden body refused: %v", cmd, err)
		}
	}
}

func TestDecode(t *testing.T) {
	const g = `"GroupId":"@TGS#1"`
	tests := []struct {
		name, cmd, body string
		wantErr         string
		check           func(any) bool
	}{
		{"EventTime string", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"EventTime":"1670574414123"}`, "",
			func(v any) bool { return v.(*AfterSendMsg).EventTime == 1670574414123 }},
		{"EventTime number", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"EventTime":1670574414123}`, "",
			func(v any) bool { return v.(*AfterSendMsg).EventTime == 1670574414123 }},
		{"EventTime absent", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1}`, "",
			func(v any) bool { return v.(*AfterSendMsg).EventTime == 0 }},
		{"EventTime garbage", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"EventTime":"soon"}`, "EventTime", nil},
		{"EventTime negative", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"EventTime":-5}`, "EventTime", nil},
		{"unknown fields ignored", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"Whatever":{"x":[1]}}`, "", nil},
		{"info absent vs empty", CmdAfterGroupInfoChanged, `{` + g + `,"Notification":"","FaceUrl":"u"}`, "",
			func(v any) bool {
				m := v.(*AfterGroupInfoChanged)
				return m.Name == nil && m.Introduction == nil && *m.Notification == "" && *m.FaceURL == "u"
			}},
		{"missing GroupId", CmdAfterSendMsg, `{"MsgSeq":1}`, "GroupId is missing", nil},
		{"GroupId too long", CmdAfterSendMsg, `{"GroupId":"` + strings.Repeat("x", 49) + `","MsgSeq":1}`, "GroupId", nil},
		{"negative MsgSeq", CmdAfterSendMsg, `{` + g + `,"MsgSeq":-1}`, "MsgSeq", nil},
		{"absurd MsgSeq", CmdAfterSendMsg, `{` + g + `,"MsgSeq":9007199254740993}`, "MsgSeq", nil},
		{"MsgSeq not integer", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1.5}`, "decoding", nil},
		{"MsgTime in ms", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"MsgTime":1490686222000}`, "MsgTime", nil},
		{"unknown OptionType", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"merge","GroupAttr":[{"key":"a","value":"b"}]}`, "OptionType", nil},
		{"attr without key", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"modify","GroupAttr":[{"value":"b"}]}`, "key", nil},
		{"clear", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"clear"}`, "", nil},
		{"owner change without new owner", CmdAfterChangeGroupOwner, `{` + g + `}`, "NewOwner_Account", nil},
		{"not an object", CmdAfterSendMsg, `[1]`, "decoding", nil},
		{"trailing garbage", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1} x`, "decoding", nil},
		{"truncated", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1`, "decoding", nil},
		// As encoding/json did: names match case-insensitively, a repeated
		// name (in any case) keeps its last value, and invalid UTF-8
		// becomes U+FFFD instead of losing the callback.
		{"names case-insensitive", CmdAfterSendMsg, `{"groupid":"@TGS#1","msgSeq":7}`, "",
			func(v any) bool { m := v.(*AfterSendMsg); return m.GroupID == "@TGS#1" && m.MsgSeq == 7 }},
		{"repeated name in another case: last wins", CmdAfterSendMsg, `{"GroupId":"@TGS#1","groupid":"@TGS#2","MsgSeq":1}`, "",
			func(v any) bool { return v.(*AfterSendMsg).GroupID == "@TGS#2" }},
		{"repeated name: last wins", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"MsgSeq":2}`, "",
			func(v any) bool { return v.(*AfterSendMsg).MsgSeq == 2 }},
		{"invalid UTF-8 kept as U+FFFD", CmdAfterGroupInfoChanged, "{" + g + ",\"Name\":\"a\xffb\"}", "",
			func(v any) bool { return *v.(*AfterGroupInfoChanged).Name == "a\uFFFDb" }},
		{"unknown command", "Group.CallbackAfterRecallMsg", `{` + g + `}`, "not recorded", nil},
		// IM's own limits: a callback beyond them is not from IM, and would
		// grow status and pending updates past what IM allows.
		{"17 attributes", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"modify","GroupAttr":[` + attrsJSON(17, 1) + `]}`, "16 attributes", nil},
		{"16 attributes", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"set","GroupAttr":[` + attrsJSON(16, 1) + `]}`, "", nil},
		{"attribute value over 4000 bytes", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"modify","GroupAttr":[` + attrsJSON(1, 4001) + `]}`, "4000", nil},
		{"attributes over 16000 bytes", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"set","GroupAttr":[` + attrsJSON(5, 3999) + `]}`, "16000", nil},
		{"attribute key over 32 bytes", CmdAfterGroupAttrChanged, `{` + g + `,"OptionType":"delete","GroupAttr":[{"key":"` + strings.Repeat("k", 33) + `"}]}`, "key", nil},
		{"name over 100 bytes", CmdAfterGroupInfoChanged, `{` + g + `,"Name":"` + strings.Repeat("n", 101) + `"}`, "Name", nil},
		{"introduction over 400 bytes", CmdAfterGroupInfoChanged, `{` + g + `,"Introduction":"` + strings.Repeat("i", 401) + `"}`, "Introduction", nil},
		{"notification over 400 bytes", CmdAfterGroupInfoChanged, `{` + g + `,"Notification":"` + strings.Repeat("n", 401) + `"}`, "Notification", nil},
		{"face URL over 500 bytes", CmdAfterGroupInfoChanged, `{` + g + `,"FaceUrl":"` + strings.Repeat("f", 501) + `"}`, "FaceUrl", nil},
		{"created name over 100 bytes", CmdAfterCreateGroup, `{` + g + `,"Name":"` + strings.Repeat("n", 101) + `"}`, "Name", nil},
		{"11 custom fields", CmdAfterCreateGroup, `{` + g + `,"UserDefinedDataList":[` + strings.Repeat(`{"Key":"k","Value":"v"},`, 10) + `{"Key":"k","Value":"v"}]}`, "UserDefinedDataList", nil},
		{"operator account too long", CmdAfterSendMsg, `{` + g + `,"MsgSeq":1,"Operator_Account":"` + strings.Repeat("o", 129) + `"}`, "Operator_Account", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Decode(tt.cmd, []byte(tt.body))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			case tt.check != nil && !tt.check(v):
				t.Fatalf("decoded %+v", v)
			}
		})
	}
}

// The documented example (token xxxxyyyy, RequestTime 1669872112) must pass
// the receiver's authentication, and every altered form must not.
func TestAuthenticateDocumentedExample(t *testing.T) {
	h := &handler{opts: servingOptions(Options{SDKAppID: 888888, Token: "xxxxyyyy", MaxSkew: time.Minute})}
	at := time.Unix(1669872112, 0)
	const sign = "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name string
		q    url.Values
		now  time.Time
		want int
	}{
		{"documented", q("SdkAppid", "888888", "Sign", sign, "RequestTime", "1669872112"), at, 0},
		{"no SdkAppid", q("Sign", sign, "RequestTime", "1669872112"), at, 403},
		{"other SdkAppid", q("SdkAppid", "888889", "Sign", sign, "RequestTime", "1669872112"), at, 403},
		{"SdkAppid garbage", q("SdkAppid", "88x", "Sign", sign, "RequestTime", "1669872112"), at, 403},
		{"no Sign", q("SdkAppid", "888888", "RequestTime", "1669872112"), at, 401},
		{"no RequestTime", q("SdkAppid", "888888", "Sign", sign), at, 401},
		{"wrong Sign", q("SdkAppid", "888888", "Sign", callbacksign.Sign("other", "1669872112"), "RequestTime", "1669872112"), at, 401},
		{"stale", q("SdkAppid", "888888", "Sign", sign, "RequestTime", "1669872112"), at.Add(61 * time.Second), 401},
	}
	for _, tt := range tests {
		if _, code, msg := h.authenticate(tt.q.Get("SdkAppid"), tt.q.Get("Sign"), tt.q.Get("RequestTime"), tt.now); code != tt.want {
			t.Errorf("%s: code %d (%s), want %d", tt.name, code, msg, tt.want)
		} else if strings.Contains(msg, sign) || strings.Contains(msg, "xxxxyyyy") {
			t.Errorf("%s: message leaks a secret: %s", tt.name, msg)
		}
	}
	h.opts = servingOptions(Options{SDKAppID: 888888, InsecureSkipAuth: true}) // explicitly unsigned
	if _, code, _ := h.authenticate("888888", "", "", at); code != 0 {
		t.Errorf("with InsecureSkipAuth a request with the right SdkAppid must pass, got %d", code)
	}
}

// servingOptions is o with the registry Setup would give it: the one app
// o defines.
func servingOptions(o Options) Options {
	o.Apps = apps.New()
	if a, ok := o.DefaultApp(); ok {
		o.Apps.Set(a)
	}
	return o
}

// Each app's callbacks are checked against that app's tokens only: the
// current and the previous one (a rotation in progress), never another
// app's; an app whose token is not loaded accepts nothing (fail closed).
func TestAuthenticateSelectsTheAppsTokens(t *testing.T) {
	reg := apps.New()
	reg.Set(apps.App{Name: "a", SDKAppID: 1400000001, Tokens: []string{"token-a-new", "token-a-old"}})
	reg.Set(apps.App{Name: "b", SDKAppID: 1400000002, Tokens: []string{"token-b"}})
	reg.Set(apps.App{Name: "c", SDKAppID: 1400000003}) // its Secret has no callbackToken
	h := &handler{opts: Options{Apps: reg, MaxSkew: time.Minute}}
	now := time.Unix(1_800_000_000, 0)
	rt := "1800000000"
	for _, tt := range []struct {
		name, app, token string
		want             int
		wantApp          string
	}{
		{"a with its current token", "1400000001", "token-a-new", 0, "a"},
		{"a with its previous token", "1400000001", "token-a-old", 0, "a"},
		{"a with b's token", "1400000001", "token-b", 401, ""},
		{"b with a's token", "1400000002", "token-a-new", 401, ""},
		{"b with its token", "1400000002", "token-b", 0, "b"},
		{"c has no token", "1400000003", "", 401, ""},
		{"c with a's token", "1400000003", "token-a-new", 401, ""},
		{"unknown app", "1400000009", "token-a-new", 403, ""},
	} {
		app, code, msg := h.authenticate(tt.app, callbacksign.Sign(tt.token, rt), rt, now)
		if code != tt.want {
			t.Errorf("%s: code %d (%s), want %d", tt.name, code, msg, tt.want)
			continue
		}
		if tt.want == 0 && app.Name != tt.wantApp {
			t.Errorf("%s: app %q, want %q", tt.name, app.Name, tt.wantApp)
		}
		if strings.Contains(msg, "token-") {
			t.Errorf("%s: message leaks a token: %s", tt.name, msg)
		}
	}
	// A duplicate SDKAppID is served by the earlier app only.
	reg.Set(apps.App{Name: "b2", SDKAppID: 1400000002, Since: time.Unix(1, 0), Tokens: []string{"token-b2"}})
	if _, code, _ := h.authenticate("1400000002", callbacksign.Sign("token-b2", rt), rt, now); code != 401 {
		t.Errorf("the duplicate app's token was accepted (code %d)", code)
	}
}

// attrsJSON is n GroupAttr entries with distinct keys and values of size bytes.
func attrsJSON(n, size int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`{"key":"k%02d","value":"%s"}`, i, strings.Repeat("v", size))
	}
	return strings.Join(parts, ",")
}

// A callback stamped more than groupstatus.MaxAhead in the future would hold
// its part of the status against every later change: it is refused.
func TestAheadOfClock(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	for _, tt := range []struct {
		name string
		cb   Callback
		bad  bool
	}{
		{"now", &AfterGroupInfoChanged{Common: Common{EventTime: EventTime(now.UnixMilli())}}, false},
		{"within the skew", &AfterGroupInfoChanged{Common: Common{EventTime: EventTime(now.Add(59 * time.Second).UnixMilli())}}, false},
		{"far future", &AfterGroupInfoChanged{Common: Common{EventTime: 9_999_999_999_999}}, true},
		{"just past the skew", &AfterGroupInfoChanged{Common: Common{EventTime: EventTime(now.Add(61 * time.Second).UnixMilli())}}, true},
		{"message from the future", &AfterSendMsg{MsgSeq: 1, MsgTime: now.Add(time.Hour).Unix()}, true},
		{"message now", &AfterSendMsg{MsgSeq: 1, MsgTime: now.Unix()}, false},
	} {
		if got := aheadOfClock(tt.cb, now) != ""; got != tt.bad {
			t.Errorf("%s: refused=%v, want %v", tt.name, got, tt.bad)
		}
	}
}

// noRead is a request body that fails the test when it is read.
type noRead struct{ t *testing.T }

func (b noRead) Read([]byte) (int, error) {
	b.t.Error("the body was read before the request was authenticated")
	return 0, io.EOF
}

// Everything the query can tell is checked before the body is read, and a
// full in-flight bound refuses before reading: an unauthenticated flood, or
// any flood past the bound, costs no memory for bodies.
func TestRefusedBeforeTheBodyIsRead(t *testing.T) {
	now := time.Unix(1669872112, 0)
	h := &handler{opts: servingOptions(Options{SDKAppID: 888888, Token: "xxxxyyyy", MaxSkew: time.Minute}),
		now: func() time.Time { return now }, inflight: make(chan struct{}, 1)}
	sign := callbacksign.Sign("xxxxyyyy", "1669872112")
	for _, tt := range []struct {
		name  string
		query string
		full  bool
		want  int
	}{
		{"another app", "SdkAppid=1&Sign=" + sign + "&RequestTime=1669872112", false, http.StatusForbidden},
		{"no Sign", "SdkAppid=888888", false, http.StatusUnauthorized},
		{"wrong Sign", "SdkAppid=888888&Sign=00&RequestTime=1669872112", false, http.StatusUnauthorized},
		{"in-flight bound reached", "SdkAppid=888888&Sign=" + sign + "&RequestTime=1669872112", true, http.StatusServiceUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.full {
				h.inflight <- struct{}{}
				defer func() { <-h.inflight }()
			}
			r := httptest.NewRequest(http.MethodPost, "/callback?CallbackCommand="+CmdAfterSendMsg+"&"+tt.query, noRead{t})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
		})
	}
}
