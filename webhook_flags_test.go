package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWebhookFlagValidation(t *testing.T) {
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("xxxxyyyy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := "--callback-token-file=" + token
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; "" means valid
	}{
		{"minimal", []string{"--sdkappid=1400000000", tok}, ""},
		{"no default app: only ChatApps", nil, ""},
		{"token without sdkappid", []string{tok}, "--sdkappid"},
		{"insecure opt-out without sdkappid", []string{"--insecure-skip-callback-auth"}, "--sdkappid"},
		{"zero sdkappid", []string{"--sdkappid=0", tok}, "--sdkappid"},
		{"sdkappid not a number", []string{"--sdkappid=abc"}, "sdkappid"},
		{"negative sdkappid", []string{"--sdkappid=-1"}, "sdkappid"},
		{"no token: refused", []string{"--sdkappid=1"}, "--callback-token-file is required"},
		{"no token, explicitly insecure", []string{"--sdkappid=1", "--insecure-skip-callback-auth"}, ""},
		{"unreadable token file", []string{"--sdkappid=1", "--callback-token-file=" + filepath.Join(dir, "nope")}, "--callback-token-file"},
		{"empty token file: refused", []string{"--sdkappid=1", "--callback-token-file=" + empty}, "--callback-token-file"},
		{"empty token file, explicitly insecure", []string{"--sdkappid=1", "--callback-token-file=" + empty, "--insecure-skip-callback-auth"}, ""},
		{"discovery without a token", []string{"--sdkappid=1", "--insecure-skip-callback-auth", "--discovery-namespace=chat"}, "--discovery-namespace"},
		{"negative skew", []string{"--sdkappid=1", tok, "--callback-max-skew=-1s"}, "--callback-max-skew"},
		{"zero skew disables", []string{"--sdkappid=1", tok, "--callback-max-skew=0"}, ""},
		{"bad bind address", []string{"--sdkappid=1", tok, "--webhook-bind-address=8090"}, "--webhook-bind-address"},
		{"relative path", []string{"--sdkappid=1", tok, "--webhook-path=callback"}, "--webhook-path"},
		{"bad namespace", []string{"--sdkappid=1", tok, "--discovery-namespace=Not_A_NS"}, "--discovery-namespace"},
		{"namespace", []string{"--sdkappid=1", tok, "--discovery-namespace=chat"}, ""},
		{"zero qps", []string{"--sdkappid=1", tok, "--status-write-qps=0"}, "--status-write-qps"},
		{"zero burst", []string{"--sdkappid=1", tok, "--status-write-burst=0"}, "--status-write-burst"},
		{"zero pending", []string{"--sdkappid=1", tok, "--max-pending-groups=0"}, "--max-pending-groups"},
		{"zero in flight", []string{"--sdkappid=1", tok, "--max-inflight-callbacks=0"}, "--max-inflight-callbacks"},
		{"zero discovery cap", []string{"--sdkappid=1", tok, "--discovery-max-groups=0"}, "--discovery-max-groups"},
		{"zero discovery rate", []string{"--sdkappid=1", tok, "--discovery-per-minute=0"}, "--discovery-per-minute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOptions(t, tt.args...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("want an error naming %q, got none", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %q does not name %q", err, tt.wantErr)
			}
		})
	}
}

func TestWebhookFlagDefaultsAndToken(t *testing.T) {
	o, err := parseOptions(t, "--sdkappid=1400000000", "--insecure-skip-callback-auth")
	if err != nil {
		t.Fatal(err)
	}
	w := o.webhook.options()
	if w.SDKAppID != 1400000000 || w.MaxSkew != time.Minute || w.BindAddress != ":8090" ||
		w.Path != "/callback" || w.DiscoveryNamespace != "" || w.WriteQPS != 20 || w.WriteBurst != 10 ||
		w.MaxPendingGroups != 20000 || w.Token != "" || !w.InsecureSkipAuth || w.MaxInFlight != 64 ||
		w.DiscoveryMaxGroups != 1000 || w.DiscoveryPerMinute != 60 {
		t.Fatalf("defaults differ from docs/design.md and the README: %+v", w)
	}
	o, err = parseOptions(t, "--sdkappid=1", "--insecure-skip-callback-auth", "--callback-max-skew=0")
	if err != nil {
		t.Fatal(err)
	}
	if got := o.webhook.options().MaxSkew; got != 0 {
		t.Fatalf("--callback-max-skew=0 must disable the check (MaxSkew 0), got %v", got)
	}
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("xxxxyyyy\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err = parseOptions(t, "--sdkappid=1", "--callback-token-file="+token)
	if err != nil {
		t.Fatal(err)
	}
	if got := o.webhook.options().Token; got != "xxxxyyyy" {
		t.Fatalf("token = %q, want the file content without the trailing newline", got)
	}
}
