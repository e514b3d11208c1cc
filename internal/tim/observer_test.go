package tim

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingObserver keeps every observation as one line, in order.
type recordingObserver struct {
	mu     sync.Mutex
	events []string
	labels []string // every string the client passed, for the leak checks
}

func (o *recordingObserver) Attempt(command, result string, d time.Duration) {
	o.add(fmt.Sprintf("attempt %s %s %v", command, result, d), command, result)
}

func (o *recordingObserver) Retry(command, reason string) {
	o.add(fmt.Sprintf("retry %s %s", command, reason), command, reason)
}

func (o *recordingObserver) RateLimitWait(d time.Duration) {
	o.add(fmt.Sprintf("wait %v", d))
}

func (o *recordingObserver) add(event string, labels ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.events = append(o.events, event)
	o.labels = append(o.labels, labels...)
}

func (o *recordingObserver) Events() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.events...)
}

func (o *recordingObserver) Labels() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.labels...)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// attemptCost is how far every HTTP attempt moves the fake clock, so the
// observed durations prove they are taken on Config.Now's clock.
const attemptCost = 40 * time.Millisecond

// TestObserverSequence: the exact observations for each kind of outcome,
// with no string that could carry a secret or grow a label without bound.
func TestObserverSequence(t *testing.T) {
	const create = "group_open_http_svc/create_group"
	attempt := func(result string) string { return fmt.Sprintf("attempt %s %s %v", create, result, attemptCost) }
	retry := func(reason string) string { return "retry " + create + " " + reason }

	// A hostile backend that echoes the whole query, UserSig included.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"ActionStatus":"FAIL","ErrorCode":10004,"ErrorInfo":` + quote(r.URL.String()) + `}`))
	}))
	defer echo.Close()
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`<html>` + r.URL.RawQuery + `</html>`))
	}))
	defer garbage.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name       string
		endpoint   string // "" = the fake
		inject     func(h *harness)
		maxRetries int
		ctx        context.Context
		wantOK     bool
		want       []string
	}{
		{name: "success", wantOK: true, want: []string{attempt("ok")}},
		{name: "IM error is recorded with its code, not retried",
			inject: func(h *harness) { h.fake.InjectError("create_group", 10021, -1) },
			want:   []string{attempt("10021")}},
		{name: "rate limited, retried, then OK",
			inject: func(h *harness) { h.fake.InjectError("create_group", 60007, 1) }, wantOK: true,
			want: []string{attempt("60007"), retry(RetryRateLimited), attempt("ok")}},
		{name: "HTTP 502, retried, then OK",
			inject: func(h *harness) { h.fake.FailHTTP(502, 1) }, wantOK: true,
			want: []string{attempt("http_502"), retry(RetryTransient), attempt("ok")}},
		{name: "HTTP 429 is rate limiting",
			inject: func(h *harness) { h.fake.FailHTTP(429, 1) }, wantOK: true,
			want: []string{attempt("http_429"), retry(RetryRateLimited), attempt("ok")}},
		{name: "non-200 without retries",
			inject: func(h *harness) { h.fake.FailHTTP(503, 1) }, maxRetries: -1,
			want: []string{attempt("http_503")}},
		{name: "internal error until retries run out",
			inject: func(h *harness) { h.fake.InjectError("create_group", 10002, -1) }, maxRetries: 1,
			want: []string{attempt("10002"), retry(RetryTransient), attempt("10002")}},
		{name: "expired UserSig, fresh ticket, then OK",
			inject: func(h *harness) { h.fake.InjectError("create_group", 70001, 1) }, wantOK: true,
			want: []string{attempt("70001"), retry(RetryUserSigExpired), attempt("ok")}},
		{name: "network failure", endpoint: downURL, maxRetries: -1,
			want: []string{attempt("network")}},
		{name: "answer that is not an envelope", endpoint: garbage.URL,
			want: []string{attempt("bad_response")}},
		{name: "caller's context already ended", ctx: canceled,
			want: []string{attempt("canceled")}},
		{name: "backend echoing the UserSig", endpoint: echo.URL,
			want: []string{attempt("10004")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nil)
			obs := &recordingObserver{}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			t.Cleanup(tr.CloseIdleConnections)
			c := h.client(t, func(cfg *Config) {
				if tt.endpoint != "" {
					cfg.Endpoint = tt.endpoint
				}
				cfg.MaxRetries = tt.maxRetries
				cfg.Observer = obs
				cfg.HTTPClient = &http.Client{Transport: roundTripperFunc(func(r *http.Request) (*http.Response, error) {
					h.clock.Advance(attemptCost)
					return tr.RoundTrip(r)
				})}
			})
			if tt.inject != nil {
				tt.inject(h)
			}
			cctx := tt.ctx
			if cctx == nil {
				cctx = ctx
			}
			_, err := c.CreateGroup(cctx, CreateGroupRequest{Type: "Public", GroupID: "g", Name: "n"})
			if tt.wantOK != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.wantOK)
			}
			if got := obs.Events(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("observed\n %q\nwant\n %q", got, tt.want)
			}

			endpoint, _ := url.Parse(c.endpoint)
			secrets := []string{testSecret, "usersig=", "sdkappid=", "?", endpoint.Host}
			if len(c.sigs.known()) == 0 {
				t.Fatal("no UserSig to look for")
			}
			for _, sig := range c.sigs.known() {
				secrets = append(secrets, sig, url.QueryEscape(sig))
			}
			for _, s := range obs.Labels() {
				for _, secret := range secrets {
					if strings.Contains(s, secret) {
						t.Errorf("observed %q contains %q", s, secret)
					}
				}
				if !boundedLabel(s) {
					t.Errorf("observed %q is not from the bounded set", s)
				}
			}
		})
	}
}

