package webhookserver

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// Many callbacks make one lastCallbackTime write per flush, with the
// latest time; the default app (no ChatApp) and a quiet interval make none.
func TestAppCallbacksWriteAtMostOncePerFlush(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := imv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	writes := 0
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: "prod"}}).
		WithStatusSubresource(&imv1alpha1.ChatApp{}).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			writes++
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		}}).Build()
	a := newAppCallbacks(c)
	prod := &apps.App{Name: "prod"}
	base := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for i := range 100 {
		a.mark(prod, base.Add(time.Duration(i)*time.Second))
	}
	a.mark(&apps.App{Name: apps.DefaultName}, base)
	ctx := context.Background()
	a.flush(ctx)
	a.flush(ctx) // nothing new
	if writes != 1 {
		t.Fatalf("%d status writes, want 1", writes)
	}
	got := &imv1alpha1.ChatApp{}
	if err := c.Get(ctx, client.ObjectKey{Name: "prod"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.LastCallbackTime == nil || !got.Status.LastCallbackTime.Time.Equal(base.Add(99*time.Second)) {
		t.Fatalf("lastCallbackTime %v, want %v", got.Status.LastCallbackTime, base.Add(99*time.Second))
	}
}
