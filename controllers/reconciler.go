// Package controllers holds the ChatGroup reconciler: it pushes the declared
// fields of a ChatGroup to Tencent Cloud IM (managementPolicy Enforce) or only
// reports drift (Observe), and a leader-only resync that reads every group
// back through the REST API in batches.
//
// The controller never parses callbacks (the webhook server records them as
// status) and reads IM only when it must: for a ChatGroup it has not synced
// yet, after a spec change, on a new resync-requested-at annotation value, and
// in the periodic resync. Every other reconcile compares spec with status
// only, because message callbacks change status all the time and each status
// change triggers a reconcile: such a reconcile makes no REST call and, when
// nothing differs, no API-server write.
package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/source"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/destroybudget"
	"github.com/chatgroup-operator/chatgroup-operator/internal/objwrite"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatgroups,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatgroups/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get,resourceNames=chatgroups.im.chatgroup.dev

// IM is the part of the IM REST client the controller uses; *tim.Client
// implements it. Its one definition is apps.REST, the registry's.
type IM = apps.REST

// EventRecorder is the events.k8s.io recorder the manager hands out
// (mgr.GetEventRecorder); tests wrap it to count Events.
type EventRecorder interface {
	Eventf(regarding runtime.Object, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// Options configure the controller and the resync. Zero values take the
// defaults below.
type Options struct {
	// Apps is the registry of served apps, shared with the receiver and
	// fed by the flags (main) and the ChatApp controller. Nil: one of the
	// controller's own holding the default app with IM and NoIMMessage,
	// unless NoDefaultApp.
	Apps *apps.Registry
	// IM is the default app's REST client when Apps is nil. Nil means no
	// credentials (--secret-key-file not set): no REST call is made,
	// ChatGroups report Synced False CredentialsInvalid with NoIMMessage,
	// and the default app's resync is off.
	IM IM
	// NoIMMessage explains a nil IM in the Synced condition.
	NoIMMessage string
	// NoDefaultApp: with Apps nil, the registry has no default app.
	NoDefaultApp bool
	// OperatorNamespace holds the ChatApps' credentials Secrets; empty:
	// ChatApps cannot be loaded (they report SecretNotFound).
	OperatorNamespace string
	// InsecureHTTP lets ChatApps use a plain http:// endpoint on any host
	// (--im-insecure-http); otherwise only on loopback.
	InsecureHTTP bool
	// VerifyCredentials makes the cheap REST call that tells whether IM
	// accepts a ChatApp's credentials; nil: a get_group_info of a group
	// that need not exist (see verifyCredentials).
	VerifyCredentials func(ctx context.Context, c IM) error
	// ResyncInterval is the period of the full read-back; ResyncJitter the
	// fraction (0..1) it varies by, so replicas restarted together spread.
	ResyncInterval time.Duration
	ResyncJitter   float64
	// RateLimitBackoff and RateLimitBackoffMax shape the per-ChatGroup wait
	// after IM answered with a frequency limit (doubling per failure).
	RateLimitBackoff    time.Duration
	RateLimitBackoffMax time.Duration
	// RejectedRetry is how long a value IM refused (invalid input) is left
	// alone before it is sent again; a spec change retries at once.
	RejectedRetry time.Duration
	// CredentialsRetry is how long REST calls for a ChatGroup pause after IM
	// refused the admin identity.
	CredentialsRetry time.Duration
	// DriftCorrectionInterval is the least time between two corrections of
	// drift (not of spec changes) on one ChatGroup.
	DriftCorrectionInterval time.Duration
	// MaxConcurrentReconciles defaults to 2.
	MaxConcurrentReconciles int
	// Recorder defaults to mgr.GetEventRecorder("chatgroup-controller").
	Recorder EventRecorder
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Objects is the process's shared object writer (conflict retries and
	// read-your-writes), shared with the receiver; nil: one of its own.
	Objects *objwrite.Writer
	// MaxDestroysPerHour caps destroy_group calls per app in any rolling
	// DestroyWindow (default destroybudget.DefaultMaxPerWindow per hour).
	MaxDestroysPerHour int
	// DestroyWindow is the budget's window (default one hour; tests
	// shorten it or move Now).
	DestroyWindow time.Duration
	// BudgetNamespace holds the destroy-budget Lease (the operator's own
	// namespace). Empty: no destroy_group is made (fail closed).
	BudgetNamespace string
}

// Defaults for Options.
const (
	DefaultResyncInterval      = 10 * time.Minute
	DefaultResyncJitter        = 0.1
	DefaultRateLimitBackoff    = 2 * time.Second
	DefaultRateLimitBackoffMax = 5 * time.Minute
	DefaultRejectedRetry       = time.Hour
	DefaultCredentialsRetry    = 10 * time.Minute
	DefaultDriftCorrection     = 10 * time.Second
)

func (o *Options) defaults() {
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	if o.ResyncJitter <= 0 || o.ResyncJitter >= 1 {
		o.ResyncJitter = DefaultResyncJitter
	}
	if o.RateLimitBackoff <= 0 {
		o.RateLimitBackoff = DefaultRateLimitBackoff
	}
	if o.RateLimitBackoffMax < o.RateLimitBackoff {
		o.RateLimitBackoffMax = max(DefaultRateLimitBackoffMax, o.RateLimitBackoff)
	}
	if o.RejectedRetry <= 0 {
		o.RejectedRetry = DefaultRejectedRetry
	}
	if o.CredentialsRetry <= 0 {
		o.CredentialsRetry = DefaultCredentialsRetry
	}
	if o.DriftCorrectionInterval <= 0 {
		o.DriftCorrectionInterval = DefaultDriftCorrection
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 2
	}
	if o.NoIMMessage == "" {
		o.NoIMMessage = "no IM credentials configured"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxDestroysPerHour <= 0 {
		o.MaxDestroysPerHour = destroybudget.DefaultMaxPerWindow
	}
	if o.DestroyWindow <= 0 {
		o.DestroyWindow = destroybudget.DefaultWindow
	}
	if o.Apps == nil {
		o.Apps = apps.New()
		if !o.NoDefaultApp {
			o.Apps.Set(apps.App{Name: apps.DefaultName, Client: o.IM, NoClient: o.NoIMMessage})
		}
	}
	if o.VerifyCredentials == nil {
		o.VerifyCredentials = verifyCredentials
	}
}

// Reconciler reconciles ChatGroups with IM groups.
type Reconciler struct {
	client    client.Client
	apiReader client.Reader
	objects   *objwrite.Writer
	rec       EventRecorder
	apps      *apps.Registry
	opts      Options
	holds     holds
	budget    *destroybudget.Budget
	// enqueue lets the resync hand drifted ChatGroups to the controller
	// even when the resync had nothing to write to their status.
	enqueue chan event.TypedGenericEvent[*imv1alpha1.ChatGroup]
	// appRefused tells the ChatApp controller that IM refused an app's
	// credentials in a call (nil without it: unit tests).
	appRefused func(context.Context, *apps.App, error)
}

// credentialsRefused passes IM's refusal of app's credentials, met by a
// ChatGroup's call or the resync, on to the app's ChatApp.
func (r *Reconciler) credentialsRefused(ctx context.Context, app *apps.App, err error) {
	if r.appRefused != nil && tim.IsCredentials(err) {
		r.appRefused(ctx, app, err)
	}
}

// Setup builds the reconciler and the resync, and adds both to mgr.
func Setup(mgr ctrl.Manager, opts Options) (*Reconciler, *Resyncer, error) {
	opts.defaults()
	rec := opts.Recorder
	if rec == nil {
		rec = mgr.GetEventRecorder("chatgroup-controller")
	}
	r := newReconciler(mgr.GetClient(), mgr.GetAPIReader(), rec, opts)
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &imv1alpha1.ChatGroup{}, groupIndex, indexGroup); err != nil {
		return nil, nil, fmt.Errorf("indexing ChatGroups by %s: %w", groupIndex, err)
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &imv1alpha1.ChatGroup{}, appIndex, indexApp); err != nil {
		return nil, nil, fmt.Errorf("indexing ChatGroups by %s: %w", appIndex, err)
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("chatgroup").
		// Status changes are watched on purpose: a callback that changes
		// status.notification is drift that Enforce must correct. The
		// reconcile that follows a message callback is cheap (see package doc).
		For(&imv1alpha1.ChatGroup{}).
		Watches(&imv1alpha1.ChatGroup{}, r.peerEvents()).
		WatchesRawSource(source.Channel(r.enqueue, &handler.TypedEnqueueRequestForObject[*imv1alpha1.ChatGroup]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.MaxConcurrentReconciles}).
		Complete(r)
	if err != nil {
		return nil, nil, err
	}
	if err := setupApps(mgr, r); err != nil {
		return nil, nil, err
	}
	// An app that appears, goes or changes requeues its ChatGroups (on the
	// leader, where they are reconciled).
	changed := make(chan string, 1)
	var pendingMu sync.Mutex
	pending := map[string]bool{}
	r.apps.Subscribe(func(name string) {
		pendingMu.Lock()
		pending[name] = true
		pendingMu.Unlock()
		select {
		case changed <- name:
		default: // a wake-up is already queued; it takes every pending name
		}
	})
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-changed:
			}
			pendingMu.Lock()
			names := pending
			pending = map[string]bool{}
			pendingMu.Unlock()
			for name := range names {
				r.requeueApp(ctx, name)
			}
		}
	})); err != nil {
		return nil, nil, err
	}
	rs := &Resyncer{r: r, log: mgr.GetLogger().WithName("resync")}
	if err := mgr.Add(rs); err != nil {
		return nil, nil, err
	}
	return r, rs, nil
}

