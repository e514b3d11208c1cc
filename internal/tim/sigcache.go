package tim

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/tencentyun/tls-sig-api-v2-golang/tencentyun"
)

// sigCache holds the admin UserSig. Making one is cheap, but the doc
// recommends reusing it, and one ticket per process keeps the server's
// verification cache warm.
//
// Tickets are signed by Tencent's own library, so the production client
// cannot drift from the format the real backend checks; internal/usersig is
// the fake backend's verifier, and its tests check the two against each
// other. The library signs at the wall clock: the injected now only decides
// when to refresh.
type sigCache struct {
	appID      uint64
	key, admin string
	ttl        time.Duration
	now        func() time.Time

	mu        sync.Mutex
	sig       string
	prev      string // kept for redaction after a refresh
	prevKey   string // kept for redaction after a rotation
	refreshAt time.Time
	made      int
}

func newSigCache(appID uint64, key, admin string, ttl time.Duration, now func() time.Time) *sigCache {
	return &sigCache{appID: appID, key: key, admin: admin, ttl: ttl, now: now}
}

// refreshMargin is how long before expiry a ticket is replaced: a tenth of
// its life, at most an hour, so a server clock somewhat ahead of ours never
// sees an expired ticket.
func refreshMargin(ttl time.Duration) time.Duration {
	return min(ttl/10, time.Hour)
}

func (s *sigCache) get() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.sig != "" && now.Before(s.refreshAt) {
		return s.sig, nil
	}
	sig, err := sign(s.appID, s.key, s.admin, s.ttl)
	if err != nil {
		return "", err
	}
	if s.sig != "" {
		s.prev = s.sig
	}
	s.sig = sig
	s.refreshAt = now.Add(s.ttl - refreshMargin(s.ttl))
	s.made++
	return sig, nil
}

// invalidate drops sig if it is still the cached one; a concurrent caller
// may already have replaced it, and that fresh ticket must survive.
func (s *sigCache) invalidate(sig string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sig == sig {
		s.prev = s.sig
		s.sig = ""
	}
}

// setKey replaces the secret key: the next call signs a new ticket with
// it. The old key and ticket are kept for redaction, since a call signed
// with them may still be answering.
func (s *sigCache) setKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == s.key {
		return
	}
	s.prevKey, s.key = s.key, key
	if s.sig != "" {
		s.prev = s.sig
	}
	s.sig = ""
}

// known returns the secrets that must never appear in an error: the
// current and previous ticket and keys.
func (s *sigCache) known() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, 4)
	for _, v := range []string{s.sig, s.prev, s.key, s.prevKey} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (s *sigCache) generated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.made
}

// sign makes a ticket with the vendor's library. New has already refused an
// empty key, an identifier with line breaks and a life under a minute; the
// library takes the app ID as an int and the life in whole seconds.
func sign(appID uint64, key, identifier string, ttl time.Duration) (string, error) {
	if appID > math.MaxUint32 {
		// SDKAppIDs are 10-digit numbers below 2^32: anything larger is a
		// typo, and the library's int must carry it unchanged.
		return "", fmt.Errorf("usersig: sdkappid %d is out of range", appID)
	}
	sig, err := tencentyun.GenUserSig(int(appID), key, identifier, int(ttl/time.Second))
	if err != nil {
		return "", fmt.Errorf("usersig: %w", err)
	}
	return sig, nil
}
