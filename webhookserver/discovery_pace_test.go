package webhookserver

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// Discovery is paced per app: an app whose users open groups faster than
// --discovery-per-minute is held to it, and another app's new groups are
// still discovered (before, one pace served every app, so a busy app
// starved the others).
func TestDiscoveryIsPacedPerApp(t *testing.T) {
	opts := Options{DiscoveryMaxGroups: 1000, DiscoveryPerMinute: 6} // a burst of 1, then one per 10 s
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	h := &handler{opts: opts, routes: newRoutes(), now: func() time.Time { return now },
		writer: NewWriter(nil, nil, nil, eventSink{}, 1, 1, 100, logr.Discard())}
	h.discoveries = newDiscoveryPace(opts.DiscoveryPerMinute)
	busy := &apps.App{Name: "busy", DiscoveryNamespace: "found-busy"}
	quiet := &apps.App{Name: "quiet", DiscoveryNamespace: "found-quiet"}

	admitted := 0
	for i := range 10 {
		if _, d := h.targets(busy, fmt.Sprintf("@TGS#busy-%d", i)); d != nil {
			admitted++
		}
	}
	if admitted != 1 {
		t.Fatalf("the busy app had %d discoveries admitted at once, want its burst of 1", admitted)
	}
	if keys, d := h.targets(quiet, "@TGS#quiet-0"); d == nil || len(keys) != 1 || keys[0].Namespace != "found-quiet" {
		t.Fatalf("the quiet app's first new group was not discovered (keys %v): the busy app used up its pace", keys)
	}
	if _, d := h.targets(quiet, "@TGS#quiet-1"); d != nil {
		t.Fatal("the quiet app is paced too")
	}
}
