package tim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

func TestErrorPredicates(t *testing.T) {
	type preds struct{ notFound, exists, rate, cred, invalid, transient bool }
	tests := []struct {
		name string
		err  error
		want preds
	}{
		{"10010", &Error{Code: 10010}, preds{notFound: true}},
		{"10015", &Error{Code: 10015}, preds{notFound: true}},
		{"10021", &Error{Code: 10021}, preds{exists: true}},
		{"10025", &Error{Code: 10025}, preds{exists: true}},
		{"60007", &Error{Code: 60007}, preds{rate: true}},
		{"60011", &Error{Code: 60011}, preds{rate: true}},
		{"60018", &Error{Code: 60018}, preds{rate: true}},
		{"60019", &Error{Code: 60019}, preds{rate: true}},
		{"10006", &Error{Code: 10006}, preds{rate: true}},
		{"10049", &Error{Code: 10049}, preds{rate: true}},
		{"HTTP 429", &Error{HTTPStatus: 429}, preds{rate: true}},
		{"60004", &Error{Code: 60004}, preds{cred: true}},
		{"60005", &Error{Code: 60005}, preds{cred: true}},
		{"60006", &Error{Code: 60006}, preds{cred: true}},
		{"70001", &Error{Code: 70001}, preds{cred: true}},
		{"70003", &Error{Code: 70003}, preds{cred: true}},
		{"70009", &Error{Code: 70009}, preds{cred: true}},
		{"70013", &Error{Code: 70013}, preds{cred: true}},
		{"70014", &Error{Code: 70014}, preds{cred: true}},
		{"70016", &Error{Code: 70016}, preds{cred: true}},
		{"70020", &Error{Code: 70020}, preds{cred: true}},
		{"70050", &Error{Code: 70050}, preds{cred: true}},
		{"70107 is not ours", &Error{Code: 70107}, preds{}},
		{"10004", &Error{Code: 10004}, preds{invalid: true}},
		{"10045", &Error{Code: 10045}, preds{invalid: true}},
		{"10046", &Error{Code: 10046}, preds{invalid: true}},
		{"10047", &Error{Code: 10047}, preds{invalid: true}},
		{"10048", &Error{Code: 10048}, preds{invalid: true}},
		{"10050", &Error{Code: 10050}, preds{invalid: true}},
		{"10002", &Error{Code: 10002}, preds{transient: true}},
		{"HTTP 502", &Error{HTTPStatus: 502}, preds{transient: true}},
		{"HTTP 503", &Error{HTTPStatus: 503}, preds{transient: true}},
		{"HTTP 400 from a proxy", &Error{HTTPStatus: 400}, preds{invalid: true}},
		{"HTTP 401 from a proxy", &Error{HTTPStatus: 401}, preds{invalid: true}},
		{"HTTP 403 from a proxy", &Error{HTTPStatus: 403}, preds{invalid: true}},
		{"HTTP 404 from a proxy", &Error{HTTPStatus: 404}, preds{invalid: true}},
		{"60016 app disabled", &Error{Code: 60016}, preds{cred: true}},
		{"60020 package expired", &Error{Code: 60020}, preds{cred: true}},
		{"60021 source IP not allowed", &Error{Code: 60021}, preds{cred: true}},
		{"10019 account does not exist", &Error{Code: 10019}, preds{invalid: true}},
		{"transport", &Error{Err: errors.New("connection reset")}, preds{transient: true}},
		{"10007", &Error{Code: 10007, HTTPStatus: 200}, preds{}},
		{"wrapped", errors.Join(errors.New("ctx"), &Error{Code: 10010}), preds{notFound: true}},
		{"not ours", errors.New("10010"), preds{}},
		{"nil", nil, preds{}},
	}
	for _, tt := range tests {
		got := preds{IsNotFound(tt.err), IsAlreadyExists(tt.err), IsRateLimited(tt.err), IsCredentials(tt.err), IsInvalidInput(tt.err), IsTransient(tt.err)}
		if got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		inject     func(f *timfake.Server)
		maxRetries int
		wantCalls  int
		wantSleeps int
		wantOK     bool
		check      func(error) bool
	}{
		{"rate limited twice then OK", func(f *timfake.Server) { f.InjectError("create_group", 60007, 2) }, 4, 3, 2, true, nil},
		{"attr write frequency then OK", func(f *timfake.Server) { f.InjectError("create_group", 10049, 1) }, 4, 2, 1, true, nil},
		{"internal error then OK", func(f *timfake.Server) { f.InjectError("create_group", 10002, 3) }, 4, 4, 3, true, nil},
		{"HTTP 502 then OK", func(f *timfake.Server) { f.FailHTTP(502, 2) }, 4, 3, 2, true, nil},
		{"transient until retries run out", func(f *timfake.Server) { f.InjectError("create_group", 10002, -1) }, 3, 4, 3, false, IsTransient},
		{"rate limited until retries run out", func(f *timfake.Server) { f.InjectError("create_group", 60011, -1) }, 2, 3, 2, false, IsRateLimited},
		{"retries disabled", func(f *timfake.Server) { f.InjectError("create_group", 60007, -1) }, -1, 1, 0, false, IsRateLimited},
		{"invalid input is not retried", func(f *timfake.Server) { f.InjectError("create_group", 10004, -1) }, 4, 1, 0, false, IsInvalidInput},
		{"not found is not retried", func(f *timfake.Server) { f.InjectError("create_group", 10010, -1) }, 4, 1, 0, false, IsNotFound},
		{"already exists is not retried", func(f *timfake.Server) { f.InjectError("create_group", 10021, -1) }, 4, 1, 0, false, IsAlreadyExists},
		{"bad signature is not retried", func(f *timfake.Server) { f.InjectError("create_group", 70009, -1) }, 4, 1, 0, false, IsCredentials},
		{"expired signature: one fresh ticket, no sleep", func(f *timfake.Server) { f.InjectError("create_group", 70001, -1) }, 4, 2, 0, false, IsCredentials},
		{"expired signature once, then OK", func(f *timfake.Server) { f.InjectError("create_group", 70001, 1) }, 4, 2, 0, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			c := h.client(t, func(cfg *Config) { cfg.MaxRetries = tt.maxRetries })
			tt.inject(h.fake)
			_, err := c.CreateGroup(ctx, CreateGroupRequest{Type: "Public", GroupID: "g", Name: "n"})
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.wantOK)
			}
			if tt.check != nil && !tt.check(err) {
				t.Fatalf("err = %v fails its predicate", err)
			}
			if n := h.fake.Calls("create_group"); n != tt.wantCalls {
				t.Fatalf("%d calls, want %d", n, tt.wantCalls)
			}
			sleeps := h.clock.Sleeps()
			if len(sleeps) != tt.wantSleeps {
				t.Fatalf("sleeps %v, want %d", sleeps, tt.wantSleeps)
			}
			// Jittered exponential: retry n sleeps within [b*2^n/2, b*2^n].
			for n, d := range sleeps {
				hi := DefaultBackoffBase << n
				if d < hi/2 || d > hi {
					t.Errorf("sleep %d = %v, want within [%v, %v]", n, d, hi/2, hi)
				}
			}
			_, exists := h.fake.Group("g")
			if exists != tt.wantOK {
				t.Fatalf("group exists=%v", exists)
			}
		})
	}
}

