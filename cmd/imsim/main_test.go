package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// callbackRecorder is a callback endpoint that answers OK and keeps every
// request.
type callbackRecorder struct {
	URL string
	mu  sync.Mutex
	got []*http.Request
}

func newCallbackRecorder(t *testing.T) *callbackRecorder {
	c := &callbackRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.got = append(c.got, r)
		c.mu.Unlock()
		io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

func (c *callbackRecorder) requests() []*http.Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*http.Request(nil), c.got...)
}

// startSim runs the program with args, logging to logs, and returns its
// address once it listens; stop cancels it and returns what run returned
// (it fails the test if run does not end within 10 s).
func startSim(t *testing.T, args []string, logs io.Writer) (addr string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, logs, ready) }()
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("exited early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return addr, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("did not stop")
			return nil
		}
	}
}

func TestFlagErrors(t *testing.T) {
	key := writeFile(t, "key", "k\n")
	empty := writeFile(t, "empty", "\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--secret-key-file", key}, "--sdkappid is required"},
		{[]string{"--sdkappid", "1"}, "--secret-key-file is required"},
		{[]string{"--sdkappid", "x", "--secret-key-file", key}, "invalid value"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--listen", "nope"}, "--listen"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--callback-url", "ftp://x"}, "--callback-url"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--rate", "-1"}, "--rate"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--users", "0"}, "--users"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--log-level", "loud"}, "--log-level"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "extra"}, "unexpected arguments"},
		{[]string{"--sdkappid", "1", "--secret-key-file", "/nonexistent/key"}, "--secret-key-file"},
		{[]string{"--sdkappid", "1", "--secret-key-file", empty}, "is empty"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--callback-token-file", empty}, "--callback-token-file"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--rate", "1", "--sim-initial-groups-only"}, "--sim-initial-groups-only needs --groups > 0"},
		// --app: the same requirements as the primary app's flags.
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "secret-key-file=" + key}, "sdkappid is required"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2"}, "secret-key-file is required"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2,secret-key-file=" + key + ",colour=red"}, `unknown key "colour"`},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2,sdkappid=3,secret-key-file=" + key}, "sdkappid given twice"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=x,secret-key-file=" + key}, "not a valid number"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2,secret-key-file=" + key + ",groups=-1"}, "groups must be 0-100000"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2,secret-key-file=" + key + ",admin-identifier="}, "admin-identifier must not be empty"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2," + key}, "is not key=value"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=1,secret-key-file=" + key}, "sdkappid=1: app served twice"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2,secret-key-file=" + key, "--app", "sdkappid=2,secret-key-file=" + key}, "sdkappid=2: app served twice"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2,secret-key-file=/nonexistent/key"}, "--app sdkappid=2 secret-key-file"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--app", "sdkappid=2,secret-key-file=" + key + ",callback-token-file=" + empty}, "--app sdkappid=2 callback-token-file"},
		{[]string{"--sdkappid", "1", "--secret-key-file", key, "--sim-initial-groups-only", "--app", "sdkappid=2,secret-key-file=" + key + ",rate=5"}, "sdkappid=2: --sim-initial-groups-only needs groups > 0"},
	}
	for _, tt := range tests {
		err := run(context.Background(), tt.args, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err %v, want mention of %q", tt.args, err, tt.want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServesAndSimulates runs the program end to end: the REST client talks
// to it, simulated users cause signed callbacks, and cancelling stops it.
func TestServesAndSimulates(t *testing.T) {
	const secret, token = "imsim-secret-key", "imsim-callback-token"
	rcv := newCallbackRecorder(t)
	logs := &syncBuffer{}
	args := []string{"--listen", "127.0.0.1:0", "--sdkappid", "1400000000",
		"--secret-key-file", writeFile(t, "key", secret+"\n"), "--callback-token-file", writeFile(t, "token", token),
		"--callback-url", rcv.URL + "/callback?x=secret-in-query", "--groups", "3", "--users", "5", "--rate", "100", "--log-level", "debug"}
	addr, stop := startSim(t, args, logs)

	c, err := tim.New(tim.Config{Endpoint: "http://" + addr, SDKAppID: 1400000000, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.GetGroupInfo(context.Background(), []string{"sim-group-000", "sim-group-002", "sim-group-003"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[0].OwnerAccount != "user-000" || res[1].Err != nil || !tim.IsNotFound(res[2].Err) {
		t.Fatalf("pre-created groups: %+v", res)
	}
	bad, _ := tim.New(tim.Config{Endpoint: "http://" + addr, SDKAppID: 1400000000, SecretKey: "wrong", MaxRetries: -1})
	if _, err := bad.GetAppIDGroupList(context.Background(), 0, 0, ""); !tim.IsCredentials(err) {
		t.Fatalf("wrong key: %v", err)
	}

	// Wait for the 3 creates and simulated users on at least two
	// platforms (what is checked below), then stop.
	platformsSeen := func() int {
		seen := map[string]bool{}
		for _, r := range rcv.requests() {
			seen[r.URL.Query().Get("OptPlatform")] = true
		}
		return len(seen)
	}
	for deadline := time.Now().Add(10 * time.Second); (len(rcv.requests()) < 5 || platformsSeen() < 3) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	got := rcv.requests()
	if len(got) < 5 {
		t.Fatalf("%d callbacks in 10 s of simulated events at 100/s", len(got))
	}
	platforms := map[string]int{}
	for _, r := range got {
		q := r.URL.Query()
		if err := callbacksign.Check(token, q.Get("Sign"), q.Get("RequestTime"), time.Now(), time.Minute); err != nil {
			t.Fatalf("callback Sign: %v", err)
		}
		if q.Get("x") != "secret-in-query" {
			t.Fatalf("configured query lost: %s", r.URL.RawQuery)
		}
		platforms[q.Get("OptPlatform")]++
		if q.Get("OptPlatform") == "RESTAPI" && q.Get("CallbackCommand") != "Group.CallbackAfterCreateGroup" {
			t.Errorf("REST callback %s: only the start-up creates are REST", q.Get("CallbackCommand"))
		}
	}
	// The 3 groups made at start come through the admin path; everything
	// after is simulated users on several platforms.
	if platforms["RESTAPI"] != 3 || len(platforms) < 3 {
		t.Errorf("platforms %v", platforms)
	}
	out := logs.String()
	for _, leak := range []string{secret, token, "Sign=", "usersig", "secret-in-query"} {
		if strings.Contains(out, leak) {
			t.Errorf("logs contain %q", leak)
		}
	}
	if !strings.Contains(out, "imsim listening") || !strings.Contains(out, "imsim stopped") {
		t.Errorf("logs: %s", out)
	}
}

// TestServesSeveralApps runs a primary app and one --app on one address:
// each app answers its own admin with its own groups (the same group ID in
// both is two groups), refuses the other app's key, and signs its callbacks
// with its own token.
func TestServesSeveralApps(t *testing.T) {
	const (
		appA, secretA, tokenA = 1400000000, "secret-of-app-a", "token-of-app-a"
		appB, secretB, tokenB = 1400000002, "secret-of-app-b", "token-of-app-b"
	)
	rcv := newCallbackRecorder(t)
	logs := &syncBuffer{}
	args := []string{"--listen", "127.0.0.1:0", "--callback-url", rcv.URL + "/callback",
		"--sdkappid", "1400000000", "--secret-key-file", writeFile(t, "key-a", secretA+"\n"),
		"--callback-token-file", writeFile(t, "token-a", tokenA), "--groups", "2",
		"--app", "sdkappid=1400000002,secret-key-file=" + writeFile(t, "key-b", secretB) +
			",callback-token-file=" + writeFile(t, "token-b", tokenB+"\n") + ",admin-identifier=boss,groups=1",
		"--log-level", "debug"}
	addr, stop := startSim(t, args, logs)

	client := func(app uint64, admin, key string) *tim.Client {
		t.Helper()
		c, err := tim.New(tim.Config{Endpoint: "http://" + addr, SDKAppID: app, AdminIdentifier: admin, SecretKey: key, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a, b := client(appA, "administrator", secretA), client(appB, "boss", secretB)
	bg := context.Background()

	// Each app holds the groups its own flags asked for.
	res, err := a.GetGroupInfo(bg, []string{"sim-group-000", "sim-group-001"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("app A's 2 initial groups: %v, %v", res[0].Err, res[1].Err)
	}
	res, err = b.GetGroupInfo(bg, []string{"sim-group-000", "sim-group-001"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !tim.IsNotFound(res[1].Err) {
		t.Fatalf("app B's 1 initial group: %v, %v", res[0].Err, res[1].Err)
	}

	// The same group ID in each app is two groups.
	for c, name := range map[*tim.Client]string{a: "shared in A", b: "shared in B"} {
		if _, err := c.CreateGroup(bg, tim.CreateGroupRequest{Type: "Public", GroupID: "shared", Name: name}); err != nil {
			t.Fatalf("create %q: %v", name, err)
		}
	}
	for c, want := range map[*tim.Client]string{a: "shared in A", b: "shared in B"} {
		res, err := c.GetGroupInfo(bg, []string{"shared"})
		if err != nil || res[0].Err != nil || res[0].Name != want {
			t.Errorf("shared: err %v, %+v, want Name %q", err, res, want)
		}
	}

	// App B with app A's key: the UserSig does not verify.
	_, err = client(appB, "boss", secretA).GetAppIDGroupList(bg, 0, 0, "")
	var te *tim.Error
	if !errors.As(err, &te) || te.Code != 70009 || !tim.IsCredentials(err) {
		t.Errorf("app B with app A's key: %v, want code 70009", err)
	}
	// An app nobody serves.
	_, err = client(1400000009, "administrator", secretA).GetAppIDGroupList(bg, 0, 0, "")
	if !errors.As(err, &te) || te.Code != 60006 {
		t.Errorf("unknown app: %v, want code 60006", err)
	}

	// Stopping waits until every queued callback is delivered.
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	got := rcv.requests()
	tokens := map[string]string{"1400000000": tokenA, "1400000002": tokenB}
	perApp := map[string]int{}
	for _, r := range got {
		q := r.URL.Query()
		tok, ok := tokens[q.Get("SdkAppid")]
		if !ok {
			t.Fatalf("callback of SdkAppid %q", q.Get("SdkAppid"))
		}
		if err := callbacksign.Check(tok, q.Get("Sign"), q.Get("RequestTime"), time.Now(), time.Minute); err != nil {
			t.Errorf("callback of app %s not signed with its own token: %v", q.Get("SdkAppid"), err)
		}
		perApp[q.Get("SdkAppid")]++
	}
	// A: 2 initial groups and shared; B: 1 initial group and shared.
	if perApp["1400000000"] != 3 || perApp["1400000002"] != 2 {
		t.Errorf("callbacks per app %v, want 3 from A and 2 from B", perApp)
	}
	out := logs.String()
	for _, leak := range []string{secretA, secretB, tokenA, tokenB, "Sign=", "usersig"} {
		if strings.Contains(out, leak) {
			t.Errorf("logs contain %q", leak)
		}
	}
	if !strings.Contains(out, "imsim app") || !strings.Contains(out, "sdkappid=1400000002") {
		t.Errorf("logs do not describe the extra app: %s", out)
	}
}
