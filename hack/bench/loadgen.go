package main

// The load generator: open loop at a target rate over N keep-alive
// connections, latency measured from each request's intended send time (so a
// stalled server is charged for every request it delayed: no coordinated
// omission), bounded in request count and in time, to 127.0.0.1 only.
//
// It also keeps the model: for each group, the state its status must reach
// given the callbacks the receiver acknowledged, which the lost-update
// check compares against the API server at the end of each step.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
)

type kind int

const (
	kMsg kind = iota
	kInfo
	kAttr
	kJoin
	kExit
	kOwner // only in the renames phase (fixedPrio)
)

var commands = [...]string{
	kMsg:   "Group.CallbackAfterSendMsg",
	kInfo:  "Group.CallbackAfterGroupInfoChanged",
	kAttr:  "Group.CallbackAfterGroupAttrChanged",
	kJoin:  "Group.CallbackAfterNewMemberJoin",
	kExit:  "Group.CallbackAfterMemberExit",
	kOwner: "Group.CallbackAfterChangeGroupOwner",
}

type stampedVal struct {
	et int64
	v  string
}

type ack struct {
	seq int64
	at  time.Time
}

// prioAck is an acknowledged change people look at (info field 0-2,
// attrsField or ownerField), not yet seen in status: the priority lane's
// staleness.
type prioAck struct {
	field int
	et    int64
	at    time.Time
}

const (
	attrsField = 3
	ownerField = 4
)

// group is one IM group and its ChatGroup: what was sent, what was
// acknowledged (the expected status), and what the watch has seen.
type group struct {
	id, name string

	mu        sync.Mutex
	seq       int64 // last MsgSeq assigned
	ackedSeq  int64
	ackedFrom string
	info      [3]stampedVal // name, introduction, notification
	attrs     stampedVal    // set {"topic": v, "round": v}
	owner     stampedVal    // the last NewOwner_Account acknowledged
	members   int64         // acknowledged joins - exits
	sentNet   int64         // joins - exits sent and not refused
	lastET    int64         // EventTime of the last callback built (Unix ms)
	uncertain bool          // a callback's outcome is unknown (transport error, timeout)
	acks      []ack         // acknowledged messages not yet seen in status
	prio      []prioAck     // acknowledged info/attribute changes not yet seen in status
	obsSeq    int64
	callbacks int  // in the current step
	poisoned  bool // its status writes are refused (poison phase): not tracked

	// refreshes seen by the watch in the current measuring window
	lastRefresh time.Time
	maxGap      time.Duration
	refreshes   int
}

// model is a set of groups plus the traffic mix over them.
type model struct {
	groups    []*group
	active    int     // traffic goes to groups[:active]
	hot       int     // groups[:hot] are hot
	hotShare  float64 // share of traffic taking the hot groups
	realistic bool    // the realistic mix (see next)
	// fixedPrio, when set, replaces the mix: this share of callbacks are
	// info (1 in 2), attribute and owner changes, each to a group drawn evenly
	// from the active ones (a person renaming any group, not the hot
	// ones' traffic), 5% member joins and exits, the rest messages. The
	// renames phase sets it to changes per second / rate.
	fixedPrio float64
	track     bool // keep acks for staleness (ours)
	appID     uint64
	token     string
	signer    atomic.Pointer[signed]
}

type signed struct {
	sec      int64
	rt, sign string
}

func newModel(groups []*group, appID uint64, token string, track bool) *model {
	m := &model{groups: groups, active: len(groups), track: track, appID: appID, token: token}
	return m
}

func (m *model) pick(rng *rand.Rand) *group {
	if m.hot > 0 && (m.hot >= m.active || rng.Float64() < m.hotShare) {
		return m.groups[rng.IntN(m.hot)]
	}
	return m.groups[m.hot+rng.IntN(m.active-m.hot)]
}

// call is one request being made and what its acknowledgement means.
type call struct {
	g     *group
	k     kind
	seq   int64
	from  string
	field int
	et    int64
	val   string
}

