package timfake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/internal/usersig"
)

const (
	appID  = 1400000000
	secret = "test-secret-key-0123456789"
	admin  = "administrator"
)

// docTime is the instant of the attribute callback sample's EventTime.
var docTime = time.UnixMilli(1670574414123)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	fake  *timfake.Server
	ts    *httptest.Server
	clock *clock
	admin string
}

// newEnv starts a fake on a fixed clock behind httptest; mutate tunes Options.
func newEnv(t *testing.T, mutate func(*timfake.Options)) *env {
	t.Helper()
	c := newClock(docTime)
	o := timfake.Options{SDKAppID: appID, SecretKey: secret, AdminIdentifier: admin, Now: c.Now, Seed: 1}
	if mutate != nil {
		mutate(&o)
	}
	f := timfake.New(o)
	ts := httptest.NewServer(f)
	t.Cleanup(func() { ts.Close(); f.Close() })
	return &env{fake: f, ts: ts, clock: c, admin: o.AdminIdentifier}
}

func (e *env) sig(t *testing.T, identifier string) string {
	t.Helper()
	s, err := usersig.Generate(appID, secret, identifier, 24*time.Hour, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// query is a valid admin query; override replaces or (with "") removes keys.
func (e *env) query(t *testing.T, override map[string]string) string {
	t.Helper()
	vals := [][2]string{
		{"sdkappid", strconv.Itoa(appID)},
		{"identifier", e.admin},
		{"usersig", e.sig(t, e.admin)},
		{"random", "99999999"},
		{"contenttype", "json"},
	}
	var parts []string
	for _, kv := range vals {
		v, ok := override[kv[0]]
		if !ok {
			v = kv[1]
		} else if v == "" {
			continue
		}
		parts = append(parts, kv[0]+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, "&")
}

type answer struct {
	status int
	raw    []byte
	m      map[string]any
}

func (a answer) code() int {
	n, _ := a.m["ErrorCode"].(json.Number).Int64()
	return int(n)
}

func (e *env) do(t *testing.T, method, path, rawQuery, body string) answer {
	t.Helper()
	return do(t, e.ts, method, path, rawQuery, body)
}

// do sends one request to ts and decodes a 200 answer.
func do(t *testing.T, ts *httptest.Server, method, path, rawQuery, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path+"?"+rawQuery, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: raw}
	if resp.StatusCode == http.StatusOK {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&a.m); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, raw)
		}
	}
	return a
}

// call is an authenticated admin REST call that must answer HTTP 200.
func (e *env) call(t *testing.T, service, command, body string) answer {
	t.Helper()
	a := e.do(t, http.MethodPost, "/v4/"+service+"/"+command, e.query(t, nil), body)
	if a.status != http.StatusOK {
		t.Fatalf("%s: HTTP %d", command, a.status)
	}
	return a
}

func (e *env) group(t *testing.T, command, body string) answer {
	t.Helper()
	return e.call(t, "group_open_http_svc", command, body)
}

// mustOK fails unless the envelope is OK.
func mustOK(t *testing.T, a answer) answer {
	t.Helper()
	if a.m["ActionStatus"] != "OK" || a.code() != 0 {
		t.Fatalf("want OK, got %s", a.raw)
	}
	return a
}

func wantCode(t *testing.T, a answer, code int) {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("HTTP %d, want 200 with error %d", a.status, code)
	}
	if a.code() != code || a.m["ActionStatus"] != "FAIL" {
		t.Fatalf("want FAIL %d, got %s", code, a.raw)
	}
	if _, ok := a.m["ErrorInfo"].(string); !ok {
		t.Fatalf("ErrorInfo missing: %s", a.raw)
	}
}

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return buf.String()
}

// wantGolden compares JSON exactly (values, types and key order), ignoring
// only white space.
func wantGolden(t *testing.T, got []byte, parts ...string) {
	t.Helper()
	want := compact(t, readFile(t, parts...))
	if g := compact(t, got); g != want {
		t.Errorf("%s differs:\n got: %s\nwant: %s", filepath.Join(parts...), g, want)
	}
}

// receiver records the callbacks it gets.
type receiver struct {
	mu     sync.Mutex
	got    []received
	status int
	answer string
	srv    *httptest.Server
}

type received struct {
	rawQuery string
	query    url.Values
	body     []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: http.StatusOK, answer: `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		if req.Method == http.MethodPost {
			r.got = append(r.got, received{rawQuery: req.URL.RawQuery, query: req.URL.Query(), body: body})
		}
		status, answer := r.status, r.answer
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/callback" }

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func (r *receiver) reset() {
	r.mu.Lock()
	r.got = nil
	r.mu.Unlock()
}

func (r *receiver) set(status int, answer string) {
	r.mu.Lock()
	r.status, r.answer = status, answer
	r.mu.Unlock()
}

func flush(t *testing.T, f *timfake.Server) {
	t.Helper()
	if err := f.Flush(10 * time.Second); err != nil {
		t.Fatalf("callbacks not delivered: %v", err)
	}
}

func fixedID(id string) func(string) string { return func(string) string { return id } }
