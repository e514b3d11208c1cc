package usersig

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/go_made.json")

type pyVector struct {
	Name             string `json:"name"`
	UserSig          string `json:"usersig"`
	VerifySDKAppID   uint64 `json:"verify_sdkappid"`
	VerifyKey        string `json:"verify_key"`
	VerifyIdentifier string `json:"verify_identifier"`
	VerifyNow        int64  `json:"verify_now"`
	Expect           string `json:"expect"`
	Made             *struct {
		SDKAppID   uint64 `json:"sdkappid"`
		Identifier string `json:"identifier"`
		Time       int64  `json:"time"`
		Expire     int64  `json:"expire"`
		SignedText string `json:"signed_text"`
		HMACHex    string `json:"hmac_hex"`
	} `json:"made"`
}

var expectErr = map[string]error{
	"ok":                  nil,
	"malformed":           ErrMalformed,
	"sdkappid_mismatch":   ErrSDKAppIDMismatch,
	"identifier_mismatch": ErrIdentifierMismatch,
	"expired":             ErrExpired,
	"sig_mismatch":        ErrSigMismatch,
}

func loadVectors(t *testing.T) []pyVector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []pyVector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 10 {
		t.Fatalf("only %d vectors in testdata/vectors.json", len(f.Vectors))
	}
	return f.Vectors
}

// TestPythonVectors checks Go's verifier against tickets made and judged by
// the independent Python implementation in testdata/gen_vectors.py.
func TestPythonVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			want, ok := expectErr[v.Expect]
			if !ok {
				t.Fatalf("unknown expectation %q", v.Expect)
			}
			err := Verify(v.VerifySDKAppID, v.VerifyKey, v.VerifyIdentifier, v.UserSig, time.Unix(v.VerifyNow, 0))
			if want == nil && err != nil {
				t.Fatalf("Verify: %v, want ok", err)
			}
			if want != nil && !errors.Is(err, want) {
				t.Fatalf("Verify: %v, want %v", err, want)
			}
			if v.Made == nil {
				return
			}
			// The signed text and HMAC must be identical, not merely accepted.
			if got := string(signedTextForTest(v.Made.Identifier, v.Made.SDKAppID, v.Made.Time, v.Made.Expire)); got != v.Made.SignedText {
				t.Errorf("signed text %q, python %q", got, v.Made.SignedText)
			}
			if got := hex.EncodeToString(mac(v.VerifyKey, v.Made.Identifier, v.Made.SDKAppID, v.Made.Time, v.Made.Expire)); got != v.Made.HMACHex {
				t.Errorf("hmac %s, python %s", got, v.Made.HMACHex)
			}
			c, err := Decode(v.UserSig)
			if err != nil {
				t.Fatal(err)
			}
			if c.SDKAppID != v.Made.SDKAppID || c.Identifier != v.Made.Identifier || c.Time != v.Made.Time || c.Expire != v.Made.Expire || c.Version != "2.0" {
				t.Errorf("decoded %+v, python made %+v", c, *v.Made)
			}
			// Go re-issuing the same claims must carry the same HMAC.
			mine, err := Generate(v.Made.SDKAppID, v.VerifyKey, v.Made.Identifier, time.Duration(v.Made.Expire)*time.Second, time.Unix(v.Made.Time, 0))
			if err != nil {
				t.Fatal(err)
			}
			mc, err := Decode(mine)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mc.Sig, c.Sig) {
				t.Errorf("Go HMAC %x, python %x", mc.Sig, c.Sig)
			}
		})
	}
}

func signedTextForTest(identifier string, app uint64, issued, expire int64) []byte {
	return []byte("TLS.identifier:" + identifier + "\nTLS.sdkappid:" + strconv.FormatUint(app, 10) +
		"\nTLS.time:" + strconv.FormatInt(issued, 10) + "\nTLS.expire:" + strconv.FormatInt(expire, 10) + "\n")
}

