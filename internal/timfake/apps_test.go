package timfake_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/internal/usersig"
)

// app is one app's view of a shared endpoint: the credentials its admin
// signs with.
type app struct {
	ts    *httptest.Server
	id    uint64
	key   string
	admin string
	clock *clock
}

// query is a valid admin query of a.id whose UserSig is made with key.
func (a app) query(t *testing.T, key string) string {
	t.Helper()
	sig, err := usersig.Generate(a.id, key, a.admin, 24*time.Hour, a.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return url.Values{
		"sdkappid": {strconv.FormatUint(a.id, 10)}, "identifier": {a.admin}, "usersig": {sig},
		"random": {"99999999"}, "contenttype": {"json"},
	}.Encode()
}

func (a app) group(t *testing.T, command, body string) answer {
	t.Helper()
	return do(t, a.ts, http.MethodPost, "/v4/group_open_http_svc/"+command, a.query(t, a.key), body)
}

// groupName is the Name of groupID as get_group_info tells it to a, or the
// per-group error code.
func (a app) groupName(t *testing.T, groupID string) (string, int) {
	t.Helper()
	ans := mustOK(t, a.group(t, "get_group_info", `{"GroupIdList":[`+strconv.Quote(groupID)+`]}`))
	var resp struct {
		GroupInfo []struct {
			ErrorCode int
			Name      string
		}
	}
	if err := json.Unmarshal(ans.raw, &resp); err != nil || len(resp.GroupInfo) != 1 {
		t.Fatalf("get_group_info: %v: %s", err, ans.raw)
	}
	return resp.GroupInfo[0].Name, resp.GroupInfo[0].ErrorCode
}

// TestAppsServesEachAppItsOwnState puts two apps behind one endpoint, as the
// real backend serves every app from one host, and checks that nothing of
// one app (groups, key, token, QPS) leaks into the other.
func TestAppsServesEachAppItsOwnState(t *testing.T) {
	c := newClock(docTime)
	rcv := newReceiver(t)
	newServer := func(id uint64, key, adminID, token string) *timfake.Server {
		f := timfake.New(timfake.Options{
			SDKAppID: id, SecretKey: key, AdminIdentifier: adminID, Now: c.Now, Seed: 1,
			CallbackURL: rcv.url(), CallbackToken: token,
		})
		t.Cleanup(f.Close)
		return f
	}
	fa := newServer(1400000001, "key-of-app-a", "administrator", "token-a")
	// App B has its own admin name (and, below, its own QPS).
	fb := newServer(1400000002, "key-of-app-b", "boss", "token-b")
	apps, err := timfake.NewApps(fa, fb)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(apps)
	t.Cleanup(ts.Close)
	a := app{ts: ts, id: 1400000001, key: "key-of-app-a", admin: "administrator", clock: c}
	b := app{ts: ts, id: 1400000002, key: "key-of-app-b", admin: "boss", clock: c}

	if apps.App(a.id) != fa || apps.App(b.id) != fb || apps.App(1400000003) != nil {
		t.Fatal("App does not return the Server of each SDKAppID")
	}

	// The same group ID in both apps: two groups, not one.
	mustOK(t, a.group(t, "create_group", `{"Type":"Public","GroupId":"shared","Name":"in A","Owner_Account":"alice"}`))
	mustOK(t, b.group(t, "create_group", `{"Type":"Public","GroupId":"shared","Name":"in B","Owner_Account":"bob"}`))
	mustOK(t, a.group(t, "create_group", `{"Type":"Public","GroupId":"only-a","Name":"A alone"}`))
	if name, code := a.groupName(t, "shared"); code != 0 || name != "in A" {
		t.Errorf("app A sees shared as %q (code %d), want its own \"in A\"", name, code)
	}
	if name, code := b.groupName(t, "shared"); code != 0 || name != "in B" {
		t.Errorf("app B sees shared as %q (code %d), want its own \"in B\"", name, code)
	}
	if _, code := b.groupName(t, "only-a"); code != timfake.CodeGroupNotFound {
		t.Errorf("app B sees app A's group only-a: code %d", code)
	}
	mustOK(t, a.group(t, "destroy_group", `{"GroupId":"shared"}`))
	if name, code := b.groupName(t, "shared"); code != 0 || name != "in B" {
		t.Errorf("destroying A's shared touched B's: %q, code %d", name, code)
	}
	if got := len(fa.Groups()); got != 1 {
		t.Errorf("app A holds %d groups, want 1 (only-a)", got)
	}
	if got := len(fb.Groups()); got != 1 {
		t.Errorf("app B holds %d groups, want 1 (shared)", got)
	}

	// Each app checks UserSigs against its own key only.
	wrongKey := do(t, ts, http.MethodPost, "/v4/group_open_http_svc/get_appid_group_list", b.query(t, a.key), `{}`)
	wantCode(t, wrongKey, timfake.CodeSigMismatch)

	// Each app sent its callbacks, with its own SdkAppid and signed with
	// its own token.
	flush(t, fa)
	flush(t, fb)
	tokens := map[string]string{"1400000001": "token-a", "1400000002": "token-b"}
	perApp := map[string]int{}
	for _, r := range rcv.all() {
		q := r.query
		tok, ok := tokens[q.Get("SdkAppid")]
		if !ok {
			t.Fatalf("callback from unknown app: SdkAppid %q", q.Get("SdkAppid"))
		}
		if err := callbacksign.Check(tok, q.Get("Sign"), q.Get("RequestTime"), c.Now(), time.Minute); err != nil {
			t.Errorf("callback of app %s (%s) not signed with its token: %v", q.Get("SdkAppid"), q.Get("CallbackCommand"), err)
		}
		perApp[q.Get("SdkAppid")]++
	}
	// A: two creates and a destroy; B: one create.
	if perApp["1400000001"] != 3 || perApp["1400000002"] != 1 {
		t.Errorf("callbacks per app %v, want 3 from A and 1 from B", perApp)
	}

	// A QPS limit is the app's own: on the frozen clock a limit of 1 never
	// refills, so B spending its only call must leave A untouched.
	fb.SetQPS(1)
	mustOK(t, b.group(t, "get_appid_group_list", `{}`))
	wantCode(t, b.group(t, "get_appid_group_list", `{}`), timfake.CodeRESTOverLimit)
	mustOK(t, a.group(t, "get_appid_group_list", `{}`))

	// An app added while the endpoint serves is reachable at once.
	fc := newServer(1400000003, "key-of-app-c", "administrator", "")
	if err := apps.Add(fc); err != nil {
		t.Fatal(err)
	}
	mustOK(t, app{ts: ts, id: 1400000003, key: "key-of-app-c", admin: "administrator", clock: c}.group(t, "get_appid_group_list", `{}`))
}

// TestAppsUnknownAppAnswersLikeOneServer: a request no app takes gets, from
// Apps, exactly the code a lone Server gives it, including when the method
// or path is wrong too (those are checked before the app).
func TestAppsUnknownAppAnswersLikeOneServer(t *testing.T) {
	lone := newEnv(t, nil)
	other := timfake.New(timfake.Options{SDKAppID: appID + 1, SecretKey: "other", Now: lone.clock.Now})
	t.Cleanup(other.Close)
	apps, err := timfake.NewApps(other)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(apps)
	t.Cleanup(ts.Close)

	list := "/v4/group_open_http_svc/get_appid_group_list"
	tests := []struct {
		name, method, path string
		override           map[string]string
		want               int
	}{
		{"missing sdkappid", "POST", list, map[string]string{"sdkappid": ""}, timfake.CodeMissingSDKAppID},
		{"unknown sdkappid", "POST", list, map[string]string{"sdkappid": "1400000009"}, timfake.CodeInvalidSDKAppID},
		{"sdkappid not a number", "POST", list, map[string]string{"sdkappid": "abc"}, timfake.CodeInvalidSDKAppID},
		{"unknown sdkappid and GET", "GET", list, map[string]string{"sdkappid": "1400000009"}, timfake.CodeHTTPParse},
		{"missing sdkappid and bad path", "POST", "/v4/no_such_svc/x", map[string]string{"sdkappid": ""}, timfake.CodeBadURL},
		{"unknown sdkappid and bad command", "POST", "/v4/group_open_http_svc/nope", map[string]string{"sdkappid": "1"}, timfake.CodeBadCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := lone.query(t, tt.override)
			want := lone.do(t, tt.method, tt.path, q, `{}`)
			wantCode(t, want, tt.want)
			got := do(t, ts, tt.method, tt.path, q, `{}`)
			wantCode(t, got, tt.want)
		})
	}
	if other.Calls("get_appid_group_list") != 0 {
		t.Errorf("a request for no app of other's was counted by other")
	}
}

