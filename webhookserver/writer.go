package webhookserver

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/objwrite"
)

// ErrBusy is returned by Merge when accepting the callback would exceed the
// bound on pending groups; the receiver answers 503 and keeps nothing.
var ErrBusy = errors.New("too many groups with pending status updates")

// A group whose write failed waits before its next attempt, alone: the
// others keep their turns.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// WriterStats counts one writer's work; tests assert bounds with it.
type WriterStats struct {
	Writes, Conflicts, Errors, Unchanged, Coalesced int64
	// QPS is the write budget in force: this replica's share.
	QPS float64
}

// Writer coalesces accepted callbacks into one pending update per ChatGroup
// and flushes them to the status subresource: rate limited, changes people
// look at before counters (two lanes, one budget), oldest pending first in
// each, with optimistic concurrency.
type Writer struct {
	client    client.Client // the manager's client: reads from the cache
	apiReader client.Reader // reads that miss the cache
	objects   *objwrite.Writer
	events    eventSink
	limiter   *rate.Limiter
	// retune is closed when the rate changes for the final flush: waits
	// reserved at the steady-state rate are taken again at the new one.
	retune     chan struct{}
	retuneOnce sync.Once
	budgetMu   sync.Mutex
	draining   bool
	max        int
	log        logr.Logger
	now        func() time.Time

	mu      sync.Mutex
	entries map[types.NamespacedName]*entry
	// lanes hold the queued entries: lanePriority those whose update
	// changes what people look at, laneCounters those that carry only
	// message and member-count changes (see pop).
	lanes [numLanes]entryQueue
	// priorityStreak counts the priority pops since the last counters
	// pop, for the counters lane's floor.
	priorityStreak int
	kick           chan struct{}

	writes, conflicts, errs, unchanged, coalesced atomic.Int64
}

// entry is one ChatGroup's pending state. next collects callbacks; while a
// write of the previous update is in flight, next starts afresh, and if that
// write fails the two are folded back together.
type entry struct {
	key      types.NamespacedName
	next     *update
	inflight bool
	// failures counts the consecutive failed writes; while waiting
	// (backing off after one) the entry is out of the queue.
	failures int
	waiting  bool
	index    int // position in its lane, -1 when not queued
	lane     int // the lane it is queued in
}

// The writer's two lanes. A name, notification, attribute or owner change,
// a creation or a destruction is rare next to messages, and it is what a
// person or a GitOps health check looks at: it goes first. Message seq and
// member counts follow, oldest first, and keep at least one write in every
// countersFloor: the priority lane can never starve them.
const (
	lanePriority = iota
	laneCounters
	numLanes

	countersFloor = 4 // one write in four, when both lanes wait
)

// laneOf is the lane of an update.
func laneOf(u *update) int {
	if u.status.OnlyCounters() {
		return laneCounters
	}
	return lanePriority
}

// enqueue queues e in the lane of its pending update (w.mu held).
func (w *Writer) enqueue(e *entry) {
	e.lane = laneOf(e.next)
	heap.Push(&w.lanes[e.lane], e)
}

// NewWriter returns a writer; qps and burst bound status writes, maxPending
// bounds the ChatGroups with a pending update. objects is the process's
// shared object writer (nil: one of its own).
func NewWriter(c client.Client, apiReader client.Reader, objects *objwrite.Writer, ev eventSink, qps float64, burst, maxPending int, log logr.Logger) *Writer {
	if objects == nil {
		objects = objwrite.New(c, apiReader)
	}
	return &Writer{
		client:    c,
		apiReader: apiReader,
		objects:   objects,
		events:    ev,
		limiter:   rate.NewLimiter(rate.Limit(qps), burst),
		retune:    make(chan struct{}),
		max:       maxPending,
		log:       log,
		now:       time.Now,
		entries:   map[types.NamespacedName]*entry{},
		kick:      make(chan struct{}, 1),
	}
}

