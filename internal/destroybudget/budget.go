// Package destroybudget caps destroy_group calls per IM app in a rolling
// window. destroy_group cannot be undone, so a mistake that deletes many
// ChatGroups at once (a Git prune gone wrong) must destroy only a few groups
// before someone can notice. The calls are recorded in a Lease in the
// operator's namespace, not in memory: a restart or a new leader continues
// the count instead of starting a fresh budget.
package destroybudget

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults.
const (
	DefaultMaxPerWindow = 20
	DefaultWindow       = time.Hour
	// MaxPerWindowLimit bounds the flag: the ledger keeps one time per call
	// in the window, in one annotation (at most ~140 KB at this bound).
	MaxPerWindowLimit = 10000
)

// LeasePrefix starts the name of each app's ledger Lease.
const LeasePrefix = "chatgroup-destroys-"

// annotationTimes holds the ledger: the Unix milliseconds of each destroy
// in the window, ascending, comma separated.
const annotationTimes = "im.chatgroup.dev/destroy-times"

// ErrNoNamespace means there is nowhere to keep the ledger. Destroys wait (fail closed)
// rather than run unbudgeted.
var ErrNoNamespace = errors.New("no namespace for the destroy-budget Lease (set POD_NAMESPACE or --leader-election-namespace)")

// Budget hands out destroy_group calls. It is safe for concurrent use; the
// Lease's resourceVersion orders takers in different processes.
type Budget struct {
	reader    client.Reader // uncached: the ledger must be current
	writer    client.Client
	namespace string
	max       int
	window    time.Duration
	now       func() time.Time
	mu        sync.Mutex
}

// Config configures a Budget. Zero values take the defaults.
type Config struct {
	Namespace    string
	MaxPerWindow int
	Window       time.Duration
	Now          func() time.Time
}

// New returns a Budget on c (writes) and reader (live reads).
func New(c client.Client, reader client.Reader, cfg Config) *Budget {
	if cfg.MaxPerWindow <= 0 {
		cfg.MaxPerWindow = DefaultMaxPerWindow
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Budget{reader: reader, writer: c, namespace: cfg.Namespace, max: cfg.MaxPerWindow, window: cfg.Window, now: cfg.Now}
}

// Max is the number of destroys allowed per window.
func (b *Budget) Max() int { return b.max }

// Window is the rolling window.
func (b *Budget) Window() time.Duration { return b.window }

// Take records one destroy_group call for app now, if the window has room.
// It is taken before the call is made: a crash between the two spends a
// slot rather than risk an unrecorded destroy. ok false: wait is how long
// until a slot frees.
func (b *Budget) Take(ctx context.Context, app string) (ok bool, wait time.Duration, err error) {
	if b.namespace == "" {
		return false, 0, ErrNoNamespace
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for range 8 {
		ok, wait, err = b.take(ctx, app)
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			return ok, wait, err
		}
	}
	return false, 0, fmt.Errorf("recording a destroy in the budget Lease: %w", err)
}

func (b *Budget) take(ctx context.Context, app string) (bool, time.Duration, error) {
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: b.namespace, Name: LeasePrefix + app}
	err := b.reader.Get(ctx, key, lease)
	create := apierrors.IsNotFound(err)
	if err != nil && !create {
		return false, 0, fmt.Errorf("reading the destroy-budget Lease %s: %w", key, err)
	}
	recorded, err := parse(lease.Annotations[annotationTimes])
	if err != nil {
		// Fail closed: an unreadable ledger must not read as an empty one.
		return false, 0, fmt.Errorf("the destroy-budget Lease %s is unreadable (delete it to reset the budget): %w", key, err)
	}
	times, ok, wait := Admit(recorded, b.now(), b.window, b.max)
	if !ok {
		return false, wait, nil
	}
	if create {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	}
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[annotationTimes] = format(times)
	if create {
		err = b.writer.Create(ctx, lease)
	} else {
		err = b.writer.Update(ctx, lease) // resourceVersion: a concurrent taker conflicts
	}
	if err != nil {
		return false, 0, err
	}
	return true, 0, nil
}

// Admit decides one destroy at now on the recorded times: it drops the
// times that left the window and, when fewer than max remain, adds now.
// Times in the future (a clock that went back) stay counted: a skewed clock
// must not widen the budget.
func Admit(times []int64, now time.Time, window time.Duration, max int) (kept []int64, ok bool, wait time.Duration) {
	cut := now.Add(-window).UnixMilli()
	for _, t := range times {
		if t > cut {
			kept = append(kept, t)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i] < kept[j] })
	if len(kept) >= max {
		// The slot frees when the oldest of the last max calls leaves.
		oldest := kept[len(kept)-max]
		return kept, false, time.Duration(oldest-cut) * time.Millisecond
	}
	return append(kept, now.UnixMilli()), true, 0
}

func parse(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	fields := strings.Split(s, ",")
	out := make([]int64, 0, len(fields))
	for _, f := range fields {
		t, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %q is not a Unix millisecond time", annotationTimes, f)
		}
		out = append(out, t)
	}
	return out, nil
}

func format(times []int64) string {
	parts := make([]string, len(times))
	for i, t := range times {
		parts[i] = strconv.FormatInt(t, 10)
	}
	return strings.Join(parts, ",")
}