// next picks a group and a callback by the mix and appends its body to
// buf. The standard mix: 80% messages, 10% info, 5% attributes, 5% member
// joins and exits. The realistic mix: 93% messages, 5% member joins and
// exits, 1.5% info, 0.5% attributes (98% counters, 2% changes people look
// at).
func (m *model) next(rng *rand.Rand, buf []byte) (call, []byte) {
	c := call{k: m.kind(rng)}
	if m.fixedPrio > 0 && c.k != kMsg && c.k != kJoin {
		c.g = m.groups[rng.IntN(m.active)]
	} else {
		c.g = m.pick(rng)
	}
	g := c.g
	g.mu.Lock()
	g.callbacks++
	switch c.k {
	case kMsg:
		g.seq++
		c.seq = g.seq
	case kJoin:
		if g.sentNet >= 4 && rng.IntN(2) == 0 {
			c.k = kExit
			g.sentNet--
		} else {
			g.sentNet++
		}
	}
	// EventTime: per group, increasing, and never ahead of the clock by
	// more than the group's own burst: the receiver refuses a callback
	// from more than a minute in the future (a forged one must not pin a
	// field), and one counter for all groups, one ms per callback, ran
	// minutes ahead at 10,000/s and turned the later steps into refusals.
	g.lastET = max(g.lastET+1, time.Now().UnixMilli())
	et := g.lastET
	g.mu.Unlock()
	c.et = et
	b := buf[:0]
	b = append(b, `{"CallbackCommand":"`...)
	b = append(b, commands[c.k]...)
	b = append(b, `","GroupId":"`...)
	b = append(b, g.id...)
	b = append(b, `","Type":"Public",`...)
	user := "user" + strconv.Itoa(rng.IntN(500))
	switch c.k {
	case kMsg:
		c.from = user
		b = append(b, `"From_Account":"`...)
		b = append(b, user...)
		b = append(b, `","Operator_Account":"`...)
		b = append(b, user...)
		b = append(b, `","Random":`...)
		b = strconv.AppendInt(b, int64(rng.Uint32()), 10)
		b = append(b, `,"MsgSeq":`...)
		b = strconv.AppendInt(b, c.seq, 10)
		b = append(b, `,"MsgTime":`...)
		b = strconv.AppendInt(b, et/1000, 10)
		b = append(b, `,"OnlineOnlyFlag":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hello everyone, this is message `...)
		b = strconv.AppendInt(b, c.seq, 10)
		b = append(b, `"}}],"CloudCustomData":"","EventTime":`...)
	case kInfo:
		c.field = int(et % 3)
		c.val = "v" + strconv.FormatInt(et, 10)
		b = append(b, `"Operator_Account":"`...)
		b = append(b, user...)
		b = append(b, `",`...)
		b = append(b, [...]string{`"Name":"`, `"Introduction":"`, `"Notification":"`}[c.field]...)
		b = append(b, c.val...)
		b = append(b, `","EventTime":`...)
	case kAttr:
		c.val = strconv.FormatInt(et, 10)
		b = append(b, `"Operator_Account":"`...)
		b = append(b, user...)
		b = append(b, `","OptionType":"set","GroupAttr":[{"key":"topic","value":"t`...)
		b = append(b, c.val...)
		b = append(b, `"},{"key":"round","value":"`...)
		b = append(b, c.val...)
		b = append(b, `"}],"EventTime":`...)
	case kOwner:
		c.val = "owner" + strconv.Itoa(rng.IntN(500))
		b = append(b, `"Operator_Account":"`...)
		b = append(b, user...)
		b = append(b, `","OldOwner_Account":"`...)
		b = append(b, user...)
		b = append(b, `","NewOwner_Account":"`...)
		b = append(b, c.val...)
		b = append(b, `","EventTime":`...)
	case kJoin, kExit:
		if c.k == kJoin {
			b = append(b, `"JoinType":"Apply","Operator_Account":"`...)
		} else {
			b = append(b, `"ExitType":"Quit","Operator_Account":"`...)
		}
		b = append(b, user...)
		if c.k == kJoin {
			b = append(b, `","NewMemberList":[{"Member_Account":"`...)
		} else {
			b = append(b, `","ExitMemberList":[{"Member_Account":"`...)
		}
		b = append(b, user...)
		b = append(b, `"}],"EventTime":`...)
	}
	b = strconv.AppendInt(b, et, 10)
	b = append(b, '}')
	return c, b
}

