package main

// The watch on the bench namespace: every MODIFIED event is one status write
// that reached etcd. It resolves staleness samples (a message acknowledged
// at t is persisted when the group's lastMessageSeq first reaches its seq),
// counts writes per second, and records each group's refresh gaps.

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

type watcher struct {
	c      client.WithWatch
	ns     string
	byName map[string]*group

	mu     sync.Mutex
	writes []time.Time // MODIFIED events since the last take
}

func (w *watcher) run(ctx context.Context, rv string) {
	for ctx.Err() == nil {
		list := &imv1alpha1.ChatGroupList{}
		wi, err := w.c.Watch(ctx, list, client.InNamespace(w.ns),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		for ev := range wi.ResultChan() {
			cg, ok := ev.Object.(*imv1alpha1.ChatGroup)
			if !ok {
				continue
			}
			rv = cg.ResourceVersion
			if ev.Type != watch.Modified {
				continue
			}
			w.observe(cg, time.Now())
		}
		wi.Stop()
	}
}

func (w *watcher) observe(cg *imv1alpha1.ChatGroup, now time.Time) {
	w.mu.Lock()
	w.writes = append(w.writes, now)
	w.mu.Unlock()
	g := w.byName[cg.Name]
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.lastRefresh.IsZero() {
		g.maxGap = max(g.maxGap, now.Sub(g.lastRefresh))
	}
	g.lastRefresh = now
	g.refreshes++
	if len(g.prio) > 0 {
		et := cg.Status.EventTimes
		seen := [...]int64{et.Name, et.Introduction, et.Notification, attrsField: et.Attributes, ownerField: et.Owner}
		keepP := g.prio[:0]
		for _, a := range g.prio {
			if a.et <= seen[a.field] {
				prioSink.add(now.Sub(a.at))
			} else {
				keepP = append(keepP, a)
			}
		}
		g.prio = keepP
	}
	s := cg.Status.LastMessageSeq
	if s <= g.obsSeq {
		return
	}
	g.obsSeq = s
	keep := g.acks[:0]
	for _, a := range g.acks {
		if a.seq <= s {
			staleSink.add(now.Sub(a.at))
		} else {
			keep = append(keep, a)
		}
	}
	g.acks = keep
}

func (w *watcher) takeWrites() []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := w.writes
	w.writes = nil
	return v
}

// resetRefresh starts a new refresh-gap window for groups, at now.
func resetRefresh(groups []*group, now time.Time) {
	for _, g := range groups {
		g.mu.Lock()
		g.lastRefresh, g.maxGap, g.refreshes = now, 0, 0
		g.mu.Unlock()
	}
}

// unresolved counts acknowledged messages not yet seen in status.
func unresolved(groups []*group) int {
	n := 0
	for _, g := range groups {
		g.mu.Lock()
		n += len(g.acks)
		g.mu.Unlock()
	}
	return n
}

// maxWindow is the most events in any window of length w.
func maxWindow(ts []time.Time, w time.Duration) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}
