package controllers

// The ChatApp controller loads each ChatApp and its credentials Secret into
// the app registry (internal/apps) and reports whether IM accepts them.
//
// Secrets are read in the operator's own namespace only, through a Role:
// a ChatApp cannot point the operator at another team's Secret.
//
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatapps,verbs=get;list;watch
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatapps/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",namespace=chatgroup-operator-system,resources=secrets,verbs=get;list;watch

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timmetrics"
)

// verifyProbeGroup is the group the credentials check asks about. IM
// answers a get_group_info for a group that does not exist with a per-group
// error inside a successful answer, so the call proves the UserSig and the
// admin account without touching any real group.
const verifyProbeGroup = "@chatgroup-operator-credentials-check"

// verifyCredentials is the cheap REST call that tells whether IM accepts a
// ChatApp's credentials: one get_group_info, whatever it finds.
func verifyCredentials(ctx context.Context, c IM) error {
	_, err := c.GetGroupInfoFiltered(ctx, []string{verifyProbeGroup}, infoFilter(nil))
	return err
}

// appReconciler loads ChatApps into the registry. It runs on every replica,
// since every replica's receiver routes callbacks by the registry; only
// the leader calls IM to verify credentials and writes ChatApp status.
type appReconciler struct {
	client  client.Client
	reg     *apps.Registry
	opts    Options
	elected <-chan struct{}

	mu sync.Mutex
	// clients are the apps' REST clients, kept across reconciles so that a
	// rotated key keeps the rate limiter and connections (SetSecretKey).
	clients map[string]appClient
	// verified is, per app, the fingerprint of the credentials last checked
	// with IM and the result: a wrong key costs one call per change of the
	// Secret or spec (and one per CredentialsRetry while refused), not one
	// per reconcile.
	verified map[string]verification
	// wake enqueues a ChatApp: on election, and when a ChatGroup's call
	// finds its credentials refused.
	wake chan event.TypedGenericEvent[*imv1alpha1.ChatApp]
	// started is set once the ChatApps that existed at start are loaded
	// (see loadedCheck).
	started atomic.Bool
}

type appClient struct {
	where  clientTarget
	client *tim.Client
}

// clientTarget is where and how a client calls: a change rebuilds it, a
// new key alone does not.
type clientTarget struct {
	endpoint, admin string
	sdkAppID        uint64
	qps             float64
}

type verification struct {
	fingerprint string
	refused     string // IM's refusal, "" when it accepted
	// checked is when IM gave that answer: a refusal is asked again
	// CredentialsRetry later, since a key revoked or an app suspended in
	// the IM console can come back without any change here.
	checked time.Time
	// version and client are the credentials and the client the answer
	// is about: a ChatGroup's refusal counts only for the same ones.
	version string
	client  apps.REST
}

// setupApps adds the ChatApp controller and, on the leader, the pass that
// looks at every ChatApp once this replica leads (status is written by the
// leader only, so a new leader brings it up to date).
func setupApps(mgr ctrl.Manager, r *Reconciler) error {
	ar := &appReconciler{client: mgr.GetClient(), reg: r.apps, opts: r.opts, elected: mgr.Elected(),
		clients: map[string]appClient{}, verified: map[string]verification{},
		wake: make(chan event.TypedGenericEvent[*imv1alpha1.ChatApp])}
	r.appRefused = ar.refusedByIM
	b := ctrl.NewControllerManagedBy(mgr).
		Named("chatapp").
		For(&imv1alpha1.ChatApp{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// The groups count: a ChatGroup appearing or going.
		Watches(&imv1alpha1.ChatGroup{}, handler.EnqueueRequestsFromMapFunc(appOfChatGroup),
			builder.WithPredicates(predicate.Funcs{
				UpdateFunc: func(event.UpdateEvent) bool { return false },
			})).
		WatchesRawSource(source.Channel(ar.wake, &handler.TypedEnqueueRequestForObject[*imv1alpha1.ChatApp]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, NeedLeaderElection: ptr.To(false)})
	if r.opts.OperatorNamespace != "" {
		b = b.Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(ar.appsOfSecret),
			builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool {
				return o.GetNamespace() == r.opts.OperatorNamespace
			})))
	}
	if err := b.Complete(ar); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("chatapps", ar.loadedCheck); err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-mgr.Elected()
		var list imv1alpha1.ChatAppList
		if err := mgr.GetClient().List(ctx, &list); err != nil {
			return fmt.Errorf("listing ChatApps on election: %w", err)
		}
		for i := range list.Items {
			select {
			case ar.wake <- event.TypedGenericEvent[*imv1alpha1.ChatApp]{Object: &list.Items[i]}:
			case <-ctx.Done():
				return nil
			}
		}
		<-ctx.Done()
		return nil
	}))
}

