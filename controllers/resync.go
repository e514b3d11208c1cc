package controllers

import (
	"context"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// Resyncer is the level-triggered safety net: every ResyncInterval it reads
// every declared group back through the REST API, so a lost callback (IM
// does not retry after-callbacks) heals within one interval. It runs on the
// leader only (NeedLeaderElection), like the controller's pushes.
//
// Writes: a ChatGroup's status is written only when the read differs from
// it. status.lastResyncTime is set with such a write and never on its own:
// stamping 2,000 unchanged objects every interval would cost the API server
// more than the resync itself, so lastResyncTime means "last time a read
// back changed status". Drifted Enforce ChatGroups are then reconciled: the
// status write triggers that, and ones whose status did not change but
// still differ from spec are enqueued explicitly.
type Resyncer struct {
	r   *Reconciler
	log logr.Logger
}

// ResyncStats describes one resync.
type ResyncStats struct {
	ChatGroups int // ChatGroups considered
	Groups     int // distinct group IDs read
	Written    int // status writes
	Enqueued   int // ChatGroups handed to the controller
	Failed     int // groups whose read failed
}

// NeedLeaderElection is true: one replica resyncs.
func (s *Resyncer) NeedLeaderElection() bool { return true }

// maxResyncTick is the longest the resync sleeps without looking at the
// registry: a ChatApp loaded meanwhile gets its schedule within it.
const maxResyncTick = 10 * time.Second

// Start runs each app's resync every interval (the app's own, with
// jitter) until ctx ends. An app without a REST client has no resync.
func (s *Resyncer) Start(ctx context.Context) error {
	due := map[string]time.Time{}
	for {
		now := time.Now()
		serving := map[string]bool{}
		for _, app := range s.r.apps.Serving() {
			if app.Client == nil {
				continue
			}
			serving[app.Name] = true
			at, ok := due[app.Name]
			switch {
			case !ok:
				due[app.Name] = now.Add(s.next(app))
			case !now.Before(at):
				st, err := s.resyncApp(ctx, app)
				if err != nil && ctx.Err() == nil {
					s.log.Error(err, "resync failed", "app", app.Name, "stats", st)
				} else {
					s.log.V(1).Info("resync done", "app", app.Name, "stats", st)
				}
				due[app.Name] = time.Now().Add(s.next(app))
			}
		}
		wait := min(maxResyncTick, s.r.opts.ResyncInterval)
		for name, at := range due {
			if !serving[name] {
				delete(due, name) // gone or lost its client: a new schedule if it returns
				continue
			}
			wait = min(wait, time.Until(at))
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (s *Resyncer) next(app *apps.App) time.Duration {
	interval := app.ResyncInterval
	if interval <= 0 {
		interval = s.r.opts.ResyncInterval
	}
	j := s.r.opts.ResyncJitter
	return time.Duration(float64(interval) * (1 - j + 2*j*rand.Float64()))
}

// ResyncOnce reads every group of every served app back now (see
// resyncApp); the stats are summed, the first error returned.
func (s *Resyncer) ResyncOnce(ctx context.Context) (ResyncStats, error) {
	var total ResyncStats
	var firstErr error
	for _, app := range s.r.apps.Serving() {
		if app.Client == nil {
			continue
		}
		st, err := s.resyncApp(ctx, app)
		total.ChatGroups += st.ChatGroups
		total.Groups += st.Groups
		total.Written += st.Written
		total.Enqueued += st.Enqueued
		total.Failed += st.Failed
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return total, firstErr
}

// resyncApp reads every group of app back: get_group_info in batches of up
// to tim.MaxGroupInfoBatch ids, get_group_attr where attributes are
// declared or tracked. A failed batch is skipped (the next resync retries
// it); credential failures stop the pass. ChatGroups in namespaces the app
// does not allow are left alone.
func (s *Resyncer) resyncApp(ctx context.Context, app *apps.App) (ResyncStats, error) {
	var stats ResyncStats
	var list imv1alpha1.ChatGroupList
	if err := s.r.client.List(ctx, &list, client.MatchingFields{appIndex: app.Name}); err != nil {
		return stats, err
	}
	im := app.Client
	byID := map[string][]*imv1alpha1.ChatGroup{}
	for i := range list.Items {
		cg := &list.Items[i]
		if !cg.DeletionTimestamp.IsZero() || cg.Spec.GroupID == "" || paused(cg) || !app.Allows(cg.Namespace) {
			continue // a paused ChatGroup gets no REST call, its reads included
		}
		stats.ChatGroups++
		byID[cg.Spec.GroupID] = append(byID[cg.Spec.GroupID], cg)
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	stats.Groups = len(ids)

	var firstErr error
	for start := 0; start < len(ids); start += tim.MaxGroupInfoBatch {
		batch := ids[start:min(start+tim.MaxGroupInfoBatch, len(ids))]
		at := s.r.opts.Now()
		var inBatch []*imv1alpha1.ChatGroup
		for _, id := range batch {
			inBatch = append(inBatch, byID[id]...)
		}
		res, err := im.GetGroupInfoFiltered(ctx, batch, infoFilter(appDataKeys(inBatch...)))
		if err != nil {
			stats.Failed += len(batch)
			if firstErr == nil {
				firstErr = err
			}
			if tim.IsCredentials(err) || ctx.Err() != nil {
				s.r.credentialsRefused(ctx, app, err)
				return stats, err
			}
			continue
		}
		for _, g := range res {
			if err := s.refreshGroup(ctx, im, at, g, byID[g.GroupID], &stats); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	return stats, firstErr
}

// refreshGroup folds one group's read into the status of every ChatGroup
// that declares it.
func (s *Resyncer) refreshGroup(ctx context.Context, im IM, at time.Time, g tim.GroupInfoResult, cgs []*imv1alpha1.ChatGroup, stats *ResyncStats) error {
	obs := observation{At: at}
	switch {
	case g.Err == nil:
		found(&obs, g.GroupInfo, appDataKeys(cgs...))
	case tim.IsNotFound(g.Err):
	default:
		stats.Failed++
		return g.Err
	}
	if obs.Exists {
		for _, cg := range cgs {
			if wantAttrs(cg) {
				attrs, err := im.GetGroupAttr(ctx, g.GroupID)
				if err != nil && !tim.IsNotFound(err) {
					stats.Failed++
					return err
				}
				if err == nil {
					obs.Attrs, obs.AttrsRead = attrs, true
				}
				break
			}
		}
	}
	var firstErr error
	for _, cg := range cgs {
		if !obs.Exists && discovered(cg) {
			if err := s.r.deleteDiscovered(ctx, cg, "IM has no such group"); err != nil && firstErr == nil {
				firstErr = err
			}
			continue
		}
		var destroyed, countSkipped bool
		saw := existenceOf(&cg.Status)
		mutate := func(c *imv1alpha1.ChatGroup) {
			// Only a changed value is worth a write: a read that finds
			// nothing new would move event times alone, on every group.
			next := c.Status.DeepCopy()
			out := applyRead(next, obs, saw)
			destroyed, countSkipped = out.Destroyed, out.CountSkipped
			if groupstatus.SameValues(next, &c.Status) {
				return
			}
			c.Status = *next
			t := metav1.NewTime(at)
			c.Status.LastResyncTime = &t
		}
		written, wrote, err := s.r.patchStatus(ctx, cg, mutate)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		// A count that did not land is read again by the controller soon,
		// not only at the next resync.
		recount := s.r.holds.afterRead(client.ObjectKeyFromObject(written), written.UID, countSkipped, at) > 0
		if wrote {
			stats.Written++
			if destroyed {
				s.r.rec.Eventf(written, nil, corev1.EventTypeWarning, EventGroupDestroyed, "Resync",
					"group %s no longer exists in IM", cg.Spec.GroupID)
			}
			continue // the write triggers a reconcile
		}
		if recount || enforced(written) && (stateOf(written) == stateMissing || len(drift(&written.Spec, &written.Status)) > 0) {
			select {
			case s.r.enqueue <- event.TypedGenericEvent[*imv1alpha1.ChatGroup]{Object: written}:
				stats.Enqueued++
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return firstErr
}
