package timfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
)

// Faults perturbs callback delivery the ways a real network and a real IM
// backend can: lost callbacks (after-callbacks are not retried by default),
// duplicates, reordering and delay. Probabilities are 0..1; the fake's seeded
// RNG decides, so a test with a fixed Options.Seed sees the same faults on
// every run (as long as events reach each worker in the same order).
type Faults struct {
	// Drop loses a callback without sending it; 1 drops all.
	Drop float64
	// Duplicate sends a callback twice in a row.
	Duplicate float64
	// Reorder holds a callback back and sends it after the next one of the
	// same worker (so possibly of the same group).
	Reorder float64
	// Delay (plus up to DelayJitter) passes before each delivery.
	Delay       time.Duration
	DelayJitter time.Duration
}

// CallbackStats counts callback outcomes. Every enqueued event ends as
// exactly one of Delivered, Failed or Dropped; Duplicated counts the extra
// copies (which are also Delivered or Failed); Overflowed counts events lost
// because a worker queue was full (not in Enqueued).
type CallbackStats struct {
	Enqueued   uint64
	Delivered  uint64
	Failed     uint64
	Dropped    uint64
	Duplicated uint64
	Overflowed uint64
}

// event is one callback, its body already encoded at the time of the change.
type event struct {
	command  string
	groupID  string
	platform string
	clientIP string
	body     []byte
}

type emitter struct {
	appID string
	// token signs callbacks; SetCallbackToken swaps it while workers
	// deliver, hence atomic.
	token   atomic.Pointer[string]
	hc      *http.Client
	now     func() time.Time
	log     *slog.Logger
	timeout time.Duration
	retries int

	urlMu sync.RWMutex
	url   string

	shards []chan *event

	faultMu sync.Mutex
	faults  Faults
	rng     *rand.Rand

	pendMu  sync.Mutex
	pending int
	idle    chan struct{} // closed while pending == 0

	enqueued, delivered, failed, dropped, duplicated, overflowed atomic.Uint64

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

func newEmitter(o Options, appID string) *emitter {
	timeout := o.CallbackTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	hc := o.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 16
		hc = &http.Client{Transport: tr, Timeout: timeout}
	}
	workers := o.CallbackWorkers
	if workers <= 0 {
		workers = 4
	}
	qlen := o.CallbackQueue
	if qlen <= 0 {
		qlen = 4096
	}
	e := &emitter{
		appID: appID, hc: hc, now: o.Now, log: o.Logger,
		timeout: timeout, retries: max(0, o.CallbackRetries), url: o.CallbackURL,
		rng:  rand.New(rand.NewPCG(o.Seed^0x5eed, o.Seed+1)),
		idle: make(chan struct{}), stop: make(chan struct{}),
	}
	e.setToken(o.CallbackToken)
	close(e.idle)
	e.shards = make([]chan *event, workers)
	for i := range e.shards {
		e.shards[i] = make(chan *event, qlen)
		e.wg.Add(1)
		go e.work(e.shards[i])
	}
	return e
}

func (e *emitter) setURL(u string) {
	e.urlMu.Lock()
	e.url = u
	e.urlMu.Unlock()
}

func (e *emitter) setToken(token string) { e.token.Store(&token) }

func (e *emitter) target() string {
	e.urlMu.RLock()
	defer e.urlMu.RUnlock()
	return e.url
}

func (e *emitter) setFaults(f Faults) {
	e.faultMu.Lock()
	e.faults = f
	e.faultMu.Unlock()
}

func (e *emitter) getFaults() Faults {
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	return e.faults
}

func (e *emitter) chance(p float64) bool {
	if p <= 0 {
		return false
	}
	if p >= 1 {
		return true
	}
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	return e.rng.Float64() < p
}

func (e *emitter) jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	e.faultMu.Lock()
	defer e.faultMu.Unlock()
	return time.Duration(e.rng.Int64N(int64(d) + 1))
}

func (e *emitter) stats() CallbackStats {
	return CallbackStats{
		Enqueued: e.enqueued.Load(), Delivered: e.delivered.Load(), Failed: e.failed.Load(),
		Dropped: e.dropped.Load(), Duplicated: e.duplicated.Load(), Overflowed: e.overflowed.Load(),
	}
}

func (e *emitter) addPending(n int) {
	e.pendMu.Lock()
	defer e.pendMu.Unlock()
	was := e.pending
	e.pending += n
	switch {
	case was == 0 && e.pending > 0:
		e.idle = make(chan struct{})
	case was > 0 && e.pending == 0:
		close(e.idle)
	}
}

func (e *emitter) wait(ctx context.Context) error {
	e.pendMu.Lock()
	idle := e.idle
	e.pendMu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *emitter) close() {
	e.stopOnce.Do(func() { close(e.stop) })
	e.wg.Wait()
}

// enqueue never blocks: it runs under the state lock. Events of one group
// always hash to the same worker, which keeps them in order.
func (e *emitter) enqueue(ev *event) {
	if e.target() == "" {
		return
	}
	h := fnv.New32a()
	h.Write([]byte(ev.groupID))
	ch := e.shards[int(h.Sum32()%uint32(len(e.shards)))]
	e.addPending(1)
	select {
	case ch <- ev:
		e.enqueued.Add(1)
	default:
		e.addPending(-1)
		e.overflowed.Add(1)
		e.log.Warn("timfake: callback queue full, callback lost", "command", ev.command, "group", ev.groupID)
	}
}

