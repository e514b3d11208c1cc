package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseControllerFlags parses args after a valid --sdkappid, which the
// controller's flags share with the receiver's.
func parseControllerFlags(t *testing.T, args ...string) (*options, error) {
	t.Helper()
	return parseOptions(t, append([]string{"--sdkappid=1400000000", "--insecure-skip-callback-auth"}, args...)...)
}

func TestControllerFlagValidation(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("  s3cr3t-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"key file", []string{"--secret-key-file=" + key}, ""},
		{"missing key file", []string{"--secret-key-file=" + filepath.Join(dir, "nope")}, "--secret-key-file"},
		{"empty key file", []string{"--secret-key-file=" + empty}, "--secret-key-file"},
		{"empty admin", []string{"--admin-identifier="}, "--admin-identifier"},
		{"admin with space", []string{"--admin-identifier=a b "}, "--admin-identifier"},
		{"relative endpoint", []string{"--im-endpoint=console.tim.qq.com"}, "--im-endpoint"},
		{"ftp endpoint", []string{"--im-endpoint=ftp://console.tim.qq.com"}, "--im-endpoint"},
		{"endpoint with query", []string{"--im-endpoint=https://x.example?a=b"}, "--im-endpoint"},
		{"http endpoint", []string{"--im-endpoint=http://127.0.0.1:8080"}, ""},
		{"zero qps", []string{"--im-qps=0"}, "--im-qps"},
		{"negative qps", []string{"--im-qps=-3"}, "--im-qps"},
		{"NaN qps", []string{"--im-qps=NaN"}, "--im-qps"},
		{"zero resync", []string{"--resync-interval=0"}, "--resync-interval"},
		{"negative resync", []string{"--resync-interval=-1m"}, "--resync-interval"},
		{"zero destroy budget", []string{"--max-destroys-per-hour=0"}, "--max-destroys-per-hour"},
		{"destroy budget too large", []string{"--max-destroys-per-hour=10001"}, "--max-destroys-per-hour"},
		{"destroy budget", []string{"--max-destroys-per-hour=500"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseControllerFlags(t, tt.args...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}

func TestControllerFlagDefaultsAndKey(t *testing.T) {
	o, err := parseControllerFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	c := o.controller
	if c.adminIdentifier != "administrator" || c.imEndpoint != "https://console.tim.qq.com" || c.imQPS != 100 || c.resyncInterval != 10*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
	copts, err := c.options(o.webhook.opts.SDKAppID)
	if err != nil {
		t.Fatal(err)
	}
	if copts.IM != nil || !strings.Contains(copts.NoIMMessage, "--secret-key-file is not set") {
		t.Fatalf("without a key: IM %v, message %q", copts.IM, copts.NoIMMessage)
	}

	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("s3cr3t\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err = parseControllerFlags(t, "--secret-key-file="+key, "--resync-interval=90s")
	if err != nil {
		t.Fatal(err)
	}
	if o.controller.secretKey != "s3cr3t" {
		t.Fatalf("key not trimmed: %q", o.controller.secretKey)
	}
	copts, err = o.controller.options(o.webhook.opts.SDKAppID)
	if err != nil {
		t.Fatal(err)
	}
	if copts.IM == nil || copts.ResyncInterval != 90*time.Second {
		t.Fatalf("with a key: %+v", copts)
	}
}
