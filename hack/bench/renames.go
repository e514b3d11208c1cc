package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"
)

// The renames phase: what the two status-write lanes promise, measured on
// its own terms. A rename, notice, attribute or owner change must show
// within seconds at any message load, as long as such changes arrive more
// slowly than the lane can write them. In the ramp's mixes they cannot (2%
// of 4,000 callbacks/s over 1,000 groups is 80 changes a second against a
// budget of 20 writes a second, and no order of writes shows each of them
// within 2 s), so this phase holds the changes at a rate people make them
// (-renames per second, half the default cap) while the messages and member
// changes run at the ramp's rates.

// renamesResult is the phase's rows, one per message rate.
type renamesResult struct {
	PerSec float64      `json:"changesPerSec"`
	Rows   []stepResult `json:"steps"`
}

// renamesRates are the message rates of the phase: the lowest, a middle
// and the highest rate ours sustained in the ramp; without a ramp (-only
// renames), -rates; when the ramp sustained none, its first rate.
func renamesRates(rep *report, cfg config) []float64 {
	if len(rep.Steps) == 0 {
		return cfg.Rates
	}
	var sustained []float64
	for _, s := range rep.Steps {
		if s.Target == "ours" && s.Sustainable {
			sustained = append(sustained, s.Rate)
		}
	}
	slices.Sort(sustained)
	switch len(sustained) {
	case 0:
		return cfg.Rates[:1]
	case 1, 2, 3:
		return sustained
	}
	return []float64{sustained[0], sustained[len(sustained)/2], sustained[len(sustained)-1]}
}

// renames runs the phase: one run per rate, on the ramp's active and hot
// groups, each change to a group drawn evenly from the active ones.
func (h *harness) renames(ctx context.Context, groups []*group) *renamesResult {
	res := &renamesResult{PerSec: h.cfg.Renames}
	for i, rate := range renamesRates(h.rep, h.cfg) {
		if ctx.Err() != nil {
			break
		}
		m := &model{groups: groups, active: h.cfg.Active, hot: h.cfg.Hot, hotShare: h.cfg.HotShare,
			fixedPrio: h.cfg.Renames / rate, track: true, appID: appID, token: token}
		r := h.step(ctx, "renames", h.ours, m, rate, h.cfg.RenamesDur, uint64(7000+i))
		logf("%s", rowText(r))
		res.Rows = append(res.Rows, r)
	}
	return res
}

// worst is the row with the highest priority staleness p99, or nil.
func (r *renamesResult) worst() *stepResult {
	var w *stepResult
	for i := range r.Rows {
		s := &r.Rows[i]
		if s.PrioSamples > 0 && (w == nil || s.PrioP99ms > w.PrioP99ms) {
			w = s
		}
	}
	return w
}

func renamesMarkdown(b *bytes.Buffer, r *renamesResult, cfg config, writeCap float64) {
	fmt.Fprintf(b, "\n### Renames at %.0f/s under message load\n\n", r.PerSec)
	fmt.Fprintf(b, "Info, attribute and owner changes (2:1:1) at %.0f/s (%.0f%% of the cap of %.0f writes/s), each to one of the %d active groups drawn evenly; 5%% member joins and exits; the rest messages (%d hot groups taking %.0f%% of them); %v per run.\n\n",
		r.PerSec, 100*r.PerSec/writeCap, writeCap, cfg.Active, cfg.Hot, cfg.HotShare*100, cfg.RenamesDur)
	b.WriteString("| callbacks/s | achieved/s | ack p99 ms | changes measured | priority staleness p50/p99 ms | message staleness p99 ms | writes/s | max writes in 1 s | lost |\n")
	b.WriteString("|---:|---:|---:|---:|---|---:|---:|---:|---:|\n")
	for _, s := range r.Rows {
		fmt.Fprintf(b, "| %.0f | %.0f | %.2f | %d | %.0f / %.0f | %.0f | %.1f | %d | %d |\n",
			s.Rate, s.Achieved, s.P99ms, s.PrioSamples, s.PrioP50ms, s.PrioP99ms, s.StaleP99ms, s.WritesPerSec, s.WritesMax1s, s.Lost)
	}
}

// renamesDuration is the default load of one run: long enough for a few
// hundred changes at the default -renames.
const renamesDuration = 30 * time.Second
