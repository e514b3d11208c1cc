package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWebhookCertDirFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, arg, wantErr string
	}{
		{"a directory", "--webhook-cert-dir=" + dir, ""},
		{"missing", "--webhook-cert-dir=" + filepath.Join(dir, "nope"), "--webhook-cert-dir"},
		{"a file", "--webhook-cert-dir=" + file, "--webhook-cert-dir"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(t, "--sdkappid=1", "--insecure-skip-callback-auth", tt.arg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("want an error naming %q, got %v", tt.wantErr, err)
			case err == nil && o.webhook.options().CertDir != dir:
				t.Fatalf("CertDir = %q, want %q", o.webhook.options().CertDir, dir)
			}
		})
	}
	o, err := parseOptions(t, "--sdkappid=1", "--insecure-skip-callback-auth")
	if err != nil {
		t.Fatal(err)
	}
	if o.webhook.options().CertDir != "" {
		t.Fatal("HTTPS must be off by default")
	}
}

func TestPodReference(t *testing.T) {
	t.Setenv(envPodName, "")
	t.Setenv(envPodNamespace, "")
	if ref := podReference(); ref != nil {
		t.Fatalf("outside a pod: %+v, want nil", ref)
	}
	t.Setenv(envPodName, "op-0")
	t.Setenv(envPodNamespace, "chatgroup-system")
	t.Setenv(envPodUID, "1234")
	ref := podReference()
	if ref == nil || ref.Kind != "Pod" || ref.Name != "op-0" || ref.Namespace != "chatgroup-system" || ref.UID != "1234" {
		t.Fatalf("podReference() = %+v", ref)
	}
}
