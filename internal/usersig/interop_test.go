package usersig

import (
	"errors"
	"testing"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// TestVendorLibraryInterop checks this package against Tencent's own
// library, which the production client signs with: a ticket either one
// makes verifies with the other, and both refuse the same wrong tickets for
// the same reason. If the library ever changes its format, the fake backend
// would refuse the operator's real tickets; this test says so first.
func TestVendorLibraryInterop(t *testing.T) {
	const (
		app   = 1400000000
		key   = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e"
		ident = "administrator"
		life  = 24 * time.Hour
	)
	now := time.Now()

	// The library signs at the wall clock.
	theirs, err := tencentyun.GenUserSig(app, key, ident, int(life/time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(app, key, ident, theirs, now); err != nil {
		t.Fatalf("library-made ticket refused by usersig.Verify: %v", err)
	}
	c, err := Decode(theirs)
	if err != nil {
		t.Fatal(err)
	}
	if c.SDKAppID != app || c.Identifier != ident || c.Expire != int64(life/time.Second) ||
		c.Time < now.Unix()-5 || c.Time > time.Now().Unix() {
		t.Fatalf("library ticket decodes to %+v", c)
	}

	ours, err := Generate(app, key, ident, life, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := tencentyun.VerifyUserSig(app, key, ident, ours, now); err != nil {
		t.Fatalf("usersig-made ticket refused by the library: %v", err)
	}

	// The same wrong ticket, the same reason, whoever made it.
	for _, tt := range []struct {
		name       string
		app        uint64
		key, ident string
		at         time.Time
		ourErr     error
		theirErr   error
	}{
		{"other app", app + 1, key, ident, now, ErrSDKAppIDMismatch, tencentyun.ErrSdkAppIDNotMatch},
		{"other identifier", app, key, "bob", now, ErrIdentifierMismatch, tencentyun.ErrIdentifierNotMatch},
		{"expired", app, key, ident, now.Add(life + time.Minute), ErrExpired, tencentyun.ErrExpired},
		{"other key", app, key + "x", ident, now, ErrSigMismatch, tencentyun.ErrSigNotMatch},
	} {
		for _, ticket := range []struct{ who, sig string }{{"library", theirs}, {"usersig", ours}} {
			if err := Verify(tt.app, tt.key, tt.ident, ticket.sig, tt.at); !errors.Is(err, tt.ourErr) {
				t.Errorf("%s, %s-made ticket: usersig.Verify gave %v, want %v", tt.name, ticket.who, err, tt.ourErr)
			}
			if err := tencentyun.VerifyUserSig(tt.app, tt.key, tt.ident, ticket.sig, tt.at); !errors.Is(err, tt.theirErr) {
				t.Errorf("%s, %s-made ticket: library gave %v, want %v", tt.name, ticket.who, err, tt.theirErr)
			}
		}
	}
}
