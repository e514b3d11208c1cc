package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

type rotations struct{ keys []string }

func (r *rotations) SetSecretKey(key string) error {
	if key == "" {
		return os.ErrInvalid
	}
	r.keys = append(r.keys, key)
	return nil
}

// A rotated token or key file takes effect on the next reload; an empty or
// vanished file keeps what is in force (a half-updated Secret must not
// open the receiver or stop REST calls), and no value is ever logged.
func TestCredentialFilesReload(t *testing.T) {
	dir := t.TempDir()
	tokenFile, keyFile := filepath.Join(dir, "token"), filepath.Join(dir, "key")
	write := func(p, v string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tokenFile, "token-one\n")
	write(keyFile, "key-one\n")
	reg := apps.New()
	reg.Set(apps.App{Name: apps.DefaultName, SDKAppID: 1400000001, Tokens: []string{"token-one"}})
	rot := &rotations{}
	c := watchCredentialFiles(reg, tokenFile, keyFile, rot)
	var logged []string
	c.log = func(msg string, kv ...any) {
		for _, v := range kv {
			if s, ok := v.(string); ok {
				msg += " " + s
			}
		}
		logged = append(logged, msg)
	}
	tokens := func() []string {
		app, _, _ := reg.Lookup(apps.DefaultName)
		return app.Tokens
	}

	c.reload() // nothing changed
	if len(rot.keys) != 0 || !slices.Equal(tokens(), []string{"token-one"}) {
		t.Fatalf("an unchanged file changed something: keys %v, tokens %v", rot.keys, tokens())
	}

	write(tokenFile, "token-two\n")
	write(keyFile, "key-two\n")
	c.reload()
	if !slices.Equal(tokens(), []string{"token-two"}) {
		t.Fatalf("tokens after rotation: %v, want [token-two]", tokens())
	}
	if !slices.Equal(rot.keys, []string{"key-two"}) {
		t.Fatalf("keys set: %v, want [key-two]", rot.keys)
	}
	if app, _, _ := reg.Lookup(apps.DefaultName); app.CredentialsVersion != apps.CredentialsVersion("key-two") {
		t.Fatalf("the registry was not told of the new key: version %q", app.CredentialsVersion)
	}

	write(tokenFile, "")
	write(keyFile, "   \n")
	c.reload()
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	c.reload()
	if !slices.Equal(tokens(), []string{"token-two"}) || !slices.Equal(rot.keys, []string{"key-two"}) {
		t.Fatalf("an empty or missing file replaced the credentials: tokens %v, keys %v", tokens(), rot.keys)
	}
	for _, l := range logged {
		for _, secret := range []string{"token-one", "token-two", "key-one", "key-two"} {
			if strings.Contains(l, secret) {
				t.Fatalf("a log line shows a credential: %q", l)
			}
		}
	}
	if len(logged) < 3 {
		t.Fatalf("the refused reloads were not logged: %q", logged)
	}
}