func TestAppsRefusesDuplicates(t *testing.T) {
	newServer := func(id uint64) *timfake.Server {
		f := timfake.New(timfake.Options{SDKAppID: id, SecretKey: "k"})
		t.Cleanup(f.Close)
		return f
	}
	one, twin, two := newServer(1), newServer(1), newServer(2)
	if _, err := timfake.NewApps(one, twin); err == nil {
		t.Error("NewApps accepted two Servers of SDKAppID 1")
	}
	apps, err := timfake.NewApps(one)
	if err != nil {
		t.Fatal(err)
	}
	if err := apps.Add(twin); err == nil {
		t.Error("Add accepted a second Server of SDKAppID 1")
	}
	if apps.App(1) != one {
		t.Error("a refused Add replaced the app's Server")
	}
	if err := apps.Add(nil); err == nil {
		t.Error("Add accepted nil")
	}
	if err := apps.Add(two); err != nil || apps.App(2) != two {
		t.Errorf("Add of a new app: %v", err)
	}
}

// TestSetSecretKey rotates the key of a live app: the old key's UserSigs
// stop working at once, the new key's start.
func TestSetSecretKey(t *testing.T) {
	e := newEnv(t, nil)
	withKey := func(key string) string {
		s, err := usersig.Generate(appID, key, admin, time.Hour, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return e.query(t, map[string]string{"usersig": s})
	}
	list := "/v4/group_open_http_svc/get_appid_group_list"
	mustOK(t, e.do(t, "POST", list, withKey(secret), `{}`))
	wantCode(t, e.do(t, "POST", list, withKey("rotated-key"), `{}`), timfake.CodeSigMismatch)

	e.fake.SetSecretKey("rotated-key")
	wantCode(t, e.do(t, "POST", list, withKey(secret), `{}`), timfake.CodeSigMismatch)
	mustOK(t, e.do(t, "POST", list, withKey("rotated-key"), `{}`))
}

// TestSetSecretKeyWhileServing rotates back and forth under concurrent
// requests (for the race detector): every answer is either OK or the
// sig-mismatch code, never anything a half-swapped key could cause, and
// after the last rotation only the last key works.
func TestSetSecretKeyWhileServing(t *testing.T) {
	e := newEnv(t, nil)
	keys := []string{secret, "second-key"}
	queries := []string{}
	for _, k := range keys {
		s, err := usersig.Generate(appID, k, admin, time.Hour, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		queries = append(queries, e.query(t, map[string]string{"usersig": s}))
	}
	list := "/v4/group_open_http_svc/get_appid_group_list"
	// Workers must not call t.Fatal off the test goroutine: they report
	// each outcome, and the test goroutine judges.
	type outcome struct {
		code int
		err  error
	}
	stopRotating := rotate(func(i int) { e.fake.SetSecretKey(keys[i%2]) })
	const workers, perWorker = 4, 25
	var wg sync.WaitGroup
	outcomes := make(chan outcome, workers*perWorker)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				code, err := postCode(e.ts.Client(), e.ts.URL+list+"?"+queries[(w+i)%2])
				outcomes <- outcome{code, err}
			}
		}()
	}
	wg.Wait()
	stopRotating()
	e.fake.SetSecretKey(keys[1])
	close(outcomes)
	n := 0
	for o := range outcomes {
		n++
		if o.err != nil {
			t.Fatalf("request during rotation: %v", o.err)
		}
		if o.code != 0 && o.code != timfake.CodeSigMismatch {
			t.Fatalf("answer %d during rotation, want 0 or %d", o.code, timfake.CodeSigMismatch)
		}
	}
	if n != workers*perWorker {
		t.Fatalf("%d outcomes, want %d", n, workers*perWorker)
	}
	wantCode(t, e.do(t, "POST", list, queries[0], `{}`), timfake.CodeSigMismatch)
	mustOK(t, e.do(t, "POST", list, queries[1], `{}`))
}