// Stats returns this writer's counters.
func (w *Writer) Stats() WriterStats {
	return WriterStats{
		Writes: w.writes.Load(), Conflicts: w.conflicts.Load(), Errors: w.errs.Load(),
		Unchanged: w.unchanged.Load(), Coalesced: w.coalesced.Load(),
		QPS: float64(w.limiter.Limit()),
	}
}

// waitToken waits for a write token of the budget in force, which
// startDrain can raise while the wait is on.
func (w *Writer) waitToken(ctx context.Context) error {
	if err := w.reserveAndWait(ctx, w.retune); !errors.Is(err, errRetuned) {
		return err
	}
	// The budget changed while waiting: take a token at the new rate.
	return w.reserveAndWait(ctx, nil)
}

var errRetuned = errors.New("write budget changed")

// reserveAndWait takes a token and waits until it is due, ctx ends
// (ctx.Err()) or retune is closed (errRetuned; the token is given back).
func (w *Writer) reserveAndWait(ctx context.Context, retune <-chan struct{}) error {
	r := w.limiter.Reserve()
	if !r.OK() {
		return errors.New("status write budget cannot grant a token")
	}
	d := r.Delay()
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	case <-retune:
		r.Cancel()
		return errRetuned
	}
}

// startDrain sets the write budget of the final flush: it is short and
// happens once per pod, so it is not held to the steady-state cap.
func (w *Writer) startDrain(qps float64, burst int) {
	w.budgetMu.Lock()
	w.draining = true
	w.limiter.SetLimit(rate.Limit(qps))
	w.limiter.SetBurst(burst)
	w.budgetMu.Unlock()
	w.retuneOnce.Do(func() { close(w.retune) })
}

// setRate sets the steady-state write budget (this replica's share); once
// the final flush has its own budget, that one stays.
func (w *Writer) setRate(qps float64, burst int) {
	w.budgetMu.Lock()
	defer w.budgetMu.Unlock()
	if w.draining {
		return
	}
	w.limiter.SetLimit(rate.Limit(qps))
	w.limiter.SetBurst(burst)
}

// isPending reports whether key has an update not yet written.
func (w *Writer) isPending(key types.NamespacedName) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.entries[key]
	return ok
}

// Pending returns the number of ChatGroups with unwritten changes.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.entries)
}

// Merge folds a decoded callback into the pending update of every target
// ChatGroup, all or none: ErrBusy when that would exceed the bound. cb is a
// value returned by Decode; at is its event time in Unix ms (EventTime, or
// the receive time when IM sent none).
//
// A non-nil discover marks keys as a ChatGroup to create (Observe) if it
// does not exist when the update is written.
func (w *Writer) Merge(keys []types.NamespacedName, cb Callback, at int64, platform string, discover *Discover) error {
	now := w.now()
	w.mu.Lock()
	defer w.mu.Unlock()
	added := 0
	for _, k := range keys {
		if _, ok := w.entries[k]; !ok {
			added++
		}
	}
	if added > 0 && len(w.entries)+added > w.max {
		return ErrBusy
	}
	for _, k := range keys {
		e, ok := w.entries[k]
		if !ok {
			e = &entry{key: k, index: -1}
			w.entries[k] = e
			pendingGroups.Inc()
		}
		if e.next == nil {
			e.next = newUpdate(now)
			if !e.inflight && !e.waiting {
				w.enqueue(e)
			}
		} else {
			w.coalesced.Add(1)
			callbacksCoalesced.Inc()
		}
		e.next.add(cb, at, platform, now)
		if e.next.discover == nil {
			e.next.discover = discover
		}
		if e.index >= 0 && e.lane == laneCounters && laneOf(e.next) == lanePriority {
			// It keeps its first-pending time: oldest first in its new lane.
			heap.Remove(&w.lanes[laneCounters], e.index)
			w.enqueue(e)
		}
	}
	w.signal()
	return nil
}

func (w *Writer) signal() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// run is one flush worker; it returns when ctx ends.
func (w *Writer) run(ctx context.Context) {
	for {
		for !w.hasQueued() {
			select {
			case <-ctx.Done():
				return
			case <-w.kick:
			}
		}
		if ctx.Err() != nil {
			return
		}
		e, u := w.pop()
		if e == nil {
			continue
		}
		w.signal() // let another worker look at the rest of the queue
		err := w.write(ctx, e.key, u)
		w.finish(e, u, err)
	}
}

