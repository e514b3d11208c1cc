package webhookserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
	"github.com/chatgroup-operator/chatgroup-operator/internal/callbacksign"
)

func sendMsg(seq int64, from string) map[string]any {
	return map[string]any{"MsgSeq": seq, "MsgTime": 1_700_000_000 + seq, "From_Account": from}
}

// appOfResult is the app label a result is counted under: requests refused
// before authentication belong to no app.
func appOfResult(result string) string {
	switch result {
	case resultMethod, resultForbidden, resultUnauth:
		return appUnknown
	}
	return apps.DefaultName
}

func counterValue(cmd, result string) float64 {
	var m dto.Metric
	Expect(callbacksTotal.WithLabelValues(appOfResult(result), cmd, result).Write(&m)).To(Succeed())
	return m.GetCounter().GetValue()
}

var _ = Describe("documented callbacks", func() {
	It("record the documented status fields when posted with the documented query string", func() {
		ns := newNamespace()
		key := newChatGroup(ns, "seeds", seedGroupID)
		waitCached(seedGroupID, 1, shared)

		expect := map[string]func(g Gomega, st imv1alpha1.ChatGroupStatus){
			CmdAfterCreateGroup: func(g Gomega, st imv1alpha1.ChatGroupStatus) {
				g.Expect(st.GroupID).To(Equal(seedGroupID))
				g.Expect(st.Type).To(Equal(imv1alpha1.GroupTypePublic))
				g.Expect(st.Owner).To(Equal("leckie"))
				g.Expect(st.Name).To(Equal("MyFirstGroup"))
				g.Expect(st.MemberCount).To(BeEquivalentTo(3)) // leckie, bob, peter
				g.Expect(st.AppDefinedData).To(Equal(map[string]string{"UserDefined1": "hello", "UserDefined2": "world"}))
			},
			CmdAfterGroupInfoChanged: func(g Gomega, st imv1alpha1.ChatGroupStatus) {
				g.Expect(st.Notification).To(Equal("NewNotification"))
				g.Expect(st.Name).To(Equal("MyFirstGroup"), "absent fields stay")
			},
			CmdAfterGroupAttrChanged: func(g Gomega, st imv1alpha1.ChatGroupStatus) {
				g.Expect(st.Attributes).To(Equal(map[string]string{"key1": "value1", "key2": "values"}))
				g.Expect(st.EventTimes.Attributes).To(BeEquivalentTo(1670574414123))
			},
			CmdAfterSendMsg: func(g Gomega, st imv1alpha1.ChatGroupStatus) {
				g.Expect(st.LastMessageSeq).To(BeEquivalentTo(123))
				g.Expect(st.LastMessageFrom).To(Equal("jared"))
				g.Expect(st.LastMessageTime).NotTo(BeNil())
				g.Expect(st.LastMessageTime.UTC()).To(Equal(time.Date(2017, 3, 28, 7, 30, 22, 0, time.UTC)))
			},
		}
		for _, cmd := range seedCommands {
			body, rawQuery, err := seedSample(cmd)
			Expect(err).NotTo(HaveOccurred())
			rawQuery = strings.NewReplacer("$SDKAppID", fmt.Sprint(testAppID), "$CallbackCommand", cmd,
				"$ClientIP", "127.0.0.1", "$OptPlatform", "RESTAPI").Replace(rawQuery)
			q, err := url.ParseQuery(rawQuery)
			Expect(err).NotTo(HaveOccurred())
			sign(q, time.Now())
			code, env := shared.post(http.MethodPost, q, body)
			Expect(code).To(Equal(http.StatusOK), "%s: %+v", cmd, env)
			Expect(env).To(Equal(envelope{ActionStatus: "OK"}))
			Eventually(func(g Gomega) {
				st := getStatus(key)
				expect[cmd](g, st)
				g.Expect(st.LastCallbackTime).NotTo(BeNil())
			}, 10*time.Second, 20*time.Millisecond).Should(Succeed(), cmd)
		}
		// Every earlier seed's fields survive the later ones.
		st := getStatus(key)
		for _, cmd := range seedCommands {
			expect[cmd](Default, st)
		}
	})
})

