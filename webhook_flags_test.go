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
	tests := []struct {
		name    string
		args    []string
		wantErr string // substring; "" means valid
	}{
		{"minimal", []string{"--sdkappid=1400000000"}, ""},
		{"missing sdkappid", nil, "--sdkappid is required"},
		{"zero sdkappid", []string{"--sdkappid=0"}, "--sdkappid is required"},
		{"sdkappid not a number", []string{"--sdkappid=abc"}, "sdkappid"},
		{"negative sdkappid", []string{"--sdkappid=-1"}, "sdkappid"},
		{"token file", []string{"--sdkappid=1", "--callback-token-file=" + token}, ""},
		{"unreadable token file", []string{"--sdkappid=1", "--callback-token-file=" + filepath.Join(dir, "nope")}, "--callback-token-file"},
		{"empty token file: Sign not checked", []string{"--sdkappid=1", "--callback-token-file=" + empty}, ""},
		{"negative skew", []string{"--sdkappid=1", "--callback-max-skew=-1s"}, "--callback-max-skew"},
		{"zero skew disables", []string{"--sdkappid=1", "--callback-max-skew=0"}, ""},
		{"bad bind address", []string{"--sdkappid=1", "--webhook-bind-address=8090"}, "--webhook-bind-address"},
		{"relative path", []string{"--sdkappid=1", "--webhook-path=callback"}, "--webhook-path"},
		{"bad namespace", []string{"--sdkappid=1", "--discovery-namespace=Not_A_NS"}, "--discovery-namespace"},
		{"namespace", []string{"--sdkappid=1", "--discovery-namespace=chat"}, ""},
		{"zero qps", []string{"--sdkappid=1", "--status-write-qps=0"}, "--status-write-qps"},
		{"zero burst", []string{"--sdkappid=1", "--status-write-burst=0"}, "--status-write-burst"},
		{"zero pending", []string{"--sdkappid=1", "--max-pending-groups=0"}, "--max-pending-groups"},
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
	o, err := parseOptions(t, "--sdkappid=1400000000")
	if err != nil {
		t.Fatal(err)
	}
	w := o.webhook.options()
	if w.SDKAppID != 1400000000 || w.MaxSkew != time.Minute || w.BindAddress != ":8090" ||
		w.Path != "/callback" || w.DiscoveryNamespace != "" || w.WriteQPS != 20 || w.WriteBurst != 10 ||
		w.MaxPendingGroups != 20000 || w.Token != "" {
		t.Fatalf("defaults differ from docs/design.md and the README: %+v", w)
	}
	o, err = parseOptions(t, "--sdkappid=1", "--callback-max-skew=0")
	if err != nil {
		t.Fatal(err)
	}
	if got := o.webhook.options().MaxSkew; got >= 0 {
		t.Fatalf("--callback-max-skew=0 must disable the check (negative MaxSkew), got %v", got)
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
