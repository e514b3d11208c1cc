package controllers

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/event"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// A ChatGroup's call refused by IM marks its ChatApp refused only when it
// used the credentials and client the ChatApp was last checked with, and
// wakes the ChatApp once; a refusal met with a key the Secret no longer
// holds, or by the default app, changes nothing.
func TestOnlyARefusalOfTheCheckedCredentialsReachesTheChatApp(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	checked, other := &tim.Client{}, &tim.Client{}
	ar := &appReconciler{
		opts:     Options{Now: func() time.Time { return now }, CredentialsRetry: time.Minute},
		verified: map[string]verification{"app": {fingerprint: "f", version: "v2", client: checked, checked: now.Add(-time.Hour)}},
		wake:     make(chan event.TypedGenericEvent[*imv1alpha1.ChatApp], 4),
	}
	refusal := errors.New("ErrorCode 70003: UserSig invalid")
	ctx := context.Background()

	for _, app := range []apps.App{
		{Name: "app", CredentialsVersion: "v1", Client: checked}, // the key before a rotation
		{Name: "app", CredentialsVersion: "v2", Client: other},   // another endpoint or admin
		{Name: apps.DefaultName, CredentialsVersion: "v2", Client: checked},
		{Name: "unchecked", CredentialsVersion: "v2", Client: checked},
	} {
		ar.refusedByIM(ctx, &app, refusal)
	}
	if v := ar.verified["app"]; v.refused != "" || len(ar.wake) != 0 {
		t.Fatalf("a refusal of other credentials counted: %+v, %d wake-ups", v, len(ar.wake))
	}

	app := apps.App{Name: "app", CredentialsVersion: "v2", Client: checked}
	ar.refusedByIM(ctx, &app, refusal)
	ar.refusedByIM(ctx, &app, refusal) // a second ChatGroup of the app
	v := ar.verified["app"]
	if v.refused != refusal.Error() || !v.checked.Equal(now) {
		t.Fatalf("the refusal was not recorded: %+v", v)
	}
	if len(ar.wake) != 1 {
		t.Fatalf("want the ChatApp woken once, got %d", len(ar.wake))
	}
	if got := (<-ar.wake).Object.Name; got != "app" {
		t.Fatalf("woke %q", got)
	}
}

// A refusal, however learned, is asked again CredentialsRetry after it was
// met, and not before; an accepted check is not repeated.
func TestARefusalIsCheckedAgainAfterCredentialsRetry(t *testing.T) {
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	now := start
	calls := 0
	accept := false
	ar := &appReconciler{
		opts: Options{Now: func() time.Time { return now }, CredentialsRetry: time.Minute,
			VerifyCredentials: func(context.Context, IM) error {
				calls++
				if accept {
					return nil
				}
				return &tim.Error{Command: "get_group_info", Code: 70003, Info: "UserSig invalid"}
			}},
		verified: map[string]verification{},
	}
	l := loaded{app: apps.App{Name: "app", CredentialsVersion: "v1", Client: &tim.Client{}}, fingerprint: "f"}
	ctx := context.Background()
	check := func(wantStatus metav1.ConditionStatus, wantRecheck time.Duration, wantCalls int) {
		t.Helper()
		c, recheck, err := ar.verify(ctx, "app", l)
		if err != nil || c.Status != wantStatus || recheck != wantRecheck || calls != wantCalls {
			t.Fatalf("at +%s: got %s/%s, recheck %s, %d calls, %v; want %s, recheck %s, %d calls",
				now.Sub(start), c.Status, c.Reason, recheck, calls, err, wantStatus, wantRecheck, wantCalls)
		}
	}
	check(metav1.ConditionFalse, time.Minute, 1)
	now = start.Add(20 * time.Second)
	check(metav1.ConditionFalse, 40*time.Second, 1) // no call before CredentialsRetry
	accept = true
	now = start.Add(time.Minute)
	check(metav1.ConditionTrue, 0, 2)
	now = start.Add(time.Hour)
	check(metav1.ConditionTrue, 0, 2) // accepted: not asked again
}

// A replica is not ready until every ChatApp in its cache is loaded, a
// broken one included (a duplicate, a missing Secret), so that a new pod
// does not answer an app's callbacks 403 while it loads; a ChatApp being
// deleted is not waited for, and once ready a ChatApp created later does
// not make the replica unready.
func TestReadyOnlyOnceTheChatAppsAtStartAreLoaded(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := imv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	gone := metav1.Now()
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: "shop-copy"}},
		&imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: "leaving", DeletionTimestamp: &gone, Finalizers: []string{"test"}}},
	).Build()
	reg := apps.New()
	ar := &appReconciler{client: c, reg: reg}
	req := httptest.NewRequest(http.MethodGet, "/readyz", nil)

	err := ar.loadedCheck(req)
	if err == nil || !strings.Contains(err.Error(), "shop, shop-copy") || strings.Contains(err.Error(), "leaving") {
		t.Fatalf("with nothing loaded: %v", err)
	}
	reg.Set(apps.App{Name: "shop", SDKAppID: 7})
	if err := ar.loadedCheck(req); err == nil || !strings.Contains(err.Error(), "1 ChatApps not loaded yet, among them shop-copy") {
		t.Fatalf("with shop loaded: %v", err)
	}
	// A duplicate SDKAppID is loaded too: it serves nothing, by design.
	reg.Set(apps.App{Name: "shop-copy", SDKAppID: 7, Since: time.Now(), NoClient: "no key"})
	if err := ar.loadedCheck(req); err != nil {
		t.Fatalf("with every ChatApp loaded: %v", err)
	}
	if err := c.Create(context.Background(), &imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: "later"}}); err != nil {
		t.Fatal(err)
	}
	if err := ar.loadedCheck(req); err != nil {
		t.Fatalf("a ChatApp created after the replica was ready made it unready: %v", err)
	}
}
