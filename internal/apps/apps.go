// Package apps is the operator's registry of the IM apps it serves: the
// default app its flags define and one per ChatApp. The callback receiver
// selects an app by a callback's SdkAppid and checks the Sign against that
// app's tokens; the controller picks a ChatGroup's REST client and checks
// that the ChatGroup's namespace may use the app. Both ask this registry, so
// they cannot disagree about which app a ChatGroup or callback belongs to.
//
// Apps are values, replaced whole (copy on write): a rotated token or key
// is a new App under the same name, and a reader holding the old one
// finishes with it.
package apps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"sort"
	"sync"
	"time"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// DefaultName is the default app's name (metrics, the destroy budget).
const DefaultName = imv1alpha1.DefaultAppName

// REST is the part of the IM REST client the controller uses; *tim.Client
// implements it, tests wrap it.
type REST interface {
	GetGroupInfoFiltered(ctx context.Context, ids []string, filter *tim.ResponseFilter) ([]tim.GroupInfoResult, error)
	GetGroupAttr(ctx context.Context, groupID string) (map[string]string, error)
	CreateGroup(ctx context.Context, req tim.CreateGroupRequest) (string, error)
	ModifyGroupBaseInfo(ctx context.Context, req tim.ModifyGroupBaseInfoRequest) error
	ModifyGroupAttr(ctx context.Context, groupID string, attrs map[string]string) error
	DeleteGroupAttr(ctx context.Context, groupID string, keys []string) error
	DestroyGroup(ctx context.Context, groupID string) error
}

// App is one IM app as the operator serves it.
type App struct {
	// Name is DefaultName or the ChatApp's name.
	Name     string
	SDKAppID uint64
	// Since orders apps that share an SDKAppID: the earlier one serves it,
	// the later one is a duplicate. The default app has the zero time.
	Since time.Time
	// Tokens are the callback tokens accepted (current, then previous).
	// None: the app's callbacks are refused, unless SkipAuth.
	Tokens []string
	// SkipAuth accepts the app's callbacks unsigned
	// (--insecure-skip-callback-auth, for the default app only).
	SkipAuth bool
	// AllowedNamespaces may use the app; empty: every namespace.
	AllowedNamespaces []string
	// DiscoveryNamespace receives ChatGroups for undeclared groups; empty:
	// discovery is off.
	DiscoveryNamespace string
	// Client makes the app's REST calls; nil when there is no secret key,
	// and NoClient says why.
	Client   REST
	NoClient string
	// CredentialsVersion changes whenever the secret key does (a hash
	// prefix, never the key): a client rotated in place is the same
	// pointer, and ChatGroups that IM refused with the old key must learn
	// that retrying is worth it now.
	CredentialsVersion string
	// ResyncInterval is how often the app's groups are read back; 0 means
	// the controller's default.
	ResyncInterval time.Duration
}

// NoClientReason says why the app has no REST client.
func (a *App) NoClientReason() string {
	if a.NoClient == "" {
		return "no IM credentials configured for app " + a.Name
	}
	return a.NoClient
}

// Allows reports whether ChatGroups in namespace ns may use the app.
func (a *App) Allows(ns string) bool {
	return len(a.AllowedNamespaces) == 0 || slices.Contains(a.AllowedNamespaces, ns)
}

// Default reports the app the flags define.
func (a *App) Default() bool { return a.Name == DefaultName }

// Ref is the name a ChatGroup's appRef must carry to use a: empty for the
// default app.
func (a *App) Ref() string {
	if a.Default() {
		return ""
	}
	return a.Name
}

// NameOf is the app a ChatGroup belongs to: its appRef, or the default app.
func NameOf(cg *imv1alpha1.ChatGroup) string {
	if cg.Spec.AppRef != nil {
		return NameOfRef(cg.Spec.AppRef.Name)
	}
	return DefaultName
}

// NameOfRef is the app an appRef's name names; empty is the default app.
func NameOfRef(ref string) string {
	if ref == "" {
		return DefaultName
	}
	return ref
}

// Registry holds the apps. It is safe for concurrent use; lookups take a
// read lock only (one per callback).
type Registry struct {
	mu     sync.RWMutex
	byName map[string]*App
	// byID holds, per SDKAppID, the app that serves it (the earliest).
	byID map[uint64]*App
	// subscribers are told the name of every app set or deleted.
	subscribers []func(name string)
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{byName: map[string]*App{}, byID: map[uint64]*App{}}
}