// loadedCheck is the replica's readiness: it fails until every ChatApp in
// the cache is in the registry (loaded, however broken: a missing Secret
// or a refused key still loads, with its problem). Until then this
// replica's receiver would answer that app's callbacks 403, and IM does
// not retry them; a new pod in a rollout must not take the Service's
// traffic in that moment. Once passed it stays passed: a ChatApp created
// later must not take every replica, and every app's callbacks, off the
// Service while it loads.
func (a *appReconciler) loadedCheck(req *http.Request) error {
	if a.started.Load() {
		return nil
	}
	var list imv1alpha1.ChatAppList
	if err := a.client.List(req.Context(), &list); err != nil {
		return fmt.Errorf("listing ChatApps: %w", err)
	}
	var waiting []string
	for i := range list.Items {
		if ca := &list.Items[i]; ca.DeletionTimestamp.IsZero() && !a.reg.Has(ca.Name) {
			waiting = append(waiting, ca.Name)
		}
	}
	if len(waiting) > 0 {
		sort.Strings(waiting)
		return fmt.Errorf("%d ChatApps not loaded yet, among them %s", len(waiting), strings.Join(waiting[:min(len(waiting), 5)], ", "))
	}
	a.started.Store(true)
	return nil
}

func appOfChatGroup(_ context.Context, o client.Object) []reconcile.Request {
	cg, ok := o.(*imv1alpha1.ChatGroup)
	if !ok || apps.NameOf(cg) == apps.DefaultName {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: apps.NameOf(cg)}}}
}

// appsOfSecret maps a Secret to the ChatApps that name it.
func (a *appReconciler) appsOfSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list imv1alpha1.ChatAppList
	if err := a.client.List(ctx, &list); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing ChatApps for a changed Secret")
		return nil
	}
	var out []reconcile.Request
	for _, app := range list.Items {
		if app.Spec.CredentialsSecretRef.Name == o.GetName() {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: app.Name}})
		}
	}
	return out
}

func (a *appReconciler) leader() bool {
	select {
	case <-a.elected:
		return true
	default:
		return false
	}
}

// loaded is what a ChatApp and its Secret gave: the app as served, and the
// Ready condition before the credentials check.
type loaded struct {
	app apps.App
	// problem is the Ready False condition of an app that cannot work
	// fully; nil: the credentials are complete and can be checked.
	problem *metav1.Condition
	// fingerprint identifies the credentials and where they are sent.
	fingerprint string
}