// TestGenerateWireFormat opens a Go-made ticket by hand, without Decode, to
// check each layer the real backend parses: alphabet, zlib, JSON key names and
// JSON types (numbers stay numbers).
func TestGenerateWireFormat(t *testing.T) {
	now := time.Unix(1700000000, 0)
	sig, err := Generate(1400000000, "k3y", "administrator", 24*time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(sig, "+/=") {
		t.Fatalf("ticket %q contains standard base64 characters", sig)
	}
	std := strings.NewReplacer("*", "+", "-", "/", "_", "=").Replace(sig)
	raw, err := base64.StdEncoding.DecodeString(std)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(zr)
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TLS.ver":        "2.0",
		"TLS.identifier": "administrator",
		"TLS.sdkappid":   "1400000000",
		"TLS.expire":     "86400",
		"TLS.time":       "1700000000",
	}
	for k, w := range want {
		got, ok := doc[k]
		if !ok {
			t.Errorf("key %s missing", k)
			continue
		}
		switch k {
		case "TLS.ver", "TLS.identifier":
			if s, ok := got.(string); !ok || s != w {
				t.Errorf("%s = %#v, want string %q", k, got, w)
			}
		default:
			if n, ok := got.(json.Number); !ok || n.String() != w {
				t.Errorf("%s = %#v, want number %s", k, got, w)
			}
		}
	}
	s, _ := doc["TLS.sig"].(string)
	h, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(h) != 32 {
		t.Fatalf("TLS.sig %q is not std base64 of 32 bytes", s)
	}
	if len(doc) != 6 {
		t.Errorf("ticket has %d keys, want 6: %v", len(doc), doc)
	}
}

