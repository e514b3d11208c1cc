package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// replicasResult is the two-replica phase: two receivers, each a child
// process like ours, behind a round-robin TCP proxy (as a Service spreads
// connections), sharing one status-write budget through Leases.
type replicasResult struct {
	// Shares is each replica's budget once they had found each other.
	Shares []float64 `json:"writeQPSShares"`
	Rows   []stepResult
	// MaxRate is the highest rate the pair sustained.
	MaxRate float64 `json:"maxSustainable"`
	// WritesMax1s is the most status writes of both together in any
	// second, over every step: it must stay within the one budget.
	WritesMax1s  int `json:"statusWritesMax1sBoth"`
	WritesMax10s int `json:"statusWritesMax10sBoth"`
}

// replicas runs the phase: the ramp's rates, one round each, through the
// proxy, until MaxFails steps in a row fail.
func (h *harness) replicas(ctx context.Context, groups []*group, realistic bool) (*replicasResult, error) {
	res := &replicasResult{}
	var kids []*child
	defer func() {
		for _, k := range kids {
			stopChild(k)
		}
	}()
	for _, id := range []string{"replica-a", "replica-b"} {
		k, err := startChild(ctx, id, serveConfig{Mode: "ours", Kubeconfig: h.kubeconfig, AppID: appID, Token: token,
			WriteQPS: h.cfg.WriteQPS, WriteBurst: h.cfg.WriteBurst, Namespace: ns, Identity: "bench-" + id}, h.cfg.out)
		if err != nil {
			return nil, err
		}
		kids = append(kids, k)
	}
	// Each replica writes at its share only once both hold a Lease.
	deadline := time.Now().Add(60 * time.Second)
	for {
		res.Shares = res.Shares[:0]
		split := true
		for _, k := range kids {
			s, err := k.stats()
			if err != nil {
				return nil, err
			}
			res.Shares = append(res.Shares, s.Writer.QPS)
			split = split && s.Writer.QPS <= h.rep.WriteCap/2+0.01
		}
		if split {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the replicas did not divide the write budget within 60 s (shares %v)", res.Shares)
		}
		time.Sleep(200 * time.Millisecond)
	}
	logf("two replicas share the write budget: %v", res.Shares)

	proxy, err := startProxy(ctx, kids[0].addr, kids[1].addr)
	if err != nil {
		return nil, err
	}
	defer proxy.close()

	m := &model{groups: groups, active: h.cfg.Active, hot: h.cfg.Hot, hotShare: h.cfg.HotShare, realistic: realistic,
		track: true, appID: appID, token: token}
	cursors := make([]int, len(kids))
	for i, k := range kids {
		ws, _ := k.writesSince(0)
		cursors[i] = len(ws)
	}
	var allWrites []time.Time
	fails := 0
	for i, rate := range h.cfg.Rates {
		if ctx.Err() != nil || fails >= h.cfg.MaxFails {
			break
		}
		r := h.stepReplicas(ctx, kids, cursors, proxy.addr, m, rate, uint64(5000+i), &allWrites)
		logf("%s", rowText(r))
		res.Rows = append(res.Rows, r)
		if r.Sustainable {
			fails = 0
			res.MaxRate = max(res.MaxRate, rate)
		} else {
			fails++
		}
	}
	slices.SortFunc(allWrites, func(a, b time.Time) int { return a.Compare(b) })
	res.WritesMax1s, res.WritesMax10s = maxWindow(allWrites, time.Second), maxWindow(allWrites, 10*time.Second)
	return res, nil
}

