package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// holds pauses REST calls per ChatGroup after a failure that retrying at
// once cannot fix. It is in memory: a restart retries once, which is cheap.
// Without it every message callback (each one a status change, hence a
// reconcile) would resend a refused value or hammer a rate-limited API.
type holds struct {
	mu sync.Mutex
	m  map[holdKey]hold
	// fixed is when drift was last corrected per ChatGroup: corrections are
	// spaced so that the operator and another writer that insists on a
	// different value (a script, a second operator, an IM-side
	// normalisation) cannot ping-pong at callback speed.
	fixed map[holdKey]time.Time
	memos map[holdKey]memo
}

func (h *holds) memo(key holdKey) memo {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.memos[key]
}

func (h *holds) update(key holdKey, uid types.UID, change func(*memo)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.memos == nil {
		h.memos = map[holdKey]memo{}
	}
	m := h.memos[key]
	if m.uid != uid {
		m = memo{uid: uid}
	}
	change(&m)
	h.memos[key] = m
}

// Recounts: a read whose member count did not land (joins stamped after
// it were applied first) is followed by another read, recountFirst later
// and doubling, at most maxRecounts times until a count lands; after that
// the resync reads the group as it reads every group.
const (
	recountFirst = 2 * time.Second
	maxRecounts  = 6 // 2 s to 64 s: about two minutes in all
)

// afterRead records whether a read's member count landed: one that did
// not schedules a recount (recountLater: its wait, 0 when the recounts are
// spent), one that did ends them. The controller's passes and the resync
// both call it.
func (h *holds) afterRead(key holdKey, uid types.UID, countSkipped bool, now time.Time) time.Duration {
	if countSkipped {
		return h.recountLater(key, uid, now)
	}
	h.recounted(key, uid)
	return 0
}

// recountLater schedules the next recount of key and returns its wait, or
// 0 when the recounts are spent.
func (h *holds) recountLater(key holdKey, uid types.UID, now time.Time) time.Duration {
	var wait time.Duration
	h.update(key, uid, func(m *memo) {
		m.recountAt = time.Time{}
		if m.recounts >= maxRecounts {
			return
		}
		wait = recountFirst << m.recounts
		m.recounts++
		m.recountAt = now.Add(wait)
	})
	return wait
}

// recounted ends the recounts of key: a read's count landed. Every read
// that lands calls it (the resync's for every group), so it writes only
// when a recount is pending.
func (h *holds) recounted(key holdKey, uid types.UID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m, ok := h.memos[key]; ok && m.uid == uid && (m.recounts > 0 || !m.recountAt.IsZero()) {
		m.recounts, m.recountAt = 0, time.Time{}
		h.memos[key] = m
	}
}

// observed records that generation (and a resync request) was handled.
func (h *holds) observed(key holdKey, uid types.UID, generation int64, handled string) {
	h.update(key, uid, func(m *memo) { m.generation, m.handled = generation, handled })
}

// driftWait returns how long a drift correction for key must still wait.
func (h *holds) driftWait(key holdKey, now time.Time, every time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	last, ok := h.fixed[key]
	if !ok || now.Sub(last) >= every {
		return 0
	}
	return every - now.Sub(last)
}

func (h *holds) driftFixed(key holdKey, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fixed == nil {
		h.fixed = map[holdKey]time.Time{}
	}
	h.fixed[key] = now
}

type holdKey = types.NamespacedName

type hold struct {
	until       time.Time
	generation  int64 // a terminal hold ends when spec changes
	terminal    bool
	failures    int  // consecutive rate-limit failures, for the backoff
	credentials bool // IM refused the app's credentials: a new key ends it
}

// active returns how long REST calls for key still pause; 0 when they may go.
func (h *holds) active(key holdKey, gen int64, requested bool, now time.Time) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	x, ok := h.m[key]
	if !ok || !now.Before(x.until) {
		return 0
	}
	if x.terminal && (x.generation != gen || requested) {
		return 0
	}
	return x.until.Sub(now)
}

func (h *holds) set(key holdKey, gen int64, f failure, now time.Time) {
	if f.hold <= 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	x := h.m[key]
	x.until, x.generation, x.terminal, x.credentials = now.Add(f.hold), gen, f.terminal, f.credentials
	h.m[key] = x
}

// backoff counts one more rate-limit failure and returns the wait.
func (h *holds) backoff(key holdKey, base, maxWait time.Duration) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	x := h.m[key]
	d := base
	for i := 0; i < x.failures && d < maxWait; i++ {
		d *= 2
	}
	x.failures++
	h.m[key] = x
	return min(d, maxWait)
}

// forgetCredentials ends a hold that IM's refusal of the credentials set:
// the app's key changed, so the next pass may call again.
func (h *holds) forgetCredentials(key holdKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m[key].credentials {
		delete(h.m, key)
	}
}

func (h *holds) forget(key holdKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
}

// drop forgets everything about a ChatGroup that no longer exists.
func (h *holds) drop(key holdKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, key)
	delete(h.fixed, key)
	delete(h.memos, key)
}