func TestVerifyErrors(t *testing.T) {
	const app, key, id = 1400000001, "secret", "administrator"
	issued := time.Unix(1700000000, 0)
	good, err := Generate(app, key, id, time.Hour, issued)
	if err != nil {
		t.Fatal(err)
	}
	// Flip one character in the middle of the ticket: it must never verify,
	// whichever layer notices.
	mid := len(good) / 2
	flipped := good[:mid] + string(rune(good[mid]^1)) + good[mid+1:]
	tests := []struct {
		name    string
		app     uint64
		key, id string
		sig     string
		now     time.Time
		want    error
	}{
		{"ok", app, key, id, good, issued, nil},
		{"ok at last second", app, key, id, good, issued.Add(time.Hour), nil},
		{"expired one second later", app, key, id, good, issued.Add(time.Hour + time.Second), ErrExpired},
		{"wrong key", app, "other", id, good, issued, ErrSigMismatch},
		{"wrong identifier", app, key, "bob", good, issued, ErrIdentifierMismatch},
		{"wrong app", app + 1, key, id, good, issued, ErrSDKAppIDMismatch},
		{"garbage", app, key, id, "@@@@", issued, ErrMalformed},
		{"empty", app, key, id, "", issued, ErrMalformed},
		{"huge", app, key, id, strings.Repeat("A", 1<<16), issued, ErrMalformed},
		{"truncated", app, key, id, good[:len(good)-8], issued, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.app, tt.key, tt.id, tt.sig, tt.now)
			if tt.want == nil && err != nil {
				t.Fatalf("got %v, want ok", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err := Verify(app, key, id, flipped, issued); err == nil {
		t.Fatalf("ticket with a flipped character verified")
	}
}

func TestGenerateRefusesBadInput(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for name, f := range map[string]func() (string, error){
		"zero app":       func() (string, error) { return Generate(0, "k", "a", time.Hour, now) },
		"empty key":      func() (string, error) { return Generate(1, "", "a", time.Hour, now) },
		"empty id":       func() (string, error) { return Generate(1, "k", "", time.Hour, now) },
		"newline id":     func() (string, error) { return Generate(1, "k", "a\nTLS.expire:9", time.Hour, now) },
		"subsecond life": func() (string, error) { return Generate(1, "k", "a", 500*time.Millisecond, now) },
	} {
		if sig, err := f(); err == nil {
			t.Errorf("%s: Generate succeeded with %q", name, sig)
		}
	}
}

func TestClaimsTimes(t *testing.T) {
	now := time.Unix(1700000000, 0)
	sig, err := Generate(7, "k", "a", 90*time.Minute+999*time.Millisecond, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Decode(sig)
	if err != nil {
		t.Fatal(err)
	}
	if !c.IssuedAt().Equal(now) || !c.ExpiresAt().Equal(now.Add(90*time.Minute)) {
		t.Fatalf("issued %v expires %v", c.IssuedAt(), c.ExpiresAt())
	}
}

// goMade are tickets Go issues for the Python script to verify; the file is
// committed so the cross-check runs even where Python is missing.
var goMade = []struct {
	Name       string
	SDKAppID   uint64
	Key        string
	Identifier string
	Time       int64
	Expire     time.Duration
}{
	{"admin", 1400000000, "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e", "administrator", 1700000000, 24 * time.Hour},
	{"user-long-life", 1400000000, "another-key", "user_01-abc", 1710000000, 180 * 24 * time.Hour},
	{"big-appid", 20000000001, "k", "x", 1600000000, time.Minute},
}

type goTicket struct {
	Name       string `json:"name"`
	SDKAppID   uint64 `json:"sdkappid"`
	Key        string `json:"key"`
	Identifier string `json:"identifier"`
	Time       int64  `json:"time"`
	Expire     int64  `json:"expire"`
	UserSig    string `json:"usersig"`
}

func TestGoMadeTicketsForPython(t *testing.T) {
	path := filepath.Join("testdata", "go_made.json")
	if *update {
		var out struct {
			Note    string     `json:"note"`
			Tickets []goTicket `json:"tickets"`
		}
		out.Note = "Made by usersig_test.go -update; checked by: python3 gen_vectors.py check-go go_made.json"
		for _, g := range goMade {
			sig, err := Generate(g.SDKAppID, g.Key, g.Identifier, g.Expire, time.Unix(g.Time, 0))
			if err != nil {
				t.Fatal(err)
			}
			out.Tickets = append(out.Tickets, goTicket{g.Name, g.SDKAppID, g.Key, g.Identifier, g.Time, int64(g.Expire / time.Second), sig})
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Tickets []goTicket `json:"tickets"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Tickets) != len(goMade) {
		t.Fatalf("go_made.json has %d tickets, want %d (run with -update)", len(f.Tickets), len(goMade))
	}
	for _, tk := range f.Tickets {
		if err := Verify(tk.SDKAppID, tk.Key, tk.Identifier, tk.UserSig, time.Unix(tk.Time, 0)); err != nil {
			t.Errorf("%s: committed Go ticket no longer verifies in Go: %v", tk.Name, err)
		}
	}

	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed; committed go_made.json can be checked later with gen_vectors.py check-go")
	}
	out, err := exec.Command(py, filepath.Join("testdata", "gen_vectors.py"), "check-go", path).CombinedOutput()
	if err != nil {
		t.Fatalf("python rejected Go tickets: %v\n%s", err, out)
	}
	// And a fresh ticket, made now, so the check does not depend on the
	// committed file being current.
	now := time.Now()
	sig, err := Generate(1400000000, "fresh-key", "administrator", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(py, filepath.Join("testdata", "gen_vectors.py"), "verify", "1400000000", "fresh-key", "administrator", sig, strconv.FormatInt(now.Unix(), 10)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("python verify of a fresh Go ticket: %v: %s", err, out)
	}
	// Python must also refuse it under a different key, or the check above
	// proves nothing.
	out, err = exec.Command(py, filepath.Join("testdata", "gen_vectors.py"), "verify", "1400000000", "wrong-key", "administrator", sig, strconv.FormatInt(now.Unix(), 10)).CombinedOutput()
	if err == nil || strings.TrimSpace(string(out)) != "sig_mismatch" {
		t.Fatalf("python accepted a Go ticket under the wrong key: %v: %s", err, out)
	}
}

func FuzzVerify(f *testing.F) {
	good, _ := Generate(1, "k", "a", time.Hour, time.Unix(1, 0))
	f.Add(good)
	f.Add("")
	f.Add("eJyrVgrxCdZLrSjILEpVsrIwMzEw0AELZaak5pVkpmWmFilZKSWm5GbmZRaXFCWW5BcpQRQUp2QnFhRkpihZGQI1QQBUJjMdqKfSxzFVu9w8PDQ1tLQwKcwyQz8kwtyi1MgwP8Q9UzvTMqrAsNQ4oCAv0szAFmpkSWYu0BGG5qjGlYGdYKRnoFQLAGcqM5I_")
	f.Fuzz(func(t *testing.T, s string) {
		err := Verify(1, "k", "a", s, time.Unix(2, 0))
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrSigMismatch) &&
			!errors.Is(err, ErrExpired) && !errors.Is(err, ErrIdentifierMismatch) && !errors.Is(err, ErrSDKAppIDMismatch) {
			t.Fatalf("unexpected error class: %v", err)
		}
		if err == nil && s != good {
			// Another encoding of the same claims could legitimately verify
			// (zlib level), but only if it carries the right HMAC.
			if c, derr := Decode(s); derr != nil || c.Identifier != "a" {
				t.Fatalf("verified unexpected ticket %q", s)
			}
		}
	})
}
