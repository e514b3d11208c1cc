package tim

import (
	"sync"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/usersig"
)

// sigCache holds the admin UserSig. Making one is cheap, but the doc
// recommends reusing it, and one ticket per process keeps the server's
// verification cache warm.
type sigCache struct {
	appID      uint64
	key, admin string
	ttl        time.Duration
	now        func() time.Time

	mu        sync.Mutex
	sig       string
	prev      string // kept for redaction after a refresh
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
	sig, err := usersig.Generate(s.appID, s.key, s.admin, s.ttl, now)
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

func (s *sigCache) known() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, 2)
	for _, v := range []string{s.sig, s.prev} {
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
