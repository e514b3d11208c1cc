package webhookserver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
)

const seedGroupID = "@TGS#2J4SZEAEL"

// FuzzDecodeMerge drives the whole request path (checks, decode, lookup,
// merge) with arbitrary commands and bodies, against an in-memory client.
// It must never panic, a refused or ignored request must leave the pending
// state exactly as it was, and an accepted one must keep the invariants:
// lastMessageSeq never decreases, memberCount never goes negative, and
// applying the same update twice changes nothing the second time (but
// for member joins and exits, which are counted deltas); and REST reads
// interleaved after it always land (readsLandAfter).
func FuzzDecodeMerge(f *testing.F) {
	for _, cmd := range seedCommands {
		body, _, err := seedSample(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cmd, body)
	}
	for _, cmd := range allCommands {
		body, err := goldenBody(cmd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cmd, body)
	}
	f.Add(CmdAfterSendMsg, []byte(`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#2J4SZEAEL","MsgSeq":-1}`))
	f.Add(CmdAfterGroupAttrChanged, []byte(`{"CallbackCommand":"Group.CallbackAfterGroupAttrChanged","GroupId":"@TGS#2J4SZEAEL","OptionType":"delete","GroupAttr":[{"key":"x"}],"EventTime":1}`))
	f.Add("Group.CallbackBeforeSendMsg", []byte(`{"CallbackCommand":"Group.CallbackBeforeSendMsg"}`))
	f.Add(CmdAfterSendMsg, []byte(`{"CallbackCommand":"Group.CallbackAfterSendMsg","GroupId":"@TGS#2J4SZEAEL","MsgSeq":1,"EventTime":"x"}`))

	scheme, err := testenv.Scheme()
	if err != nil {
		f.Fatal(err)
	}
	key := types.NamespacedName{Namespace: "fuzz", Name: "g"}
	c := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
			Spec:       imv1alpha1.ChatGroupSpec{GroupID: seedGroupID},
		}).Build()
	now := time.Unix(1670574414, 0)
	rt := newRoutes()
	rt.add(groupKey{app: apps.DefaultName, id: seedGroupID}, key)

	f.Fuzz(func(t *testing.T, cmd string, body []byte) {
		w := NewWriter(c, c, nil, eventSink{}, 1, 1, 10, logr.Discard())
		// inflight as Setup makes it: without a slot every request is
		// answered 503 before it is decoded, and the fuzzing tests nothing.
		h := &handler{opts: servingOptions(Options{SDKAppID: 1, InsecureSkipAuth: true}), routes: rt, writer: w, inflight: make(chan struct{}, 1),
			log: logr.Discard(), now: func() time.Time { return now }}
		// A baseline, so that a refused request has state it could damage.
		base := &AfterGroupAttrChanged{Common: Common{GroupID: seedGroupID, EventTime: 5}, OptionType: AttrSet,
			GroupAttr: []GroupAttr{{Key: "k", Value: "v"}}}
		if err := w.Merge([]types.NamespacedName{key}, base, 5, "", nil); err != nil {
			t.Fatal(err)
		}
		if err := w.Merge([]types.NamespacedName{key}, msg(50, 5, "base"), 5, "", nil); err != nil {
			t.Fatal(err)
		}
		u := w.entries[key].next
		before := imv1alpha1.ChatGroupStatus{}
		u.apply(&before)
		callbacks := u.callbacks

		q := url.Values{"SdkAppid": {"1"}, "CallbackCommand": {cmd}}
		req := httptest.NewRequest(http.MethodPost, "/callback?"+q.Encode(), bytes.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		after := imv1alpha1.ChatGroupStatus{}
		u.apply(&after)
		if rec.Code == http.StatusServiceUnavailable {
			t.Fatalf("answered 503 with nothing else in flight: %s", rec.Body)
		}
		if u.callbacks == callbacks {
			if !reflect.DeepEqual(before, after) || w.Pending() != 1 {
				t.Fatalf("a request that was not accepted (HTTP %d) changed pending state", rec.Code)
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("accepted but answered HTTP %d", rec.Code)
		}
		// (memberCount is a sum of deltas and may dip below zero while an
		// exit waits for its join: see groupstatus.Update.Apply.)
		if after.LastMessageSeq < before.LastMessageSeq {
			t.Fatalf("invariant broken: %+v", after)
		}
		again := *after.DeepCopy()
		u.apply(&again)
		// Joins and exits are deltas: applying them twice counts them
		// twice by design (a redelivered join is not recognizable); the
		// resync corrects memberCount.
		again.MemberCount = after.MemberCount
		if !reflect.DeepEqual(after, again) {
			t.Fatalf("applying the same update twice changed status:\n%+v\n%+v", after, again)
		}
		readsLandAfter(t, after, now)
	})
}

// readsLandAfter interleaves REST reads with what a callback left in
// status: whatever the callback carried, a read is the truth as of its
// time, so two reads later than anything a callback may claim leave
// exactly the second read's values. No input can pin a field.
func readsLandAfter(t *testing.T, st imv1alpha1.ChatGroupStatus, now time.Time) {
	t.Helper()
	read := func(at time.Time, tag string, members int64) {
		groupstatus.ApplyRead(&st, groupstatus.Read{
			At: at, Exists: true, GroupID: seedGroupID, Type: "Public",
			Name: "name " + tag, Introduction: "intro " + tag, Notification: "notice " + tag,
			FaceURL: "https://example.com/" + tag, Owner: "owner-" + tag, MemberCount: members,
			Attrs: map[string]string{"read": tag}, AttrsRead: true,
		}, groupstatus.ExistenceOf(&st))
	}
	read(now.Add(10*time.Minute), "1", 3)
	read(now.Add(20*time.Minute), "2", 4)
	if st.Name != "name 2" || st.Introduction != "intro 2" || st.Notification != "notice 2" ||
		st.FaceURL != "https://example.com/2" || st.Owner != "owner-2" || st.MemberCount != 4 || st.Destroyed ||
		!reflect.DeepEqual(st.Attributes, map[string]string{"read": "2"}) {
		t.Fatalf("a read later than any callback did not land: %+v", st)
	}
}