// Reconcile implements reconcile.Reconciler for ChatApps.
func (a *appReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ca := &imv1alpha1.ChatApp{}
	if err := a.client.Get(ctx, req.NamespacedName, ca); err != nil {
		if apierrors.IsNotFound(err) {
			// Its ChatGroups report AppNotFound; nothing is destroyed.
			a.reg.Delete(req.Name)
			a.mu.Lock()
			delete(a.clients, req.Name)
			delete(a.verified, req.Name)
			a.mu.Unlock()
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ca.DeletionTimestamp.IsZero() {
		a.reg.Delete(ca.Name)
		return ctrl.Result{}, nil
	}
	l, err := a.load(ctx, ca)
	if err != nil {
		return ctrl.Result{}, err
	}
	a.reg.Set(l.app)
	if !a.leader() {
		return ctrl.Result{}, nil
	}
	ready := l.problem
	if _, dupOf, ok := a.reg.Lookup(ca.Name); !ok && dupOf != "" {
		c := cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonDuplicateApp,
			fmt.Sprintf("SDKAppID %d is already served by %s; this ChatApp gets no callbacks and no ChatGroup can use it", ca.Spec.SDKAppID, appLabel(dupOf)))
		ready = &c
	}
	var res ctrl.Result
	var retry error
	if ready == nil {
		c, recheck, err := a.verify(ctx, ca.Name, l)
		ready, res.RequeueAfter, retry = &c, recheck, err
	}
	if err := a.writeStatus(ctx, ca, *ready); err != nil {
		return ctrl.Result{}, err
	}
	if retry != nil {
		return ctrl.Result{}, retry
	}
	return res, nil
}

// appLabel names an app in a message.
func appLabel(name string) string {
	if name == apps.DefaultName {
		return "the operator's default app (--sdkappid)"
	}
	return "ChatApp " + name
}

// load reads the ChatApp's Secret and builds the app as served.
func (a *appReconciler) load(ctx context.Context, ca *imv1alpha1.ChatApp) (loaded, error) {
	s := &ca.Spec
	l := loaded{app: apps.App{
		Name: ca.Name, SDKAppID: uint64(max(s.SDKAppID, 0)), Since: ca.CreationTimestamp.Time,
		AllowedNamespaces: s.AllowedNamespaces, DiscoveryNamespace: s.Discovery.Namespace,
	}}
	if s.ResyncInterval != nil {
		l.app.ResyncInterval = s.ResyncInterval.Duration
	}
	fail := func(reason, msg string) (loaded, error) {
		c := cond(imv1alpha1.ConditionReady, false, reason, msg)
		l.problem = &c
		if l.app.NoClient == "" {
			l.app.NoClient = "ChatApp " + ca.Name + ": " + msg
		}
		return l, nil
	}
	ref := types.NamespacedName{Namespace: a.opts.OperatorNamespace, Name: s.CredentialsSecretRef.Name}
	if ref.Namespace == "" {
		return fail(imv1alpha1.ReasonSecretNotFound, "the operator does not know its own namespace (--operator-namespace), where credentials Secrets are read")
	}
	sec := &corev1.Secret{}
	if err := a.client.Get(ctx, ref, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return fail(imv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s not found in the operator's namespace", ref))
		}
		return l, fmt.Errorf("reading Secret %s: %w", ref, err)
	}
	key := tim.SecretKeyFrom(sec.Data[imv1alpha1.SecretKeySecretKey])
	for _, k := range []string{imv1alpha1.SecretKeyCallbackToken, imv1alpha1.SecretKeyPreviousCallbackToken} {
		if t := callbacksign.TokenFrom(sec.Data[k]); t != "" {
			l.app.Tokens = append(l.app.Tokens, t)
		}
	}
	var missing []string
	if key == "" {
		missing = append(missing, imv1alpha1.SecretKeySecretKey+" (REST calls)")
	}
	if callbacksign.TokenFrom(sec.Data[imv1alpha1.SecretKeyCallbackToken]) == "" {
		// A previous token alone is not enough: it is the one being retired.
		l.app.Tokens = nil
		missing = append(missing, imv1alpha1.SecretKeyCallbackToken+" (callbacks are refused)")
	}
	check := tim.ValidateEndpoint
	if a.opts.InsecureHTTP {
		check = tim.ValidateInsecureEndpoint
	}
	if err := check(s.Endpoint); err != nil {
		return fail(imv1alpha1.ReasonEndpointInvalid, fmt.Sprintf("spec.endpoint: %v", err))
	}
	if key != "" {
		c, err := a.clientFor(ca, key)
		if err != nil {
			return fail(imv1alpha1.ReasonSecretInvalid, fmt.Sprintf("Secret %s: %v", ref, err))
		}
		l.app.Client = c
		l.app.CredentialsVersion = apps.CredentialsVersion(key)
		l.fingerprint = strings.Join([]string{l.app.CredentialsVersion, s.Endpoint, s.AdminIdentifier, fmt.Sprint(s.SDKAppID)}, "\x00")
	} else {
		l.app.NoClient = fmt.Sprintf("ChatApp %s: Secret %s has no %s", ca.Name, ref, imv1alpha1.SecretKeySecretKey)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fail(imv1alpha1.ReasonSecretInvalid, fmt.Sprintf("Secret %s: missing or empty: %s", ref, strings.Join(missing, ", ")))
	}
	return l, nil
}

// clientFor returns the app's REST client for key: the one it has, with
// the key rotated in place, unless where or how it calls changed.
func (a *appReconciler) clientFor(ca *imv1alpha1.ChatApp, key string) (*tim.Client, error) {
	cfg := tim.Config{
		Endpoint: ca.Spec.Endpoint, SDKAppID: uint64(max(ca.Spec.SDKAppID, 0)), AdminIdentifier: ca.Spec.AdminIdentifier,
		QPS: float64(ca.Spec.QPS), InsecureHTTP: a.opts.InsecureHTTP, Observer: timmetrics.Observer{App: ca.Name},
	}
	where := clientTarget{endpoint: cfg.Endpoint, admin: cfg.AdminIdentifier, sdkAppID: cfg.SDKAppID, qps: cfg.QPS}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.clients[ca.Name]; ok && cur.where == where {
		return cur.client, cur.client.SetSecretKey(key)
	}
	cfg.SecretKey = key
	c, err := tim.New(cfg)
	if err != nil {
		return nil, err
	}
	a.clients[ca.Name] = appClient{where: where, client: c}
	return c, nil
}

// verify checks the credentials with IM once per fingerprint. A transient
// failure (network, rate limit) is returned for a retry with backoff; a
// refusal, the check's own or one a ChatGroup's call met (refusedByIM), is
// asked again when the Secret or spec changes and every CredentialsRetry
// (recheck: the wait until then).
func (a *appReconciler) verify(ctx context.Context, name string, l loaded) (c metav1.Condition, recheck time.Duration, err error) {
	now := a.opts.Now()
	a.mu.Lock()
	v, ok := a.verified[name]
	a.mu.Unlock()
	if !ok || v.fingerprint != l.fingerprint || (v.refused != "" && now.Sub(v.checked) >= a.opts.CredentialsRetry) {
		vctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := a.opts.VerifyCredentials(vctx, l.app.Client)
		cancel()
		if err != nil && !tim.IsCredentials(err) {
			c := cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonReconcileError,
				"checking the credentials with IM failed; retrying: "+err.Error())
			return c, 0, err
		}
		v = verification{fingerprint: l.fingerprint, checked: now, version: l.app.CredentialsVersion, client: l.app.Client}
		if err != nil {
			v.refused = err.Error()
		}
		a.mu.Lock()
		a.verified[name] = v
		a.mu.Unlock()
	}
	if v.refused != "" {
		return cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonCredentialsInvalid,
			fmt.Sprintf("IM refused the credentials (fix the Secret's secretKey or spec.adminIdentifier, or the app in the IM console; checked again when either changes and every %s): %s",
				a.opts.CredentialsRetry, v.refused)), v.checked.Add(a.opts.CredentialsRetry).Sub(now), nil
	}
	return cond(imv1alpha1.ConditionReady, true, imv1alpha1.ReasonAvailable, "the credentials are loaded and IM accepts them"), 0, nil
}