// TestSetCallbackToken rotates the callback token of a live app: callbacks
// sent afterwards are signed with the new token (and fail the old one), and
// an empty token sends them unsigned.
func TestSetCallbackToken(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.CallbackToken = "old-token" })
	check := func(r received, token string) error {
		return callbacksign.Check(token, r.query.Get("Sign"), r.query.Get("RequestTime"), e.clock.Now(), time.Minute)
	}

	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g1","Name":"n"}`))
	if err := check(onlyCallback(t, e, rcv), "old-token"); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	e.fake.SetCallbackToken("new-token")
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g2","Name":"n"}`))
	r := onlyCallback(t, e, rcv)
	if err := check(r, "new-token"); err != nil {
		t.Errorf("after rotation, Sign does not verify with the new token: %v", err)
	}
	if err := check(r, "old-token"); !errors.Is(err, callbacksign.ErrBadSign) {
		t.Errorf("after rotation, Sign still verifies with the old token (err %v)", err)
	}
	// Sign is sha256(token + RequestTime), RequestTime the fake clock's
	// Unix seconds.
	if rt := strconv.FormatInt(e.clock.Now().Unix(), 10); r.query.Get("RequestTime") != rt {
		t.Errorf("RequestTime %q, want %s", r.query.Get("RequestTime"), rt)
	}

	e.fake.SetCallbackToken("")
	mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g3","Name":"n"}`))
	if r := onlyCallback(t, e, rcv); r.query.Has("Sign") || r.query.Has("RequestTime") {
		t.Errorf("with an empty token the callback is still signed: Sign=%t RequestTime=%t", r.query.Has("Sign"), r.query.Has("RequestTime"))
	}
}