// reorderWait is how long a held-back event waits for a successor before it
// goes out alone.
const reorderWait = 20 * time.Millisecond

func (e *emitter) work(ch chan *event) {
	defer e.wg.Done()
	var held *event
	for {
		var ev *event
		if held != nil {
			t := time.NewTimer(reorderWait)
			select {
			case ev = <-ch:
				t.Stop()
			case <-t.C:
				e.process(held)
				held = nil
				continue
			case <-e.stop:
				t.Stop()
				return
			}
		} else {
			select {
			case ev = <-ch:
			case <-e.stop:
				return
			}
		}
		if held == nil && e.chance(e.getFaults().Reorder) {
			held = ev
			continue
		}
		e.process(ev)
		if held != nil {
			e.process(held)
			held = nil
		}
	}
}

func (e *emitter) process(ev *event) {
	defer e.addPending(-1)
	f := e.getFaults()
	if e.chance(f.Drop) {
		e.dropped.Add(1)
		return
	}
	if d := f.Delay + e.jitter(f.DelayJitter); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-e.stop:
			t.Stop()
			e.dropped.Add(1)
			return
		}
	}
	e.deliverCounted(ev)
	if e.chance(f.Duplicate) {
		e.duplicated.Add(1)
		e.deliverCounted(ev)
	}
}

func (e *emitter) deliverCounted(ev *event) {
	var err error
	for attempt := 0; attempt <= e.retries; attempt++ {
		if err = e.deliver(ev); err == nil {
			e.delivered.Add(1)
			return
		}
	}
	e.failed.Add(1)
	e.log.Warn("timfake: callback delivery failed", "command", ev.command, "group", ev.groupID, "err", err)
}

// callbackURL appends the documented query parameters, in the documented
// order, to the configured URL (keeping any query it already has).
func (e *emitter) callbackURL(base string, ev *event, requestTime string) string {
	var q strings.Builder
	q.WriteString("SdkAppid=")
	q.WriteString(url.QueryEscape(e.appID))
	q.WriteString("&CallbackCommand=")
	q.WriteString(url.QueryEscape(ev.command))
	q.WriteString("&contenttype=json")
	// App alarms come from IM itself, not a client: their documented URL
	// has no ClientIP.
	if ev.clientIP != "" {
		q.WriteString("&ClientIP=")
		q.WriteString(url.QueryEscape(ev.clientIP))
	}
	q.WriteString("&OptPlatform=")
	q.WriteString(url.QueryEscape(ev.platform))
	// The token is read once per delivery attempt, so a rotation applies
	// from the next attempt on and a URL never mixes two tokens.
	if token := *e.token.Load(); token != "" {
		q.WriteString("&Sign=")
		q.WriteString(callbacksign.Sign(token, requestTime))
		q.WriteString("&RequestTime=")
		q.WriteString(requestTime)
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	return base + sep + q.String()
}

var errNotJSON = errors.New("callback answer is not JSON")

// deliver POSTs once. Failure, as the doc lists it: no answer, a status
// other than 200, or an answer that is not JSON.
func (e *emitter) deliver(ev *event) error {
	base := e.target()
	if base == "" {
		return errors.New("no callback URL")
	}
	rt := strconv.FormatInt(e.now().Unix(), 10)
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.callbackURL(base, ev, rt), bytes.NewReader(ev.body))
	if err != nil {
		return errors.New("invalid callback URL")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		// *url.Error quotes the URL, Sign included: keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err
		}
		return errors.New("callback request failed")
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return errors.New("callback answered HTTP " + strconv.Itoa(resp.StatusCode))
	}
	if !json.Valid(raw) {
		return errNotJSON
	}
	return nil
}

// callbackBody is implemented by every callback body type.
type callbackBody interface{ command() string }

func (b cbAfterCreateGroup) command() string      { return b.CallbackCommand }
func (b cbAfterGroupInfoChanged) command() string { return b.CallbackCommand }
func (b cbAfterGroupAttrChanged) command() string { return b.CallbackCommand }
func (b cbAfterSendMsg) command() string          { return b.CallbackCommand }
func (b cbAfterNewMemberJoin) command() string    { return b.CallbackCommand }
func (b cbAfterMemberExit) command() string       { return b.CallbackCommand }
func (b cbAfterChangeGroupOwner) command() string { return b.CallbackCommand }
func (b cbAfterGroupDestroyed) command() string   { return b.CallbackCommand }

// emitLocked queues the callback for a change to g made by a; the caller
// holds s.mu, which is what keeps a group's callbacks in change order.
func (s *Server) emitLocked(a actor, g *group, body callbackBody) {
	s.enqueueCallback(body, event{groupID: g.id, platform: a.platform, clientIP: a.clientIP})
}

// enqueueCallback encodes body and queues it as ev, when a callback URL is set.
func (s *Server) enqueueCallback(body callbackBody, ev event) {
	if s.cb.target() == "" {
		return
	}
	raw, err := json.Marshal(body)
	if err != nil {
		s.log.Error("timfake: encoding callback", "err", err)
		return
	}
	ev.command, ev.body = body.command(), raw
	s.cb.enqueue(&ev)
}
