package webhookserver

import (
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// IM's own alarms arrive on the callback URL like group callbacks, but they
// concern the app, not a group: they carry no GroupId, are never routed to
// a ChatGroup, and are answered OK once counted, logged and raised as an
// Event. Bodies as documented (trtc.io/document/60256 and 57455):
//
//	{"CallbackCommand":"Alert.RequestOverLimit","ServiceName":"openim","Command":"batchsendmsg","Request":510,"Limit":200}
//	{"CallbackCommand":"Group.CallbackOnDailyGroupQuotaAlarm","QuotaUsed":7321,"Quota":10000,"EventTime":"1670574414123"}
const (
	// CmdAlertRequestOverLimit: a REST API's request rate passed 80% of its
	// limit (Request is the rate, Limit the limit, both per second).
	CmdAlertRequestOverLimit = "Alert.RequestOverLimit"
	// CmdDailyGroupQuotaAlarm: the day's net new groups (created minus
	// destroyed) passed 70% of the app's daily limit.
	CmdDailyGroupQuotaAlarm = "Group.CallbackOnDailyGroupQuotaAlarm"
)

// Kinds of alarm, the "kind" label of chatgroup_im_alarms_total.
const (
	AlarmKindRequestOverLimit = "request_over_limit"
	AlarmKindDailyGroupQuota  = "daily_group_quota"
)

// Event reasons of the alarms, on the manager's own Pod.
const (
	ReasonIMRequestOverLimit = "IMRequestOverLimit"
	ReasonIMDailyGroupQuota  = "IMDailyGroupQuotaAlarm"
)

// resultAlarm is the callbacks_total result of an alarm that was recorded.
const resultAlarm = "alarm"

// dailyQuotaAPI is the api label of the daily group quota alarm: the API
// whose calls it limits.
const dailyQuotaAPI = "group_open_http_svc/create_group"

// maxAlarmAPIs bounds the api label: the names come from the request, and a
// caller that passed the Sign check could still invent unbounded names.
const maxAlarmAPIs = 64

var (
	alarmsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "chatgroup_im_alarms_total",
		Help: "Alarm callbacks from IM by app, kind (request_over_limit, daily_group_quota) and api (<ServiceName>/<Command>; other past 64 names).",
	}, []string{"app", "kind", "api"})

	dailyQuotaRatio = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "chatgroup_im_daily_group_quota_ratio",
		Help: "QuotaUsed/Quota of the latest daily group quota alarm from IM (IM sends it past 0.7); 0 until one arrives.",
	}, []string{"app"})
)

func init() {
	metrics.Registry.MustRegister(alarmsTotal, dailyQuotaRatio)
	// Present from the start, so that increase() sees the first alarm.
	alarmsTotal.WithLabelValues(apps.DefaultName, AlarmKindDailyGroupQuota, dailyQuotaAPI)
	dailyQuotaRatio.WithLabelValues(apps.DefaultName)
}

// RequestOverLimit is the body of Alert.RequestOverLimit.
type RequestOverLimit struct {
	CallbackCommand string `json:"CallbackCommand"`
	ServiceName     string `json:"ServiceName"`
	Command         string `json:"Command"`
	Request         int64  `json:"Request"`
	Limit           int64  `json:"Limit"`
}

// DailyGroupQuotaAlarm is the body of Group.CallbackOnDailyGroupQuotaAlarm.
type DailyGroupQuotaAlarm struct {
	CallbackCommand string    `json:"CallbackCommand"`
	QuotaUsed       int64     `json:"QuotaUsed"`
	Quota           int64     `json:"Quota"`
	EventTime       EventTime `json:"EventTime"`
}

// isAlarm reports whether cmd is one of IM's alarm callbacks.
func isAlarm(cmd string) bool {
	return cmd == CmdAlertRequestOverLimit || cmd == CmdDailyGroupQuotaAlarm
}

// maxAlarmCount bounds Request, Limit, QuotaUsed and Quota: far above any
// real limit, low enough that a ratio stays meaningful.
const maxAlarmCount = int64(1) << 40