// refusedByIM takes IM's refusal of app's credentials in a ChatGroup's
// call. The check above ran when the credentials were loaded; a key
// revoked or an app suspended in the IM console later changes nothing
// here, and without this the ChatApp would stay Ready while every one of
// its ChatGroups reports CredentialsInvalid. A refusal of credentials or a
// client other than the ones last checked (the Secret changed meanwhile)
// counts for nothing: the check of the new ones decides.
func (a *appReconciler) refusedByIM(ctx context.Context, app *apps.App, err error) {
	if app.Name == apps.DefaultName || app.Client == nil {
		return // the default app has no ChatApp to report on
	}
	a.mu.Lock()
	v, ok := a.verified[app.Name]
	news := ok && v.refused == "" && v.version == app.CredentialsVersion && v.client == app.Client
	if news {
		v.refused, v.checked = err.Error(), a.opts.Now()
		a.verified[app.Name] = v
	}
	a.mu.Unlock()
	if !news {
		return // already reported, or about other credentials
	}
	select {
	case a.wake <- event.TypedGenericEvent[*imv1alpha1.ChatApp]{Object: &imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: app.Name}}}:
	case <-ctx.Done():
	}
}

// writeStatus writes the ChatApp's status when it differs.
func (a *appReconciler) writeStatus(ctx context.Context, ca *imv1alpha1.ChatApp, ready metav1.Condition) error {
	var list imv1alpha1.ChatGroupList
	if err := a.client.List(ctx, &list, client.MatchingFields{appIndex: ca.Name}); err != nil {
		return fmt.Errorf("counting the ChatGroups of ChatApp %s: %w", ca.Name, err)
	}
	next := ca.DeepCopy()
	next.Status.ObservedGeneration = ca.Generation
	next.Status.Groups = int32(min(len(list.Items), 1<<31-1))
	ready.ObservedGeneration = ca.Generation
	meta.SetStatusCondition(&next.Status.Conditions, ready)
	// SetStatusCondition keeps LastTransitionTime when the status stays,
	// so an unchanged status compares equal and costs no write.
	if equality.Semantic.DeepEqual(ca.Status, next.Status) {
		return nil
	}
	if err := a.client.Status().Patch(ctx, next, client.MergeFrom(ca)); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}
