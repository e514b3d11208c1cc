package webhookserver

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Event reasons on a ChatGroup, emitted at flush time: at most one per kind
// per write, however many callbacks the write carries, and never one per
// message, so Event writes stay bounded by the status write rate.
const (
	ReasonInfoChanged       = "GroupInfoChanged"
	ReasonAttributesChanged = "AttributesChanged"
	ReasonOwnerChanged      = "OwnerChanged"
	ReasonDestroyed         = imv1alpha1.ReasonGroupDestroyed
)

type eventSink struct {
	rec events.EventRecorder // nil: no Events (unit tests)
}

var eventReasons = [numEventKinds]struct{ reason, kind string }{
	eventInfo:       {ReasonInfoChanged, corev1.EventTypeNormal},
	eventAttributes: {ReasonAttributesChanged, corev1.EventTypeNormal},
	eventOwner:      {ReasonOwnerChanged, corev1.EventTypeNormal},
	eventDestroyed:  {ReasonDestroyed, corev1.EventTypeWarning},
}

// emit records one Event per kind that the write changed, describing the
// latest callback of that kind (who, from which platform).
//
// The Event regards the ChatGroup by kind, namespace, name and UID, without
// its resourceVersion. The recorder (client-go tools/events) folds Events
// with the same regarding reference, type and reason into one series: the
// first is created, the second turns it into a series, later ones only
// count until the series is refreshed (every 30 minutes) or ends (after 6
// idle minutes). The resourceVersion changes with every status write, so a
// reference carrying it made every Event unique: one API create per flush
// and kind, on top of the status writes and outside their cap (measured
// with make bench: up to one Event create per status write), and one
// recorder cache entry per Event instead of per ChatGroup and reason.
func (s eventSink) emit(obj *imv1alpha1.ChatGroup, u *update, changed [numEventKinds]bool) {
	if s.rec == nil {
		return
	}
	ref := &imv1alpha1.ChatGroup{
		TypeMeta:   obj.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: obj.Name, UID: obj.UID},
	}
	for k, ok := range changed {
		n := u.notes[k]
		if !ok || n == nil {
			continue
		}
		r := eventReasons[k]
		s.rec.Eventf(ref, nil, r.kind, r.reason, "Callback", "%s", n.message())
	}
}