// DecodeAlarm parses and validates an alarm body for command.
func DecodeAlarm(command string, body []byte) (any, error) {
	switch command {
	case CmdAlertRequestOverLimit:
		var a RequestOverLimit
		if err := unmarshal(body, &a); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", command, err)
		}
		if a.CallbackCommand != command {
			return nil, errors.New("CallbackCommand of query and body differ")
		}
		if !apiName(a.ServiceName) || !apiName(a.Command) {
			return nil, errors.New("ServiceName and Command must be 1 to 64 letters, digits, '_', '.' or '-'")
		}
		if a.Request < 0 || a.Request > maxAlarmCount || a.Limit < 0 || a.Limit > maxAlarmCount {
			return nil, fmt.Errorf("the alarm's Request %d or Limit %d is outside 0..%d", a.Request, a.Limit, maxAlarmCount)
		}
		return &a, nil
	case CmdDailyGroupQuotaAlarm:
		var a DailyGroupQuotaAlarm
		if err := unmarshal(body, &a); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", command, err)
		}
		if a.CallbackCommand != command {
			return nil, errors.New("CallbackCommand of query and body differ")
		}
		if a.QuotaUsed < 0 || a.QuotaUsed > maxAlarmCount || a.Quota < 1 || a.Quota > maxAlarmCount {
			return nil, fmt.Errorf("QuotaUsed %d must be in 0..%d and Quota %d in 1..%d", a.QuotaUsed, maxAlarmCount, a.Quota, maxAlarmCount)
		}
		if a.EventTime < 0 || int64(a.EventTime) > maxEventTime {
			return nil, fmt.Errorf("EventTime %d is not a Unix time in milliseconds", a.EventTime)
		}
		return &a, nil
	}
	return nil, errUnknownCommand
}

func apiName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			return false
		}
	}
	return true
}

// alarmSink records alarms: a metric always, a log line always, and a
// Warning Event on the manager's own Pod when the Pod is known.
//
// Why the Pod: an alarm concerns the whole app, so no ChatGroup is the
// right object, and a namespace-less object cannot carry a namespaced Event.
// The Pod that received the alarm is where `kubectl describe pod` and
// Event-based tooling of the release's namespace look, and its reference
// comes from the downward API (the chart sets POD_NAME, POD_NAMESPACE,
// POD_UID), so the manager needs no RBAC to read it. Outside a pod there is
// no such object: the log line and the metric remain.
type alarmSink struct {
	rec       events.EventRecorder // nil: no Events
	regarding *corev1.ObjectReference
	log       logr.Logger

	mu   sync.Mutex
	apis map[string]bool
}

func newAlarmSink(rec events.EventRecorder, regarding *corev1.ObjectReference, log logr.Logger) *alarmSink {
	if regarding == nil {
		rec = nil
	}
	return &alarmSink{rec: rec, regarding: regarding, log: log, apis: map[string]bool{}}
}

// apiLabel returns api, or "other" once maxAlarmAPIs names are in use.
func (s *alarmSink) apiLabel(api string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.apis[api] || api == dailyQuotaAPI {
		return api
	}
	if len(s.apis) >= maxAlarmAPIs {
		return "other"
	}
	s.apis[api] = true
	return api
}

// alarm handles an authenticated alarm callback and returns the answer.
func (h *handler) alarm(app, command string, body []byte) (int, string, string) {
	v, err := DecodeAlarm(command, body)
	if err != nil {
		return http.StatusBadRequest, resultBadRequest, err.Error()
	}
	if h.alarms != nil { // nil in handlers built by unit tests
		h.alarms.record(app, v)
	}
	return http.StatusOK, resultAlarm, ""
}

// record counts and reports an alarm of app (its name: the label's values
// are the served apps').
func (s *alarmSink) record(app string, v any) {
	switch a := v.(type) {
	case *RequestOverLimit:
		api := a.ServiceName + "/" + a.Command
		alarmsTotal.WithLabelValues(app, AlarmKindRequestOverLimit, s.apiLabel(api)).Inc()
		s.log.Info("WARNING: IM alarm: a REST API is near its request rate limit; slow down or ask Tencent for a higher limit",
			"alarm", CmdAlertRequestOverLimit, "api", api, "requestsPerSecond", a.Request, "limitPerSecond", a.Limit)
		s.event(ReasonIMRequestOverLimit, "IM reports %s of app %s at %d requests/s against a limit of %d/s (alarm past 80%%)", api, app, a.Request, a.Limit)
	case *DailyGroupQuotaAlarm:
		alarmsTotal.WithLabelValues(app, AlarmKindDailyGroupQuota, dailyQuotaAPI).Inc()
		dailyQuotaRatio.WithLabelValues(app).Set(float64(a.QuotaUsed) / float64(a.Quota))
		s.log.Info("WARNING: IM alarm: today's net new groups are near the app's daily limit; further creates will fail",
			"alarm", CmdDailyGroupQuotaAlarm, "quotaUsed", a.QuotaUsed, "quota", a.Quota)
		s.event(ReasonIMDailyGroupQuota, "IM reports %d of %d new groups of app %s used today (alarm past 70%%)", a.QuotaUsed, a.Quota, app)
	}
}

func (s *alarmSink) event(reason, format string, args ...any) {
	if s.rec == nil {
		return
	}
	s.rec.Eventf(s.regarding, nil, corev1.EventTypeWarning, reason, "IMAlarm", format, args...)
}