func TestBackoffCap(t *testing.T) {
	c := &Client{backoffBase: 100 * time.Millisecond, backoffMax: time.Second}
	for n := range 40 {
		d := c.backoff(n)
		hi := min(time.Second, 100*time.Millisecond<<min(n, 20))
		if d < hi/2 || d > hi {
			t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, hi/2, hi)
		}
	}
}

// A deadline too close for the next backoff ends the call at once with the
// real cause, not after a sleep that cannot finish.
func TestRetryRespectsDeadline(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, func(cfg *Config) { cfg.BackoffBase = 10 * time.Second; cfg.BackoffMax = 20 * time.Second })
	h.fake.InjectError("create_group", 60007, -1)
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.CreateGroup(dctx, CreateGroupRequest{Type: "Public", Name: "n"})
	if !IsRateLimited(err) {
		t.Fatalf("err = %v, want the rate-limit error", err)
	}
	if n := h.fake.Calls("create_group"); n != 1 || len(h.clock.Sleeps()) != 0 {
		t.Fatalf("%d calls, sleeps %v", n, h.clock.Sleeps())
	}

	// Cancelled while sleeping: both causes are visible.
	cctx, cancel2 := context.WithCancel(ctx)
	c2 := h.client(t, func(cfg *Config) {
		cfg.Sleep = func(ctx context.Context, d time.Duration) error { cancel2(); return ctx.Err() }
	})
	_, err = c2.CreateGroup(cctx, CreateGroupRequest{Type: "Public", Name: "n"})
	if !IsRateLimited(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want rate limited and canceled", err)
	}
}