// TestSetCallbackTokenWhileDelivering rotates while workers deliver (for the
// race detector): each callback is signed wholly with one of the tokens in
// use, and once delivery settles the next one carries the last token.
func TestSetCallbackTokenWhileDelivering(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url(); o.CallbackToken = "token-0" })
	tokens := []string{"token-0", "token-1"}
	// The rotator only swaps tokens; the requests, which may fail the
	// test, stay on the test goroutine.
	stopRotating := rotate(func(i int) { e.fake.SetCallbackToken(tokens[i%2]) })
	for i := range 40 {
		mustOK(t, e.group(t, "create_group", `{"Type":"Public","GroupId":"g`+strconv.Itoa(i)+`","Name":"n"}`))
	}
	stopRotating()
	flush(t, e.fake)
	got := rcv.all()
	if len(got) != 40 {
		t.Fatalf("%d callbacks, want 40", len(got))
	}
	for _, r := range got {
		q := r.query
		if !callbacksign.Verify(tokens[0], q.Get("RequestTime"), q.Get("Sign")) &&
			!callbacksign.Verify(tokens[1], q.Get("RequestTime"), q.Get("Sign")) {
			t.Fatalf("callback %s signed with neither token", q.Get("CallbackCommand"))
		}
	}

	rcv.reset()
	e.fake.SetCallbackToken("final-token")
	mustOK(t, e.group(t, "destroy_group", `{"GroupId":"g0"}`))
	r := onlyCallback(t, e, rcv)
	if !callbacksign.Verify("final-token", r.query.Get("RequestTime"), r.query.Get("Sign")) {
		t.Error("callback after the last rotation not signed with the last token")
	}
}

// postCode POSTs {} and returns the envelope's ErrorCode; for use off the
// test goroutine.
func postCode(c *http.Client, u string) (int, error) {
	resp, err := c.Post(u, "application/json", strings.NewReader(`{}`))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var env struct{ ErrorCode int }
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return 0, err
	}
	return env.ErrorCode, nil
}

// rotate calls set(0), set(1), ... on a goroutine of its own until the
// returned stop is called; stop returns once the goroutine has ended.
func rotate(set func(i int)) (stop func()) {
	quit, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		for i := 0; ; i++ {
			select {
			case <-quit:
				return
			default:
				set(i)
			}
		}
	}()
	return func() { close(quit); <-ended }
}
