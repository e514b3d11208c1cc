// Package objwrite is the one way this operator writes an object it shares
// with other writers: the receiver's status updates, the controller's
// status updates and its finalizer changes all go through Writer, so
// conflict handling and read-your-writes exist once.
//
// Every write is a JSON merge patch carrying the resourceVersion it was
// computed on (optimistic concurrency): a change someone else made in
// between is never overwritten, the write fails with a conflict instead,
// and the object is read again from the API server and the change applied
// anew. The informer cache lags behind writes, so a busy object would
// conflict on almost every write if it started from the cache; Writer
// remembers the object each of its writes returned, and Freshest hands it
// out while the cache still shows the version that write replaced.
package objwrite

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MaxConflictRetries bounds the re-reads after conflicts in one Write; a
// caller that gets a conflict back tries again later (its own backoff).
const MaxConflictRetries = 10

// Target is the part of the object a write changes.
type Target int

const (
	// Status writes the status subresource.
	Status Target = iota
	// Object writes the object itself (metadata, finalizers).
	Object
)

// Writer writes objects of one kind with optimistic concurrency. It is
// safe for concurrent use; one Writer per process is shared by every
// component, so each sees what the others just wrote.
type Writer struct {
	client    client.Client // writes, and cached reads by the callers
	apiReader client.Reader // fresh reads after a conflict

	mu     sync.Mutex
	recent map[types.NamespacedName]recentWrite
}

// recentWrite is the object a write returned and the version it replaced.
type recentWrite struct {
	replacedRV string
	obj        client.Object
}

// New returns a Writer that writes through c and re-reads through apiReader.
func New(c client.Client, apiReader client.Reader) *Writer {
	return &Writer{client: c, apiReader: apiReader, recent: map[types.NamespacedName]recentWrite{}}
}

// Result is the outcome of a Write.
type Result struct {
	// Obj is the object as written, or as it stands when nothing needed
	// writing or the write failed.
	Obj client.Object
	// Wrote is true when the API server accepted a change.
	Wrote bool
	// Conflicts counts the attempts that lost to another writer.
	Conflicts int
}

// Write applies mutate to a copy of obj and, when that changes anything,
// writes the difference. On a conflict the object is read again from the
// API server and mutate applied to the fresh copy, so mutate must be a pure
// function of what the caller learned and the object it is given.
// beforeRetry, when set, runs before each retry (the receiver takes a token
// of its write budget there); its error ends the Write.
func (w *Writer) Write(ctx context.Context, obj client.Object, target Target, mutate func(client.Object), beforeRetry func(context.Context) error) (Result, error) {
	key := client.ObjectKeyFromObject(obj)
	cur := obj.DeepCopyObject().(client.Object)
	res := Result{Obj: obj}
	for attempt := 0; ; attempt++ {
		orig := cur.DeepCopyObject().(client.Object)
		mutate(cur)
		if equality.Semantic.DeepEqual(orig, cur) {
			res.Obj = cur
			return res, nil
		}
		patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
		var err error
		if target == Status {
			err = w.client.Status().Patch(ctx, cur, patch)
		} else {
			err = w.client.Patch(ctx, cur, patch)
		}
		if err == nil {
			w.remember(key, orig.GetResourceVersion(), cur)
			res.Obj, res.Wrote = cur, true
			return res, nil
		}
		res.Obj = orig
		if apierrors.IsNotFound(err) {
			w.Forget(key)
		}
		if !apierrors.IsConflict(err) || attempt >= MaxConflictRetries {
			return res, err
		}
		res.Conflicts++
		if beforeRetry != nil {
			if err := beforeRetry(ctx); err != nil {
				return res, err
			}
		}
		fresh := obj.DeepCopyObject().(client.Object)
		if err := w.apiReader.Get(ctx, key, fresh); err != nil {
			return res, err
		}
		cur = fresh
	}
}

// Freshest returns this Writer's last written copy of cached's object while
// the cache still holds the version that write replaced; otherwise cached.
// The returned object is the caller's to change.
func (w *Writer) Freshest(cached client.Object) client.Object {
	key := client.ObjectKeyFromObject(cached)
	w.mu.Lock()
	defer w.mu.Unlock()
	r, ok := w.recent[key]
	if !ok || r.obj.GetUID() != cached.GetUID() {
		return cached
	}
	if r.replacedRV == cached.GetResourceVersion() {
		return r.obj.DeepCopyObject().(client.Object)
	}
	delete(w.recent, key) // the cache has caught up (or someone else wrote)
	return cached
}

// Forget drops what is remembered of key (the object is gone).
func (w *Writer) Forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.recent, key)
}

func (w *Writer) remember(key types.NamespacedName, replacedRV string, obj client.Object) {
	cp := obj.DeepCopyObject().(client.Object)
	cp.SetManagedFields(nil) // as the cache keeps objects (internal/cacheconfig)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.recent[key] = recentWrite{replacedRV: replacedRV, obj: cp}
}