func (w *Writer) hasQueued() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lanes[lanePriority].Len()+w.lanes[laneCounters].Len() > 0
}

// pop takes the update that has waited longest in the priority lane, or
// in the counters lane when the priority lane is empty or has had
// countersFloor-1 turns in a row.
func (w *Writer) pop() (*entry, *update) {
	w.mu.Lock()
	defer w.mu.Unlock()
	prio, counters := &w.lanes[lanePriority], &w.lanes[laneCounters]
	var q *entryQueue
	switch {
	case prio.Len() > 0 && (counters.Len() == 0 || w.priorityStreak < countersFloor-1):
		q = prio
		w.priorityStreak++
	case counters.Len() > 0:
		q = counters
		w.priorityStreak = 0
	default:
		return nil, nil
	}
	e := heap.Pop(q).(*entry)
	u := e.next
	e.next, e.inflight = nil, true
	return e, u
}

// finish records the outcome of a write. A failed update is folded under
// the callbacks that arrived meanwhile and waits out its own backoff before
// it is queued again, with its original first-pending time: one group that
// keeps failing never holds up the others.
func (w *Writer) finish(e *entry, u *update, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.inflight = false
	if err != nil {
		u.absorb(e.next)
		e.next = u
		e.failures++
		e.waiting = true
		time.AfterFunc(backoff(e.failures), func() { w.requeue(e) })
		return
	}
	e.failures = 0
	if e.next != nil {
		w.enqueue(e)
		w.signal()
		return
	}
	delete(w.entries, e.key)
	pendingGroups.Dec()
}

// requeue ends an entry's backoff.
func (w *Writer) requeue(e *entry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e.waiting = false
	if e.next != nil && !e.inflight && e.index < 0 {
		w.enqueue(e)
		w.signal()
	}
}

// backoff is the wait after the n-th consecutive failure of one group.
func backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// write lands u on the ChatGroup's status. It returns an error only when the
// update must be kept and retried (API server unavailable, conflicts
// exhausted); a vanished ChatGroup or a write the server refuses for good
// drops the update, which the resync heals.
func (w *Writer) write(ctx context.Context, key types.NamespacedName, u *update) error {
	obj := &imv1alpha1.ChatGroup{}
	err := w.get(ctx, w.client, key, obj)
	if apierrors.IsNotFound(err) && u.discover != nil {
		if err := w.discover(ctx, key, u, obj); err != nil {
			w.errs.Add(1)
			statusWrites.WithLabelValues("error").Inc()
			if apierrors.IsNotFound(err) || apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
				// No such namespace, a refused object, no RBAC: retrying
				// cannot help, and the next callback tries again.
				w.log.Error(err, "cannot create the discovered ChatGroup; dropping its update", "chatgroup", key)
				return nil
			}
			w.log.Error(err, "creating the discovered ChatGroup failed; will retry", "chatgroup", key)
			return err
		}
	} else if err != nil {
		return w.readError(key, err)
	}
	if obj.Spec.GroupID != u.status.GroupID() || (u.discover != nil && apps.NameOf(obj) != apps.NameOfRef(u.discover.AppRef)) {
		// Only a discovered name can point at another group's ChatGroup
		// (someone took the name): never write one group's status there.
		w.log.Info("ChatGroup claims another group; dropping the update", "chatgroup", key,
			"groupID", u.status.GroupID(), "itsGroupID", obj.Spec.GroupID)
		return nil
	}
	obj = w.freshest(obj)
	// A stale or duplicate update is recognized on the cached object and
	// costs neither a token nor a request.
	if !changes(u, obj) {
		w.unchanged.Add(1)
		statusWrites.WithLabelValues("unchanged").Inc()
		return nil
	}
	if err := w.waitToken(ctx); err != nil {
		return err
	}
	// Waiting for the token took time: start from the freshest cached copy.
	if err := w.get(ctx, w.client, key, obj); err != nil {
		return w.readError(key, err)
	}
	obj = w.freshest(obj)
	var kinds [numEventKinds]bool
	stamp := metav1.NewTime(w.now().UTC().Truncate(time.Second))
	res, err := w.objects.Write(ctx, obj, objwrite.Status, func(o client.Object) {
		st := &o.(*imv1alpha1.ChatGroup).Status
		before := st.DeepCopy()
		kinds = u.apply(st)
		if !equality.Semantic.DeepEqual(before, st) {
			st.LastCallbackTime = &stamp
		}
	}, w.waitToken) // a retry is a request too: it takes a token
	for range res.Conflicts {
		w.conflicts.Add(1)
		statusWrites.WithLabelValues("conflict").Inc()
	}
	switch {
	case err == nil && !res.Wrote: // after a conflict: already applied elsewhere
		w.unchanged.Add(1)
		statusWrites.WithLabelValues("unchanged").Inc()
		return nil
	case err == nil:
		w.writes.Add(1)
		statusWrites.WithLabelValues("ok").Inc()
		w.events.emit(res.Obj.(*imv1alpha1.ChatGroup), u, kinds)
		return nil
	case apierrors.IsNotFound(err):
		return w.readError(key, err)
	case permanent(err):
		w.errs.Add(1)
		statusWrites.WithLabelValues("error").Inc()
		w.log.Error(err, "status update refused; dropping it", "chatgroup", key)
		return nil
	default:
		w.errs.Add(1)
		statusWrites.WithLabelValues("error").Inc()
		w.log.Error(err, "status update failed; will retry", "chatgroup", key)
		return err
	}
}