// kind draws a callback kind by the mix (kJoin stands for joins and exits).
func (m *model) kind(rng *rand.Rand) kind {
	if m.fixedPrio > 0 {
		p := rng.Float64()
		switch {
		case p < m.fixedPrio*0.5:
			return kInfo
		case p < m.fixedPrio*0.75:
			return kAttr
		case p < m.fixedPrio:
			return kOwner
		case p < m.fixedPrio+0.05:
			return kJoin
		}
		return kMsg
	}
	p := rng.IntN(1000)
	cuts := [3]int{800, 900, 950} // msg, info, attr; the rest joins/exits
	if m.realistic {
		cuts = [3]int{930, 945, 950}
	}
	switch {
	case p < cuts[0]:
		return kMsg
	case p < cuts[1]:
		return kInfo
	case p < cuts[2]:
		return kAttr
	}
	return kJoin
}

// outcome of one request.
const (
	outOK = iota
	outRefused
	outError
)

// done records the outcome of c in the model.
func (m *model) done(c call, out int, at time.Time) {
	g := c.g
	g.mu.Lock()
	defer g.mu.Unlock()
	switch out {
	case outRefused: // 503: nothing was recorded
		switch c.k {
		case kJoin:
			g.sentNet--
		case kExit:
			g.sentNet++
		}
		return
	case outError:
		g.uncertain = true
		return
	}
	if g.poisoned {
		return // nothing it sends can reach status
	}
	switch c.k {
	case kMsg:
		if c.seq > g.ackedSeq {
			g.ackedSeq, g.ackedFrom = c.seq, c.from
		}
		if m.track {
			if g.obsSeq >= c.seq {
				staleSink.add(0)
			} else {
				g.acks = append(g.acks, ack{seq: c.seq, at: at})
			}
		}
	case kInfo:
		if c.et > g.info[c.field].et {
			g.info[c.field] = stampedVal{c.et, c.val}
		}
		if m.track {
			g.prio = append(g.prio, prioAck{field: c.field, et: c.et, at: at})
		}
	case kAttr:
		if c.et > g.attrs.et {
			g.attrs = stampedVal{c.et, c.val}
		}
		if m.track {
			g.prio = append(g.prio, prioAck{field: attrsField, et: c.et, at: at})
		}
	case kOwner:
		if c.et > g.owner.et {
			g.owner = stampedVal{c.et, c.val}
		}
		if m.track {
			g.prio = append(g.prio, prioAck{field: ownerField, et: c.et, at: at})
		}
	case kJoin:
		g.members++
	case kExit:
		g.members--
	}
}

func (m *model) sign() (string, string) {
	now := time.Now().Unix()
	if s := m.signer.Load(); s != nil && s.sec == now {
		return s.rt, s.sign
	}
	rt := strconv.FormatInt(now, 10)
	s := &signed{sec: now, rt: rt, sign: callbacksign.Sign(m.token, rt)}
	m.signer.Store(s)
	return s.rt, s.sign
}

// loadResult is one run of the generator.
type loadResult struct {
	Planned  int64
	OK       int64
	Refused  int64
	Errors   int64 // transport errors, timeouts, non-OK answers, requests past the time bound
	Elapsed  time.Duration
	Latency  []time.Duration // of every answered request, from its intended send time
	Achieved float64         // OK answers per second
	// SlowByTenth counts answers slower than 50 ms by the 100 ms slot of
	// their intended send time: where in the step the tail is.
	SlowByTenth []int64
}

const requestTimeout = 2 * time.Second // IM gives up after 2 s

