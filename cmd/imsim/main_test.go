package main

import (
	"bytes"
	"context"
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
	var mu sync.Mutex
	var got []*http.Request
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
		io.WriteString(w, `{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}`)
	}))
	defer rcv.Close()

	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	args := []string{"--listen", "127.0.0.1:0", "--sdkappid", "1400000000",
		"--secret-key-file", writeFile(t, "key", secret+"\n"), "--callback-token-file", writeFile(t, "token", token),
		"--callback-url", rcv.URL + "/callback?x=secret-in-query", "--groups", "3", "--users", "5", "--rate", "100", "--log-level", "debug"}
	go func() { done <- run(ctx, args, logs, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("exited early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}

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

	time.Sleep(300 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 5 {
		t.Fatalf("%d callbacks from ~30 simulated events", len(got))
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
