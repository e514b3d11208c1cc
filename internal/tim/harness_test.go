package tim

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

const (
	testAppID  = 1400000000
	testSecret = "s3cr3t-key-for-tests-0123456789abcdef"
	testAdmin  = "administrator"
)

// fakeClock is shared by the fake backend and the client; sleeping advances
// it, so retries and rate limiting run instantly and deterministically.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

type recorded struct {
	path     string
	rawQuery string
	body     []byte
}

// harness is the fake IM backend over real HTTP, with every request
// recorded before the fake sees it.
type harness struct {
	fake     *timfake.Server
	ts       *httptest.Server
	clock    *fakeClock
	newConns atomic.Int32

	mu   sync.Mutex
	reqs []recorded
}

func newHarness(t *testing.T, mutate func(*timfake.Options)) *harness {
	t.Helper()
	h := &harness{clock: &fakeClock{t: time.Unix(1700000000, 0)}}
	o := timfake.Options{SDKAppID: testAppID, SecretKey: testSecret, AdminIdentifier: testAdmin, Now: h.clock.Now, Seed: 3}
	if mutate != nil {
		mutate(&o)
	}
	h.fake = timfake.New(o)
	h.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, recorded{path: r.URL.Path, rawQuery: r.URL.RawQuery, body: body})
		h.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		h.fake.ServeHTTP(w, r)
	}))
	h.ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			h.newConns.Add(1)
		}
	}
	h.ts.Start()
	t.Cleanup(func() { h.ts.Close(); h.fake.Close() })
	return h
}

func (h *harness) requests() []recorded {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]recorded(nil), h.reqs...)
}

func (h *harness) last(t *testing.T) recorded {
	t.Helper()
	r := h.requests()
	if len(r) == 0 {
		t.Fatal("no request recorded")
	}
	return r[len(r)-1]
}

func (h *harness) config() Config {
	return Config{
		Endpoint:        h.ts.URL,
		SDKAppID:        testAppID,
		AdminIdentifier: testAdmin,
		SecretKey:       testSecret,
		QPS:             1000,
		Now:             h.clock.Now,
		Sleep:           h.clock.Sleep,
	}
}

func (h *harness) client(t *testing.T, mutate func(*Config)) *Client {
	t.Helper()
	cfg := h.config()
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