var _ = Describe("request checks", Ordered, func() {
	const groupID = "@TGS#CHECKS"
	var key types.NamespacedName
	var rv string
	valid := func() []byte {
		return mustJSON(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": 1000, "From_Account": "x"})
	}

	BeforeAll(func() {
		key = newChatGroup(newNamespace(), "checks", groupID)
		waitCached(groupID, 1, shared)
		shared.send(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": 1, "From_Account": "base"})
		Eventually(func() int64 { return getStatus(key).LastMessageSeq }, 10*time.Second).Should(BeEquivalentTo(1))
		settle(shared)
		rv = resourceVersion(key)()
	})

	DescribeTable("refused or ignored requests change no status",
		func(method string, mutate func(q url.Values), body func() []byte, wantCode int, wantStatus string) {
			q := query(CmdAfterSendMsg)
			if mutate != nil {
				mutate(q)
			}
			code, env := shared.post(method, q, body())
			Expect(code).To(Equal(wantCode), "%+v", env)
			Expect(env.ActionStatus).To(Equal(wantStatus))
			if wantStatus == "FAIL" {
				Expect(env.ErrorCode).NotTo(BeZero())
				Expect(env.ErrorInfo).NotTo(BeEmpty())
				Expect(env.ErrorInfo).NotTo(ContainSubstring(testToken))
			} else {
				Expect(env.ErrorCode).To(BeZero())
			}
			Consistently(resourceVersion(key), 300*time.Millisecond, 50*time.Millisecond).Should(Equal(rv))
			Expect(getStatus(key).LastMessageSeq).To(BeEquivalentTo(1))
		},
		Entry("not POST (GET)", http.MethodGet, nil, valid, 405, "FAIL"),
		Entry("not POST (PUT)", http.MethodPut, nil, valid, 405, "FAIL"),
		Entry("body of 1 MiB + 1 byte", http.MethodPost, nil, func() []byte { return pad(valid(), MaxBodyBytes+1) }, 413, "FAIL"),
		Entry("SdkAppid missing", http.MethodPost, func(q url.Values) { q.Del("SdkAppid") }, valid, 403, "FAIL"),
		Entry("SdkAppid of another app", http.MethodPost, func(q url.Values) { q.Set("SdkAppid", "1400000002") }, valid, 403, "FAIL"),
		Entry("Sign missing", http.MethodPost, func(q url.Values) { q.Del("Sign") }, valid, 401, "FAIL"),
		Entry("RequestTime missing", http.MethodPost, func(q url.Values) { q.Del("RequestTime") }, valid, 401, "FAIL"),
		Entry("Sign wrong", http.MethodPost, func(q url.Values) {
			q.Set("Sign", strings.Repeat("0", 64))
		}, valid, 401, "FAIL"),
		Entry("Sign made with another token", http.MethodPost, func(q url.Values) {
			q.Set("Sign", callbacksign.Sign("other-token", q.Get("RequestTime")))
		}, valid, 401, "FAIL"),
		Entry("RequestTime stale (correctly signed)", http.MethodPost, func(q url.Values) { sign(q, time.Now().Add(-2*time.Minute)) }, valid, 401, "FAIL"),
		Entry("RequestTime in the future", http.MethodPost, func(q url.Values) { sign(q, time.Now().Add(2*time.Minute)) }, valid, 401, "FAIL"),
		Entry("body not JSON", http.MethodPost, nil, func() []byte { return []byte(`{"CallbackCommand": "Group.CallbackAfterSendMsg",`) }, 400, "FAIL"),
		Entry("query and body commands differ", http.MethodPost, nil, func() []byte {
			return mustJSON(CmdAfterGroupInfoChanged, map[string]any{"GroupId": groupID, "Name": "x"})
		}, 400, "FAIL"),
		Entry("query command missing", http.MethodPost, func(q url.Values) { q.Del("CallbackCommand") }, valid, 400, "FAIL"),
		Entry("negative MsgSeq", http.MethodPost, nil, func() []byte {
			return mustJSON(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": -5})
		}, 400, "FAIL"),
		Entry("absurd MsgSeq", http.MethodPost, nil, func() []byte {
			return mustJSON(CmdAfterSendMsg, map[string]any{"GroupId": groupID, "MsgSeq": int64(1) << 60})
		}, 400, "FAIL"),
		Entry("GroupId missing", http.MethodPost, nil, func() []byte {
			return mustJSON(CmdAfterSendMsg, map[string]any{"MsgSeq": 2000})
		}, 400, "FAIL"),
		Entry("unknown OptionType", http.MethodPost, func(q url.Values) { q.Set("CallbackCommand", CmdAfterGroupAttrChanged); sign(q, time.Now()) }, func() []byte {
			return mustJSON(CmdAfterGroupAttrChanged, map[string]any{"GroupId": groupID, "OptionType": "merge", "GroupAttr": []GroupAttr{{"a", "b"}}})
		}, 400, "FAIL"),
		Entry("unknown command: OK, counted", http.MethodPost, func(q url.Values) { q.Set("CallbackCommand", "Group.CallbackAfterRecallMsg") }, func() []byte {
			return mustJSON("Group.CallbackAfterRecallMsg", map[string]any{"GroupId": groupID, "MsgSeqList": []any{map[string]any{"MsgSeq": 1}}})
		}, 200, "OK"),
		Entry("before-callback: allowed", http.MethodPost, func(q url.Values) { q.Set("CallbackCommand", "Group.CallbackBeforeSendMsg") }, func() []byte {
			return mustJSON("Group.CallbackBeforeSendMsg", map[string]any{"GroupId": groupID, "From_Account": "x"})
		}, 200, "OK"),
		Entry("a group no ChatGroup claims", http.MethodPost, nil, func() []byte {
			return mustJSON(CmdAfterSendMsg, map[string]any{"GroupId": "@TGS#NOBODY", "MsgSeq": 5000})
		}, 200, "OK"),
	)

	It("counts ignored and unclaimed callbacks in metrics", func() {
		ignored, unclaimed := counterValue("other", resultIgnored), counterValue(CmdAfterSendMsg, resultUnclaimed)
		q := query("Group.CallbackAfterRecallMsg")
		code, _ := shared.post(http.MethodPost, q, mustJSON("Group.CallbackAfterRecallMsg", map[string]any{"GroupId": groupID}))
		Expect(code).To(Equal(200))
		shared.send(CmdAfterSendMsg, map[string]any{"GroupId": "@TGS#NOBODY", "MsgSeq": 1})
		Expect(counterValue("other", resultIgnored)).To(Equal(ignored + 1))
		Expect(counterValue(CmdAfterSendMsg, resultUnclaimed)).To(Equal(unclaimed + 1))
	})

	It("accepts a body of exactly 1 MiB", func() {
		code, env := shared.post(http.MethodPost, query(CmdAfterSendMsg), pad(valid(), MaxBodyBytes))
		Expect(code).To(Equal(http.StatusOK), "%+v", env)
		Eventually(func() int64 { return getStatus(key).LastMessageSeq }, 10*time.Second).Should(BeEquivalentTo(1000))
	})
})

// pad fills a JSON object with spaces before its closing brace up to n bytes.
func pad(body []byte, n int) []byte {
	out := make([]byte, 0, n)
	out = append(out, body[:len(body)-1]...)
	for len(out) < n-1 {
		out = append(out, ' ')
	}
	return append(out, '}')
}

var _ = Describe("ordering", func() {
	It("keeps the largest message seq with its time and sender, whatever the order", func() {
		const groupID = "@TGS#ORDERMSG"
		key := newChatGroup(newNamespace(), "order", groupID)
		waitCached(groupID, 1, shared)
		for _, seq := range []int64{5, 3, 9, 7} {
			body := sendMsg(seq, fmt.Sprintf("user%d", seq))
			body["GroupId"] = groupID
			shared.send(CmdAfterSendMsg, body)
			settle(shared) // each one flushed on its own: order across writes
		}
		st := getStatus(key)
		Expect(st.LastMessageSeq).To(BeEquivalentTo(9))
		Expect(st.LastMessageFrom).To(Equal("user9"))
		Expect(st.LastMessageTime.Unix()).To(BeEquivalentTo(1_700_000_009))
	})

	It("applies set, modify, delete and clear in IM's EventTime order, whatever the arrival order", func() {
		const groupID = "@TGS#ORDERATTR"
		key := newChatGroup(newNamespace(), "attrs", groupID)
		waitCached(groupID, 1, shared)
		op := func(kind string, at int64, kv ...string) {
			var attrs []GroupAttr
			for i := 0; i < len(kv); i += 2 {
				attrs = append(attrs, GroupAttr{Key: kv[i], Value: kv[i+1]})
			}
			shared.send(CmdAfterGroupAttrChanged, map[string]any{"GroupId": groupID, "OptionType": kind,
				"GroupAttr": attrs, "EventTime": fmt.Sprint(at), "Operator_Account": "op"})
			settle(shared)
		}
		attrsNow := func() map[string]string { return getStatus(key).Attributes }

		op(AttrSet, 1000, "a", "1", "b", "2")
		Expect(attrsNow()).To(Equal(map[string]string{"a": "1", "b": "2"}))
		op(AttrModify, 2000, "b", "3", "c", "4")
		Expect(attrsNow()).To(Equal(map[string]string{"a": "1", "b": "3", "c": "4"}))
		op(AttrDelete, 3000, "a", "")
		Expect(attrsNow()).To(Equal(map[string]string{"b": "3", "c": "4"}))

		rv := resourceVersion(key)()
		op(AttrModify, 1500, "b", "stale") // b was modified at 2000
		op(AttrModify, 2500, "a", "stale") // a was deleted at 3000
		op(AttrSet, 900, "s", "stale")     // the map was set at 1000
		Expect(attrsNow()).To(Equal(map[string]string{"b": "3", "c": "4"}))
		Expect(resourceVersion(key)()).To(Equal(rv), "a stale operation must not even cost a write")

		// A late operation on another key takes its place in IM's order:
		// set(1000) modify z(1500) modify b,c(2000) delete a(3000).
		op(AttrModify, 1500, "z", "late")
		Expect(attrsNow()).To(Equal(map[string]string{"b": "3", "c": "4", "z": "late"}))
		// A late clear wipes what came before it, not what came after.
		op(AttrModify, 3500, "d", "after")
		op(AttrClear, 2999)
		Expect(attrsNow()).To(Equal(map[string]string{"d": "after"}))

		op(AttrClear, 4000)
		Expect(attrsNow()).To(BeEmpty())
		op(AttrSet, 5000, "x", "1")
		Expect(attrsNow()).To(Equal(map[string]string{"x": "1"}))
		Expect(getStatus(key).EventTimes.Attributes).To(BeEquivalentTo(5000))

		// Several operations coalesced in one pending update obey the same rules.
		for _, o := range []struct {
			kind string
			at   int64
			kv   []string
		}{{AttrModify, 6000, []string{"y", "2"}}, {AttrDelete, 5500, []string{"x", ""}}, {AttrDelete, 7000, []string{"x", ""}}, {AttrModify, 8000, []string{"w", "3"}}} {
			var attrs []GroupAttr
			for j := 0; j < len(o.kv); j += 2 {
				attrs = append(attrs, GroupAttr{Key: o.kv[j], Value: o.kv[j+1]})
			}
			shared.send(CmdAfterGroupAttrChanged, map[string]any{"GroupId": groupID, "OptionType": o.kind, "GroupAttr": attrs, "EventTime": o.at})
		}
		settle(shared)
		Expect(attrsNow()).To(Equal(map[string]string{"y": "2", "w": "3"}))
	})

	It("records status on every ChatGroup that claims the group", func() {
		const groupID = "@TGS#MULTI"
		k1 := newChatGroup(newNamespace(), "one", groupID)
		k2 := newChatGroup(newNamespace(), "two", groupID)
		waitCached(groupID, 2, shared)
		shared.send(CmdAfterGroupInfoChanged, map[string]any{"GroupId": groupID, "Name": "Both", "EventTime": 10})
		for _, k := range []types.NamespacedName{k1, k2} {
			Eventually(func() string { return getStatus(k).Name }, 10*time.Second).Should(Equal("Both"))
		}
	})
})

var _ = Describe("events", func() {
	It("say who changed what from where, at most one per kind per flush, none for messages", func() {
		const groupID = "@TGS#EVENTS"
		ns := newNamespace()
		key := newChatGroup(ns, "events", groupID)
		waitCached(groupID, 1, shared)
		for i := int64(1); i <= 50; i++ {
			body := sendMsg(i, "chatty")
			body["GroupId"] = groupID
			shared.send(CmdAfterSendMsg, body)
		}
		shared.send(CmdAfterGroupInfoChanged, map[string]any{"GroupId": groupID, "Operator_Account": "alice", "Name": "N", "EventTime": 100})
		shared.send(CmdAfterGroupAttrChanged, map[string]any{"GroupId": groupID, "Operator_Account": "bob", "OptionType": "set",
			"GroupAttr": []GroupAttr{{"k", "v"}}, "EventTime": 100})
		shared.send(CmdAfterChangeGroupOwner, map[string]any{"GroupId": groupID, "Operator_Account": "carol",
			"OldOwner_Account": "alice", "NewOwner_Account": "dave", "EventTime": 100})
		shared.send(CmdAfterGroupDestroyed, map[string]any{"GroupId": groupID, "Owner_Account": "dave", "EventTime": 200})
		settle(shared)
		st := getStatus(key)
		Expect(st.Destroyed).To(BeTrue())
		Expect(st.Owner).To(Equal("dave"))

		want := map[string]string{ReasonInfoChanged: "alice", ReasonAttributesChanged: "bob", ReasonOwnerChanged: "carol", ReasonDestroyed: "dave"}
		Eventually(func(g Gomega) {
			var l eventsv1.EventList
			g.Expect(k8sClient.List(context.Background(), &l, client.InNamespace(ns))).To(Succeed())
			got := map[string]string{}
			for _, e := range l.Items {
				g.Expect(e.Regarding.Name).To(Equal(key.Name))
				g.Expect(want).To(HaveKey(e.Reason), "no Event other than the four kinds (none per message)")
				g.Expect(e.Note).To(ContainSubstring("RESTAPI"))
				got[e.Reason] = e.Note
			}
			g.Expect(got).To(HaveLen(len(want)))
			for reason, who := range want {
				g.Expect(got[reason]).To(ContainSubstring(who), reason)
			}
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
	})
})