func TestHTTPTimeoutIsTransient(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.SetLatency(300 * time.Millisecond)
	c := h.client(t, func(cfg *Config) {
		cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond}
		cfg.MaxRetries = 1
	})
	_, err := c.GetAppIDGroupList(ctx, 0, 0, "")
	if !IsTransient(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	var te *Error
	if !errors.As(err, &te) || te.Err == nil || te.HTTPStatus != 0 {
		t.Fatalf("err = %#v", err)
	}
	if n := h.fake.Calls("get_appid_group_list"); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
	if strings.Contains(err.Error(), "usersig") || strings.Contains(err.Error(), "?") {
		t.Fatalf("error leaks the URL: %v", err)
	}
}

func TestCallerCancellationIsNotTransient(t *testing.T) {
	h := newHarness(t, nil)
	h.fake.SetLatency(time.Second)
	c := h.client(t, nil)
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := c.GetAppIDGroupList(cctx, 0, 0, "")
	if !errors.Is(err, context.DeadlineExceeded) || IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	if n := h.fake.Calls("get_appid_group_list"); n != 1 {
		t.Fatalf("%d calls after the caller gave up", n)
	}
}

// TestRateLimiter: QPS 10 with burst 1 spaces calls 100ms apart on the
// injected clock, across different commands.
func TestRateLimiter(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, func(cfg *Config) { cfg.QPS = 10; cfg.Burst = 1 })
	for i := range 5 {
		var err error
		if i%2 == 0 {
			_, err = c.GetAppIDGroupList(ctx, 0, 0, "")
		} else {
			_, err = c.GetGroupAttr(ctx, "missing")
		}
		if err != nil && !IsNotFound(err) {
			t.Fatal(err)
		}
	}
	sleeps := h.clock.Sleeps()
	if len(sleeps) != 4 {
		t.Fatalf("sleeps %v, want 4", sleeps)
	}
	for _, d := range sleeps {
		if d < 99*time.Millisecond || d > 101*time.Millisecond {
			t.Fatalf("sleeps %v, want 100ms each", sleeps)
		}
	}
	// A wait longer than the deadline is refused without sleeping.
	c2 := h.client(t, func(cfg *Config) { cfg.QPS = 0.001; cfg.Burst = 1 })
	if _, err := c2.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	before := len(h.clock.Sleeps())
	if _, err := c2.GetAppIDGroupList(dctx, 0, 0, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if len(h.clock.Sleeps()) != before {
		t.Fatal("slept although the deadline was too close")
	}
}

