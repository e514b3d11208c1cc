package webhookserver

import (
	"context"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupname"
)

// DiscoveryName is the ChatGroup name for an undeclared group of the
// default app. The rule lives in internal/groupname so that `kubectl
// chatgroup import` names a group exactly as discovery does.
func DiscoveryName(groupID string) string { return groupname.For(groupID) }

// targets returns the ChatGroups that claim groupID in app, from the
// routing table, leaving out those in namespaces the app does not allow
// (their owners may not use the app, so its callbacks are not theirs to
// see). With the app's discovery on and none claiming it, it returns the
// deterministic name in the discovery namespace and a Discover: the
// writer creates that ChatGroup before its first status write, so no API
// request is made while IM waits for the answer (it gives up after 2 s).
//
// Discovery is bounded: at most DiscoveryMaxGroups ChatGroups in the
// namespace, and DiscoveryPerMinute new ones per app (a callback for a
// group whose discovery is already pending takes no new token). Past
// either, the callback is answered like one for an unclaimed group, and
// counted.
func (h *handler) targets(app *apps.App, groupID string) (keys []types.NamespacedName, discover *Discover) {
	keys = h.routes.lookup(app.Name, groupID)
	if len(app.AllowedNamespaces) > 0 && len(keys) > 0 {
		allowed := make([]types.NamespacedName, 0, len(keys))
		for _, k := range keys {
			if app.Allows(k.Namespace) {
				allowed = append(allowed, k)
			}
		}
		if len(allowed) == 0 {
			return nil, nil // declared, but not by anyone allowed: never discovered either
		}
		keys = allowed
	}
	ns := app.DiscoveryNamespace
	if len(keys) > 0 || ns == "" || app.SkipAuth {
		// An unsigned callback must not create objects.
		return keys, nil
	}
	d := &Discover{AppRef: app.Ref()}
	key := types.NamespacedName{Namespace: ns, Name: groupname.ForApp(d.AppRef, groupID)}
	if h.writer.isPending(key) {
		return []types.NamespacedName{key}, d
	}
	h.admittedMu.Lock()
	defer h.admittedMu.Unlock()
	if _, ok := h.admitted[key]; ok {
		return []types.NamespacedName{key}, d
	}
	if h.routes.countIn(ns)+h.unroutedIn(ns) >= h.opts.DiscoveryMaxGroups {
		discoveryRefused.WithLabelValues(app.Name, "max_groups").Inc()
		return nil, nil
	}
	if !h.discoveries.allow(app.Name) {
		discoveryRefused.WithLabelValues(app.Name, "rate").Inc()
		return nil, nil
	}
	if h.admitted == nil {
		h.admitted = map[types.NamespacedName]admission{}
	}
	h.admitted[key] = admission{app: app.Name, groupID: groupID, at: h.now()}
	return []types.NamespacedName{key}, d
}

// discoveryPace paces discoveries per app, DiscoveryPerMinute each with a
// burst of a tenth of that: an app whose users open groups fast cannot use
// up another app's discoveries. It keeps one limiter per app that had a
// discovery, so as many as the apps served (and those deleted since,
// a few bytes each).
type discoveryPace struct {
	perMinute float64
	byApp     map[string]*rate.Limiter
}

func newDiscoveryPace(perMinute float64) *discoveryPace {
	return &discoveryPace{perMinute: perMinute, byApp: map[string]*rate.Limiter{}}
}

// allow takes a discovery from app's pace (h.admittedMu held).
func (p *discoveryPace) allow(app string) bool {
	l, ok := p.byApp[app]
	if !ok {
		l = rate.NewLimiter(rate.Limit(p.perMinute/60), max(1, int(p.perMinute/6)))
		p.byApp[app] = l
	}
	return l.Allow()
}

// admission is a discovery let in by targets whose ChatGroup the routing
// table does not hold yet: until the writer has created it and the
// informer has delivered it, it counts against DiscoveryMaxGroups here, or
// a burst of callbacks for new groups would all pass the cap before the
// first ChatGroup exists.
type admission struct {
	app, groupID string
	at           time.Time
}

// admissionTTL is how long an admission that is neither pending nor routed
// keeps counting (its creation was dropped, or the informer lags).
const admissionTTL = time.Minute

// unroutedIn counts the admissions in ns that the routing table does not
// hold yet, forgetting those it now holds and those that expired
// (h.admittedMu held).
func (h *handler) unroutedIn(ns string) int {
	n := 0
	now := h.now()
	for key, a := range h.admitted {
		switch {
		case len(h.routes.lookup(a.app, a.groupID)) > 0:
			delete(h.admitted, key)
		case now.Sub(a.at) > admissionTTL && !h.writer.isPending(key):
			delete(h.admitted, key)
		case key.Namespace == ns:
			n++
		}
	}
	return n
}

// Discover asks the writer to create a pending update's ChatGroup when it
// does not exist, in the app AppRef names (empty: the default app).
type Discover struct{ AppRef string }

// discover creates the ChatGroup for an undeclared group (Observe: the
// operator never writes to a group it only discovered). Racing replicas
// derive the same name, so the loser gets AlreadyExists and uses the
// winner's object.
func (w *Writer) discover(ctx context.Context, key types.NamespacedName, u *update, obj *imv1alpha1.ChatGroup) error {
	cg := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{imv1alpha1.LabelDiscovered: "true"}},
		Spec: imv1alpha1.ChatGroupSpec{
			AppRef:           appRef(u.discover.AppRef),
			GroupID:          u.status.GroupID(),
			Type:             u.status.Type(),
			ManagementPolicy: imv1alpha1.ManagementPolicyObserve,
		},
	}
	if err := w.waitToken(ctx); err != nil {
		return err
	}
	err := w.client.Create(ctx, cg)
	if err == nil {
		w.log.Info("discovered an undeclared group", "groupID", u.status.GroupID(), "chatgroup", key)
		*obj = *cg
		return nil
	}
	if apierrors.IsAlreadyExists(err) {
		return w.apiReader.Get(ctx, key, obj)
	}
	return err
}

func appRef(name string) *imv1alpha1.AppReference {
	if name == "" {
		return nil
	}
	return &imv1alpha1.AppReference{Name: name}
}