// newReconciler builds a Reconciler on opts (defaults applied).
func newReconciler(c client.Client, apiReader client.Reader, rec EventRecorder, opts Options) *Reconciler {
	objects := opts.Objects
	if objects == nil {
		objects = objwrite.New(c, apiReader)
	}
	return &Reconciler{
		client:    c,
		apiReader: apiReader,
		objects:   objects,
		rec:       rec,
		apps:      opts.Apps,
		opts:      opts,
		holds:     holds{m: map[holdKey]hold{}, fixed: map[holdKey]time.Time{}},
		budget: destroybudget.New(c, apiReader, destroybudget.Config{
			Namespace: opts.BudgetNamespace, MaxPerWindow: opts.MaxDestroysPerHour,
			Window: opts.DestroyWindow, Now: opts.Now,
		}),
		enqueue: make(chan event.TypedGenericEvent[*imv1alpha1.ChatGroup], 1024),
	}
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cg := &imv1alpha1.ChatGroup{}
	if err := r.client.Get(ctx, req.NamespacedName, cg); err != nil {
		if apierrors.IsNotFound(err) {
			r.holds.drop(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cg.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, cg)
	}
	if err := r.ensureFinalizer(ctx, cg); err != nil {
		return ctrl.Result{}, err
	}
	return r.sync(ctx, cg)
}

// discovered reports a ChatGroup the receiver created for an undeclared group.
func discovered(cg *imv1alpha1.ChatGroup) bool {
	return cg.Labels[imv1alpha1.LabelDiscovered] == "true" && !enforced(cg)
}

// deleteDiscovered deletes a discovered ChatGroup that is not needed:
// discovery trusts a callback's group ID only until the first read, and a
// discovered ChatGroup steps aside once someone declares its group.
func (r *Reconciler) deleteDiscovered(ctx context.Context, cg *imv1alpha1.ChatGroup, why string) error {
	uid := cg.UID
	err := r.client.Delete(ctx, cg, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting a discovered ChatGroup (%s): %w", why, err)
	}
	ctrl.LoggerFrom(ctx).Info("deleted a discovered ChatGroup: "+why, "chatgroup", client.ObjectKeyFromObject(cg), "groupID", cg.Spec.GroupID)
	return nil
}

func enforced(cg *imv1alpha1.ChatGroup) bool {
	return cg.Spec.ManagementPolicy != imv1alpha1.ManagementPolicyObserve
}

// resyncRequested reports an annotation value the controller has not acted on.
func resyncRequested(cg *imv1alpha1.ChatGroup, m memo) (string, bool) {
	v, ok := cg.Annotations[imv1alpha1.AnnotationResyncRequestedAt]
	handled := cg.Status.LastHandledResyncRequest
	if m.matches(cg) && m.handled != "" {
		handled = m.handled
	}
	return v, ok && v != "" && v != handled
}

// needRead: the REST API is read at once for a ChatGroup never synced, after
// a spec change, or on a new resync request; otherwise callbacks and the
// resync keep status current.
func needRead(cg *imv1alpha1.ChatGroup, m memo) bool {
	_, requested := resyncRequested(cg, m)
	observed := cg.Status.ObservedGeneration
	if m.matches(cg) {
		observed = max(observed, m.generation)
	}
	return observed != cg.Generation || requested
}

// memo is what this process last wrote as handled for a ChatGroup. The
// cache can lag behind the controller's own status write: a reconcile queued
// meanwhile would see the old observedGeneration and read IM again, and
// replaying that older read could undo a change (a destroy) recorded since.
type memo struct {
	uid        types.UID
	generation int64
	handled    string
	// recountAt is when the group's members are to be read again (zero:
	// no recount pending), recounts how many reads in a row did not land
	// their count (see holds.recountLater).
	recountAt time.Time
	recounts  int
}

// recountDue reports a pending recount whose time has come.
func (m memo) recountDue(now time.Time) bool {
	return !m.recountAt.IsZero() && !now.Before(m.recountAt)
}

// recountWait is how long a pending recount still waits (0: none pending,
// or due now; a due one is read by the pass in progress).
func (m memo) recountWait(now time.Time) time.Duration {
	if m.recountAt.IsZero() {
		return 0
	}
	return max(0, m.recountAt.Sub(now))
}

func (m memo) matches(cg *imv1alpha1.ChatGroup) bool { return m.uid != "" && m.uid == cg.UID }

// stale reports a cached object older than this process's last write.
func (m memo) stale(cg *imv1alpha1.ChatGroup) bool {
	if !m.matches(cg) {
		return false
	}
	return m.generation > cg.Status.ObservedGeneration
}