// runLoad sends rate*dur requests to addr (127.0.0.1 only) at rate per second
// over conns connections, and gives up on what is not done by dur+grace.
func runLoad(addr string, m *model, rate float64, dur time.Duration, conns int, seed uint64) loadResult {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		panic("the load generator only sends to 127.0.0.1, got " + addr)
	}
	total := int64(rate * dur.Seconds())
	period := float64(time.Second) / rate
	grace := 5 * time.Second
	var next atomic.Int64
	var ok, refused, errs atomic.Int64
	lats := make([][]time.Duration, conns)
	slow := make([]atomic.Int64, int(dur/(100*time.Millisecond))+1)
	start := time.Now().Add(20 * time.Millisecond)
	deadline := start.Add(dur + grace)
	var lastDone atomic.Int64
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w))) //nolint:gosec // w is a small non-negative index
			var conn net.Conn
			var br *bufio.Reader
			bodyBuf := make([]byte, 0, 1024)
			req := make([]byte, 0, 2048)
			mine := make([]time.Duration, 0, total/int64(conns)+16)
			defer func() {
				if conn != nil {
					_ = conn.Close()
				}
				lats[w] = mine
			}()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				intended := start.Add(time.Duration(float64(i) * period))
				if d := time.Until(intended); d > 0 {
					time.Sleep(d)
				}
				if time.Now().After(deadline) {
					errs.Add(1) // never sent: the time bound is reached
					continue
				}
				if conn == nil {
					d := net.Dialer{Timeout: requestTimeout}
					c, err := d.DialContext(context.Background(), "tcp", addr)
					if err != nil {
						errs.Add(1)
						continue
					}
					conn, br = c, bufio.NewReaderSize(c, 4096)
				}
				c, body := m.next(rng, bodyBuf)
				bodyBuf = body
				rt, sig := m.sign()
				req = append(req[:0], "POST /callback?SdkAppid="...)
				req = strconv.AppendUint(req, m.appID, 10)
				req = append(req, "&CallbackCommand="...)
				req = append(req, commands[c.k]...)
				req = append(req, "&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI&RequestTime="...)
				req = append(req, rt...)
				req = append(req, "&Sign="...)
				req = append(req, sig...)
				req = append(req, " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: chatgroup-loadgen\r\nContent-Type: application/json\r\nContent-Length: "...)
				req = strconv.AppendInt(req, int64(len(body)), 10)
				req = append(req, "\r\n\r\n"...)
				req = append(req, body...)
				_ = conn.SetDeadline(time.Now().Add(requestTimeout))
				out, keep := roundTrip(conn, br, req)
				now := time.Now()
				m.done(c, out, now)
				switch out {
				case outOK:
					ok.Add(1)
					mine = append(mine, now.Sub(intended))
					if now.Sub(intended) > 50*time.Millisecond {
						slot := min(int(intended.Sub(start)/(100*time.Millisecond)), len(slow)-1)
						slow[max(slot, 0)].Add(1)
					}
				case outRefused:
					refused.Add(1)
					errs.Add(1)
					mine = append(mine, now.Sub(intended))
				default:
					errs.Add(1)
				}
				lastDone.Store(int64(now.Sub(start)))
				if !keep {
					_ = conn.Close()
					conn = nil
				}
			}
		})
	}
	wg.Wait()
	r := loadResult{Planned: total, OK: ok.Load(), Refused: refused.Load(), Errors: errs.Load(),
		Elapsed: time.Duration(lastDone.Load())}
	for _, l := range lats {
		r.Latency = append(r.Latency, l...)
	}
	for i := range slow {
		r.SlowByTenth = append(r.SlowByTenth, slow[i].Load())
	}
	// Achieved: OK answers over the planned duration, or over the time it
	// took when that was longer.
	el := max(dur, r.Elapsed)
	r.Achieved = float64(r.OK) / el.Seconds()
	return r
}

var okEnvelope = []byte(`"ActionStatus":"OK"`)

// roundTrip writes req and reads the answer; keep is false when the
// connection cannot be reused.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (out int, keep bool) {
	if _, err := conn.Write(req); err != nil {
		return outError, false
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return outError, false
	}
	var b [256]byte
	n, err := io.ReadFull(resp.Body, b[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return outError, false
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return outError, false
	}
	resp.Body.Close()
	keep = !resp.Close
	switch {
	case resp.StatusCode == http.StatusOK && bytes.Contains(b[:n], okEnvelope):
		return outOK, keep
	case resp.StatusCode == http.StatusServiceUnavailable:
		return outRefused, keep
	}
	return outError, keep
}

// staleSink collects staleness samples (ack -> status seen by the watch)
// of message seqs, prioSink of info and attribute changes.
var (
	staleSink = &sink{}
	prioSink  = &sink{}
)

type sink struct {
	mu sync.Mutex
	v  []time.Duration
}

func (s *sink) add(d time.Duration) {
	s.mu.Lock()
	s.v = append(s.v, d)
	s.mu.Unlock()
}

func (s *sink) take() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.v
	s.v = nil
	return v
}

func groupID(i int) string   { return fmt.Sprintf("@TGS#BENCH%05d", i) }
func groupName(i int) string { return fmt.Sprintf("g-%05d", i) }