// boundedLabel: a command, a fixed result or reason, an IM code or an HTTP
// status.
func boundedLabel(s string) bool {
	switch s {
	case ResultOK, ResultCanceled, ResultNetwork, ResultBadResponse, ResultError,
		RetryRateLimited, RetryTransient, RetryUserSigExpired:
		return true
	}
	if svc, cmd, ok := strings.Cut(s, "/"); ok {
		return (svc == svcGroup || svc == svcGroupAttr) && cmd != "" && !strings.ContainsAny(cmd, "/?&=:")
	}
	if n, err := strconv.Atoi(strings.TrimPrefix(s, resultHTTPPrefix)); err == nil {
		return n > 0
	}
	return false
}

// TestObserverRateLimitWait: a wait on the client's own bucket is observed
// with its length before the attempt it delayed; a call that did not wait,
// or that the deadline stopped from waiting, observes none.
func TestObserverRateLimitWait(t *testing.T) {
	const list = "group_open_http_svc/get_appid_group_list"
	h := newHarness(t, nil)
	obs := &recordingObserver{}
	c := h.client(t, func(cfg *Config) { cfg.QPS = 10; cfg.Burst = 1; cfg.Observer = obs })
	for range 2 {
		if _, err := c.GetAppIDGroupList(ctx, 0, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	sleeps := h.clock.Sleeps()
	if len(sleeps) != 1 || sleeps[0] < 99*time.Millisecond || sleeps[0] > 101*time.Millisecond {
		t.Fatalf("sleeps %v, want one of 100ms", sleeps)
	}
	want := []string{
		"attempt " + list + " ok 0s",
		fmt.Sprintf("wait %v", sleeps[0]),
		"attempt " + list + " ok 0s",
	}
	if got := obs.Events(); !reflect.DeepEqual(got, want) {
		t.Fatalf("observed %q, want %q", got, want)
	}

	dctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := c.GetAppIDGroupList(dctx, 0, 0, ""); err == nil {
		t.Fatal("a 100ms wait fitted in a 10ms deadline")
	}
	if got := obs.Events(); len(got) != len(want) {
		t.Fatalf("a refused wait was observed: %q", got[len(want):])
	}
}