// The server's 60007 is retried and the shared bucket keeps the client
// under the server's limit afterwards.
func TestClientAgainstFakeQPS(t *testing.T) {
	h := newHarness(t, func(o *timfake.Options) { o.QPS = 5 })
	c := h.client(t, func(cfg *Config) { cfg.QPS = 5; cfg.Burst = 5 })
	for range 20 {
		if _, err := c.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := h.fake.Calls("get_appid_group_list"); n != 20 {
		t.Fatalf("%d calls for 20 requests: the client exceeded the server's limit", n)
	}
}

func TestUserSigCache(t *testing.T) {
	h := newHarness(t, nil)
	c := h.client(t, func(cfg *Config) { cfg.UserSigTTL = 10 * time.Hour })
	sigs := func() map[string]bool {
		out := map[string]bool{}
		for _, r := range h.requests() {
			q, _ := url.ParseQuery(r.rawQuery)
			out[q.Get("usersig")] = true
		}
		return out
	}
	for range 10 {
		if _, err := c.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if len(sigs()) != 1 || c.sigs.generated() != 1 {
		t.Fatalf("%d distinct sigs, %d generated for 10 calls", len(sigs()), c.sigs.generated())
	}
	// Refresh when less than min(10%, 1h) of the life is left: 9h here.
	h.clock.Advance(9*time.Hour - time.Second)
	if _, err := c.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
		t.Fatal(err)
	}
	if c.sigs.generated() != 1 {
		t.Fatal("regenerated too early")
	}
	h.clock.Advance(2 * time.Second)
	if _, err := c.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
		t.Fatal(err)
	}
	// The library signs at the wall clock, so the new ticket may equal the
	// old one byte for byte; the count says a new one was made.
	if c.sigs.generated() != 2 {
		t.Fatalf("not regenerated near expiry: %d generated", c.sigs.generated())
	}

	// Concurrent callers share one ticket.
	var wg sync.WaitGroup
	h.clock.Advance(10 * time.Hour)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.sigs.get(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if c.sigs.generated() != 3 {
		t.Fatalf("%d generated after a concurrent refresh, want 3", c.sigs.generated())
	}
	if m := refreshMargin(24 * time.Hour); m != time.Hour {
		t.Errorf("margin for 24h: %v", m)
	}
	if m := refreshMargin(2 * time.Hour); m != 12*time.Minute {
		t.Errorf("margin for 2h: %v", m)
	}
}

// TestSecretsNeverLeak: no error text and no log line carries the key, the
// UserSig or the query, whatever fails — even when the server echoes them.
func TestSecretsNeverLeak(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// A hostile backend that echoes the whole query into ErrorInfo.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		info := "bad request " + r.URL.String() + " sig=" + r.URL.Query().Get("usersig")
		w.Write([]byte(`{"ActionStatus":"FAIL","ErrorCode":10004,"ErrorInfo":` + quote(info) + `}`))
	}))
	defer echo.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	h := newHarness(t, nil)
	h.fake.InjectError("get_appid_group_list", 10002, -1)
	h.fake.FailHTTP(503, 1)

	var errs []error
	for _, endpoint := range []string{echo.URL, downURL, h.ts.URL} {
		c := h.client(t, func(cfg *Config) { cfg.Endpoint = endpoint; cfg.Logger = logger; cfg.MaxRetries = 2 })
		_, err := c.GetAppIDGroupList(ctx, 0, 0, "")
		if err == nil {
			t.Fatalf("%s: no error", endpoint)
		}
		errs = append(errs, err)
		sig, _ := c.sigs.get()
		for _, text := range []string{err.Error(), logs.String()} {
			for _, secret := range []string{testSecret, sig, url.QueryEscape(sig)} {
				if strings.Contains(text, secret) {
					t.Errorf("%s: %q leaks %q", endpoint, text, secret)
				}
			}
			// Only the hostile echo may mention the parameter, and then
			// only redacted.
			if strings.Count(text, "usersig=") != strings.Count(text, "usersig=[redacted]") {
				t.Errorf("%s: %q shows a usersig", endpoint, text)
			}
		}
	}
	if !IsInvalidInput(errs[0]) || !strings.Contains(errs[0].Error(), "[redacted]") {
		t.Errorf("echo: %v", errs[0])
	}
	if !IsTransient(errs[1]) {
		t.Errorf("unreachable endpoint: %v", errs[1])
	}
	if !IsTransient(errs[2]) || !strings.Contains(logs.String(), "retrying") {
		t.Errorf("fake: %v; logs: %s", errs[2], logs.String())
	}
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r == '"' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func TestNewValidatesConfig(t *testing.T) {
	good := Config{SDKAppID: 1400000000, SecretKey: "k"}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the error; "" = ok
	}{
		{"defaults", func(*Config) {}, ""},
		{"no app", func(c *Config) { c.SDKAppID = 0 }, "SDKAppID"},
		{"no key", func(c *Config) { c.SecretKey = "" }, "SecretKey"},
		{"key with newline", func(c *Config) { c.SecretKey = "k\n" }, "white space"},
		{"relative endpoint", func(c *Config) { c.Endpoint = "console.tim.qq.com" }, "Endpoint"},
		{"ftp endpoint", func(c *Config) { c.Endpoint = "ftp://console.tim.qq.com" }, "Endpoint"},
		{"endpoint with query", func(c *Config) { c.Endpoint = "https://console.tim.qq.com/?a=b" }, "query"},
		{"negative QPS", func(c *Config) { c.QPS = -1 }, "QPS"},
		{"negative burst", func(c *Config) { c.Burst = -1 }, "Burst"},
		{"short TTL", func(c *Config) { c.UserSigTTL = time.Second }, "UserSigTTL"},
		{"backoff max below base", func(c *Config) { c.BackoffBase = time.Second; c.BackoffMax = time.Millisecond }, "backoff"},
		{"admin with space", func(c *Config) { c.AdminIdentifier = "admin " }, "AdminIdentifier"},
		{"regional endpoint", func(c *Config) { c.Endpoint = EndpointSingapore }, ""},
	}
	for _, tt := range tests {
		cfg := good
		tt.mutate(&cfg)
		c, err := New(cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err %v, want mention of %q", tt.name, err, tt.want)
		case tt.want != "" && strings.Contains(err.Error(), "k\n"):
			t.Errorf("%s: error quotes the key", tt.name)
		}
		if tt.name == "defaults" && c != nil {
			if c.endpoint != EndpointChina || c.admin != "administrator" || c.lim.Limit() != 100 || c.maxRetries != DefaultMaxRetries || c.hc.Timeout != 6*time.Second {
				t.Errorf("defaults: %+v", c)
			}
		}
	}
}
