package webhookserver

import (
	"context"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

var _ = Describe("IM's alarm callbacks", Ordered, func() {
	var (
		r   *receiver
		ns  string
		pod *corev1.ObjectReference
	)

	BeforeAll(func() {
		ns = newNamespace()
		pod = &corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: "manager-0", UID: "6f1c7a9e-0000-4000-8000-000000000001"}
		r = startReceiver(Options{Token: testToken, AlarmRegarding: pod})
		DeferCleanup(r.stop)
	})

	warnings := func(reason string) func() []eventsv1.Event {
		return func() []eventsv1.Event {
			var list eventsv1.EventList
			Expect(k8sClient.List(context.Background(), &list, client.InNamespace(ns))).To(Succeed())
			var out []eventsv1.Event
			for _, e := range list.Items {
				if e.Reason == reason {
					out = append(out, e)
				}
			}
			return out
		}
	}

	It("counts Alert.RequestOverLimit by API, answers OK and raises a Warning Event on the manager's Pod", func() {
		api := "openim/batchsendmsg"
		before := testutil.ToFloat64(alarmsTotal.WithLabelValues("default", AlarmKindRequestOverLimit, api))
		accepted := testutil.ToFloat64(callbacksTotal.WithLabelValues(apps.DefaultName, CmdAlertRequestOverLimit, resultAlarm))
		// The documented sample, byte for byte.
		r.send(CmdAlertRequestOverLimit, []byte(`{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"batchsendmsg","Request":510,"Limit":200}`))
		Expect(testutil.ToFloat64(alarmsTotal.WithLabelValues("default", AlarmKindRequestOverLimit, api)) - before).To(Equal(1.0))
		Expect(testutil.ToFloat64(callbacksTotal.WithLabelValues(apps.DefaultName, CmdAlertRequestOverLimit, resultAlarm)) - accepted).To(Equal(1.0))

		Eventually(warnings(ReasonIMRequestOverLimit), 30*time.Second, 100*time.Millisecond).Should(HaveLen(1))
		e := warnings(ReasonIMRequestOverLimit)()[0]
		Expect(e.Type).To(Equal(corev1.EventTypeWarning))
		Expect(e.Regarding.Kind).To(Equal("Pod"))
		Expect(e.Regarding.Name).To(Equal(pod.Name))
		Expect(string(e.Regarding.UID)).To(Equal(string(pod.UID)))
		Expect(e.Note).To(ContainSubstring("openim/batchsendmsg of app default at 510 requests/s against a limit of 200/s"))
	})

	It("records the daily group quota alarm as a ratio, with EventTime as a string or a number", func() {
		before := testutil.ToFloat64(alarmsTotal.WithLabelValues("default", AlarmKindDailyGroupQuota, dailyQuotaAPI))
		r.send(CmdDailyGroupQuotaAlarm, []byte(`{"CallbackCommand":"Group.CallbackOnDailyGroupQuotaAlarm","QuotaUsed":7321,"Quota":10000,"EventTime":"1670574414123"}`))
		Expect(testutil.ToFloat64(dailyQuotaRatio.WithLabelValues("default"))).To(BeNumerically("~", 0.7321, 1e-9))
		r.send(CmdDailyGroupQuotaAlarm, []byte(`{"CallbackCommand":"Group.CallbackOnDailyGroupQuotaAlarm","QuotaUsed":9000,"Quota":10000,"EventTime":1670574414999}`))
		Expect(testutil.ToFloat64(dailyQuotaRatio.WithLabelValues("default"))).To(BeNumerically("~", 0.9, 1e-9))
		Expect(testutil.ToFloat64(alarmsTotal.WithLabelValues("default", AlarmKindDailyGroupQuota, dailyQuotaAPI)) - before).To(Equal(2.0))
		Eventually(warnings(ReasonIMDailyGroupQuota), 30*time.Second, 100*time.Millisecond).ShouldNot(BeEmpty())
	})

	DescribeTable("refuses a malformed alarm with 400 and counts nothing",
		func(cmd, body string) {
			before := testutil.ToFloat64(dailyQuotaRatio.WithLabelValues("default"))
			code, env := r.post(http.MethodPost, query(cmd), []byte(body))
			Expect(code).To(Equal(http.StatusBadRequest), "%+v", env)
			Expect(env.ActionStatus).To(Equal("FAIL"))
			Expect(testutil.ToFloat64(dailyQuotaRatio.WithLabelValues("default"))).To(Equal(before))
		},
		Entry("not JSON", CmdAlertRequestOverLimit, `{`),
		Entry("body names another command", CmdAlertRequestOverLimit, `{"CallbackCommand":"Group.CallbackOnDailyGroupQuotaAlarm","QuotaUsed":1,"Quota":2}`),
		Entry("an API name that is no name", CmdAlertRequestOverLimit, `{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"open im","Command":"x","Request":1,"Limit":2}`),
		Entry("a negative rate", CmdAlertRequestOverLimit, `{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"x","Request":-1,"Limit":2}`),
		Entry("a zero quota", CmdDailyGroupQuotaAlarm, `{"CallbackCommand":"Group.CallbackOnDailyGroupQuotaAlarm","QuotaUsed":1,"Quota":0}`),
		Entry("an EventTime in the far future", CmdDailyGroupQuotaAlarm, `{"CallbackCommand":"Group.CallbackOnDailyGroupQuotaAlarm","QuotaUsed":1,"Quota":2,"EventTime":99999999999999999}`),
	)

	It("checks the Sign of alarms like any callback", func() {
		before := testutil.ToFloat64(alarmsTotal.WithLabelValues("default", AlarmKindRequestOverLimit, "openim/forged"))
		last := testutil.ToFloat64(lastCallback)
		q := query(CmdAlertRequestOverLimit)
		q.Set("Sign", "0000")
		code, _ := r.post(http.MethodPost, q, []byte(`{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"forged","Request":1,"Limit":2}`))
		Expect(code).To(Equal(http.StatusUnauthorized))
		Expect(testutil.ToFloat64(alarmsTotal.WithLabelValues("default", AlarmKindRequestOverLimit, "openim/forged"))).To(Equal(before))
		Expect(testutil.ToFloat64(lastCallback)).To(Equal(last), "a refused request is not a callback from IM")

		r.send(CmdAlertRequestOverLimit, []byte(`{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"signed","Request":1,"Limit":2}`))
		Expect(testutil.ToFloat64(lastCallback)).To(BeNumerically(">", last), "an authenticated callback moves the last-callback time")
	})
})

var _ = Describe("the alarm api label", func() {
	It("is bounded: past the cap new names are counted as other", func() {
		s := newAlarmSink(nil, nil, GinkgoLogr)
		for i := range maxAlarmAPIs {
			Expect(s.apiLabel("svc/cmd" + string(rune('a'+i%26)) + string(rune('a'+i/26)))).NotTo(Equal("other"))
		}
		Expect(s.apiLabel("svc/one-too-many")).To(Equal("other"))
		Expect(s.apiLabel("svc/cmdaa")).To(Equal("svc/cmdaa"), "a name already in use keeps its label")
		Expect(s.apiLabel(dailyQuotaAPI)).To(Equal(dailyQuotaAPI))
	})
})
