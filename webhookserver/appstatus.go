package webhookserver

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatapps/status,verbs=get;update;patch

// lastCallbackInterval is how often a ChatApp's status.lastCallbackTime
// may be written: enough to see an app that went quiet, without one
// status write per callback.
const lastCallbackInterval = time.Minute

// appCallbacks remembers when each ChatApp last had an accepted callback
// and writes it to the ChatApp's status at most once per interval.
type appCallbacks struct {
	c        client.Client
	interval time.Duration

	mu      sync.Mutex
	seen    map[string]time.Time // accepted, not written yet
	written map[string]time.Time
}

func newAppCallbacks(c client.Client) *appCallbacks {
	return &appCallbacks{c: c, interval: lastCallbackInterval, seen: map[string]time.Time{}, written: map[string]time.Time{}}
}

// mark records an accepted callback for app (the default app has no
// ChatApp to write to).
func (a *appCallbacks) mark(app *apps.App, at time.Time) {
	if app.Default() {
		return
	}
	a.mu.Lock()
	if at.After(a.seen[app.Name]) {
		a.seen[app.Name] = at
	}
	a.mu.Unlock()
}

// NeedLeaderElection is false: each replica reports the callbacks it took.
func (a *appCallbacks) NeedLeaderElection() bool { return false }

var _ manager.LeaderElectionRunnable = (*appCallbacks)(nil)

// Start writes every interval until ctx ends.
func (a *appCallbacks) Start(ctx context.Context) error {
	wait.UntilWithContext(ctx, a.flush, a.interval)
	return nil
}

// flush writes the times seen since the last flush. A failed write is
// dropped: the next callback brings a newer time anyway.
func (a *appCallbacks) flush(ctx context.Context) {
	a.mu.Lock()
	seen := a.seen
	a.seen = map[string]time.Time{}
	a.mu.Unlock()
	for name, at := range seen {
		if !at.After(a.written[name]) {
			continue
		}
		patch := client.RawPatch(types.MergePatchType, []byte(`{"status":{"lastCallbackTime":"`+at.UTC().Format(time.RFC3339)+`"}}`))
		ca := &imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := a.c.Status().Patch(ctx, ca, patch); err == nil {
			a.written[name] = at
		}
	}
}