// stepReplicas is one load step through the proxy; it measures as step
// does, summing over the two replicas.
func (h *harness) stepReplicas(ctx context.Context, kids []*child, cursors []int, addr string, m *model, rate float64, seed uint64, allWrites *[]time.Time) stepResult {
	r := stepResult{Phase: "replicas", Target: "ours x2", Rate: rate}
	h.startStep(m)
	pids := make([]int, len(kids))
	for i, k := range kids {
		pids[i] = k.cmd.Process.Pid
	}
	cpu0, cp0, t0 := cpuOf(pids), cpuOf(h.cp), time.Now()
	resetRefresh(m.groups[:m.active], t0)
	load := runLoad(addr, m, rate, h.cfg.Step, h.cfg.Conns, seed)
	loadEnd := time.Now()
	el := loadEnd.Sub(t0).Seconds()
	cpu1, cp1 := cpuOf(pids), cpuOf(h.cp)
	r.CPUCores, r.ControlCPU = (cpu1-cpu0).Seconds()/el, (cp1-cp0).Seconds()/el
	if load.OK > 0 {
		r.CPUPerK = (cpu1 - cpu0).Seconds() * 1000 / float64(load.OK) * 1000
	}
	r.OK, r.Errors, r.Refused, r.Achieved = load.OK, load.Errors, load.Refused, load.Achieved
	slices.Sort(load.Latency)
	r.P50ms, r.P99ms, r.MaxMs = ms(pct(load.Latency, 0.50)), ms(pct(load.Latency, 0.99)), ms(pct(load.Latency, 1))

	// Both replicas hold an update for nearly every active group, each
	// writing at half the budget: the last writes take about twice one
	// replica's turn (active / cap), so the wait is longer than -settle.
	settle := max(h.cfg.Settle, time.Duration(3*float64(m.active)/h.rep.WriteCap*float64(time.Second)))
	settleStart := time.Now()
	for deadline := settleStart.Add(settle); time.Now().Before(deadline) && ctx.Err() == nil; {
		pending := 0
		for _, k := range kids {
			if s, err := k.stats(); err == nil {
				pending += s.Pending
			}
		}
		if pending == 0 && unresolved(m.groups[:m.active]) == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the last watch events
	r.SettleSeconds = time.Since(settleStart).Seconds()
	r.WritesPersisted = len(h.w.takeWrites())
	var writes []time.Time
	for i, k := range kids {
		ws, err := k.writesSince(cursors[i])
		if err != nil {
			r.Note = "write log: " + err.Error()
		}
		cursors[i] += len(ws)
		writes = append(writes, ws...)
	}
	slices.SortFunc(writes, func(a, b time.Time) int { return a.Compare(b) })
	*allWrites = append(*allWrites, writes...)
	during := 0
	for _, ts := range writes {
		if !ts.After(loadEnd) {
			during++
		}
	}
	r.WritesTotal, r.WritesMax1s, r.WritesMax10s = len(writes), maxWindow(writes, time.Second), maxWindow(writes, 10*time.Second)
	r.WritesPerSec = float64(during) / el
	if during > 0 {
		r.ControlMsPerWrite = (cp1 - cp0).Seconds() * 1000 / float64(during)
	}
	if load.OK > 0 {
		r.WritesPerCB = float64(r.WritesTotal) / float64(load.OK)
	}
	for _, g := range m.groups[:m.active] {
		g.mu.Lock()
		if g.callbacks > 0 {
			r.ActiveGroups++
		}
		g.mu.Unlock()
	}
	h.endStep(ctx, &r, m)
	judge(&r)
	return r
}

// tcpProxy hands each accepted connection to the next backend in turn and
// copies bytes both ways: connection-level balancing, as kube-proxy does
// for a Service, so each keep-alive connection stays on one replica.
type tcpProxy struct {
	addr  string
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(ctx context.Context, backends ...string) (*tcpProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &tcpProxy{addr: ln.Addr().String(), ln: ln}
	var next atomic.Uint64
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			backend := backends[next.Add(1)%uint64(len(backends))]
			var d net.Dialer
			out, err := d.DialContext(ctx, "tcp", backend)
			if err != nil {
				_ = in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Go(func() { pipe(out, in) })
			p.wg.Go(func() { pipe(in, out) })
		}
	})
	return p, nil
}

// pipe copies src to dst until either side ends, then closes dst's write
// half so the other direction ends too.
func pipe(dst, src net.Conn) {
	_, err := io.Copy(dst, src)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		_ = dst.Close()
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

func (p *tcpProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// replicasMarkdown is the phase's section of report.md.
func replicasMarkdown(b *bytes.Buffer, r *replicasResult, cap float64, burst int, singleMax float64) {
	fmt.Fprintf(b, "\n### Two replicas, one write budget\n\n")
	fmt.Fprintf(b, "Two receivers (child processes like ours) behind a round-robin TCP proxy, sharing --status-write-qps %.0f through Leases (shares once they found each other: %v). "+
		"Highest sustainable rate of the pair: %.0f/s (one replica: %.0f/s). Status writes of both together: at most %d in any second and %d in any 10 s (the one budget: %.0f/s, burst %d).\n\n",
		cap, r.Shares, r.MaxRate, singleMax, r.WritesMax1s, r.WritesMax10s, cap, burst)
	b.WriteString("| rate/s | achieved/s | ack p99 ms | errors | writes/s (both) | max writes in 1 s (both) | staleness p50/p99 ms | priority staleness p99 ms | receivers' CPU cores | CPU ms per 1,000 callbacks | apiserver+etcd CPU | lost | sustainable |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|\n")
	for _, s := range r.Rows {
		fmt.Fprintf(b, "| %.0f | %.0f | %.2f | %d | %.1f | %d | %.0f / %.0f | %.0f | %.2f | %.0f | %.2f | %d | %s |\n",
			s.Rate, s.Achieved, s.P99ms, s.Errors, s.WritesPerSec, s.WritesMax1s, s.StaleP50ms, s.StaleP99ms, s.PrioP99ms, s.CPUCores, s.CPUPerK, s.ControlCPU, s.Lost, yes(s.Sustainable))
	}
	b.WriteString("\nOn 2 cores the pair cannot take twice one replica's rate: both receivers, the proxy, the load generator and the control plane share the same two cores, and each receiver keeps its own informer cache (every status write is a watch event decoded twice).\n")
}