// permanent reports a refusal that retrying the same write cannot change:
// invalid (a schema limit), malformed, forbidden, or too large.
func permanent(err error) bool {
	return apierrors.IsInvalid(err) || apierrors.IsBadRequest(err) || apierrors.IsForbidden(err) ||
		apierrors.IsRequestEntityTooLargeError(err)
}

// freshest returns our last written copy of obj while the cache still
// shows the version that write replaced (a hot group is flushed faster than
// the watch delivers our writes back), else obj.
func (w *Writer) freshest(obj *imv1alpha1.ChatGroup) *imv1alpha1.ChatGroup {
	return w.objects.Freshest(obj).(*imv1alpha1.ChatGroup)
}

// changes reports whether u would change obj's status.
func changes(u *update, obj *imv1alpha1.ChatGroup) bool {
	st := obj.Status.DeepCopy()
	u.apply(st)
	return !equality.Semantic.DeepEqual(*st, obj.Status)
}

// get reads from r and, when a cached read misses (a ChatGroup just created
// by discovery may not be in the cache yet), from the API server.
func (w *Writer) get(ctx context.Context, r client.Reader, key types.NamespacedName, obj *imv1alpha1.ChatGroup) error {
	err := r.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) && r != w.apiReader {
		err = w.apiReader.Get(ctx, key, obj)
	}
	return err
}

func (w *Writer) readError(key types.NamespacedName, err error) error {
	if apierrors.IsNotFound(err) {
		w.log.Info("ChatGroup gone; dropping its pending status update", "chatgroup", key)
		w.objects.Forget(key)
		return nil
	}
	w.errs.Add(1)
	statusWrites.WithLabelValues("error").Inc()
	w.log.Error(err, "reading ChatGroup failed; will retry", "chatgroup", key)
	return err
}

// drain waits until every pending update is written or ctx ends.
func (w *Writer) drain(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if w.Pending() == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// entryQueue is a min-heap of entries by first-pending time: the group that
// has waited longest is written first, however hot the others are.
type entryQueue []*entry

func (q entryQueue) Len() int { return len(q) }
func (q entryQueue) Less(i, j int) bool {
	return q[i].next.firstPending.Before(q[j].next.firstPending)
}
func (q entryQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *entryQueue) Push(x any) {
	e := x.(*entry)
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *entryQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	e.index = -1
	return e
}