// Subscribe calls fn (outside the lock) with the name of every app set or
// deleted from now on: ChatGroups of that app need another look.
func (r *Registry) Subscribe(fn func(name string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subscribers = append(r.subscribers, fn)
}

// Set adds or replaces the app named app.Name. Subscribers hear of it only
// when something changed: the ChatApp controller sets an app on every
// reconcile.
func (r *Registry) Set(app App) {
	a := app
	a.Tokens = slices.Clone(app.Tokens)
	a.AllowedNamespaces = slices.Clone(app.AllowedNamespaces)
	r.mu.Lock()
	old, had := r.byName[a.Name]
	if had && same(old, &a) {
		r.mu.Unlock()
		return
	}
	r.byName[a.Name] = &a
	r.rebuild()
	names := r.sharing(a.Name, a.SDKAppID)
	if had {
		names = append(names, r.sharing(a.Name, old.SDKAppID)...)
	}
	subs := r.subscribers
	r.mu.Unlock()
	notify(subs, a.Name, names)
}

// Delete removes the app named name.
func (r *Registry) Delete(name string) {
	r.mu.Lock()
	old, ok := r.byName[name]
	if !ok {
		r.mu.Unlock()
		return
	}
	delete(r.byName, name)
	r.rebuild()
	names := r.sharing(name, old.SDKAppID)
	subs := r.subscribers
	r.mu.Unlock()
	notify(subs, name, names)
}

// sharing returns the other apps with SDKAppID id: whether they serve it
// may change with name's. Callers hold mu.
func (r *Registry) sharing(name string, id uint64) []string {
	var out []string
	for n, a := range r.byName {
		if n != name && a.SDKAppID == id {
			out = append(out, n)
		}
	}
	return out
}

func notify(subs []func(string), name string, others []string) {
	for _, fn := range subs {
		fn(name)
		for _, o := range others {
			fn(o)
		}
	}
}

// same reports two apps that serve alike.
func same(a, b *App) bool {
	return a.Name == b.Name && a.SDKAppID == b.SDKAppID && a.Since.Equal(b.Since) && a.SkipAuth == b.SkipAuth &&
		slices.Equal(a.Tokens, b.Tokens) && slices.Equal(a.AllowedNamespaces, b.AllowedNamespaces) &&
		a.DiscoveryNamespace == b.DiscoveryNamespace && a.Client == b.Client && a.NoClient == b.NoClient &&
		a.CredentialsVersion == b.CredentialsVersion && a.ResyncInterval == b.ResyncInterval
}

// rebuild recomputes which app serves each SDKAppID. Callers hold mu.
func (r *Registry) rebuild() {
	byID := make(map[uint64]*App, len(r.byName))
	for _, a := range r.byName {
		if cur, ok := byID[a.SDKAppID]; !ok || first(a, cur) {
			byID[a.SDKAppID] = a
		}
	}
	r.byID = byID
}

// first orders two apps with one SDKAppID: the default app, then the
// earlier, then the name.
func first(a, b *App) bool {
	if a.Default() != b.Default() {
		return a.Default()
	}
	if !a.Since.Equal(b.Since) {
		return a.Since.Before(b.Since)
	}
	return a.Name < b.Name
}

// BySDKAppID returns the app that serves id (never a duplicate).
func (r *Registry) BySDKAppID(id uint64) (*App, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.byID[id]
	return a, ok
}

// Lookup returns the app named name if it serves its SDKAppID; a
// duplicate is reported through dup with the name of the app that does.
func (r *Registry) Lookup(name string) (app *App, dupOf string, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, found := r.byName[name]
	if !found {
		return nil, "", false
	}
	if w := r.byID[a.SDKAppID]; w != a {
		return nil, w.Name, false
	}
	return a, "", true
}

// Has reports whether an app named name was set, whether it serves its
// SDKAppID or is a duplicate: the ChatApp of that name has been loaded.
func (r *Registry) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.byName[name]
	return ok
}

// Serving returns the apps that serve their SDKAppID, by name.
func (r *Registry) Serving() []*App {
	r.mu.RLock()
	out := make([]*App, 0, len(r.byID))
	for _, a := range r.byID {
		out = append(out, a)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CredentialsVersion returns the CredentialsVersion of secret key: enough
// of its hash to tell two keys apart, too little to matter if logged.
func CredentialsVersion(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}
