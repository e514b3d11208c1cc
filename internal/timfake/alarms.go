package timfake

import (
	"math"
	"time"
)

// IM's own alarm callbacks, sent to the callback URL like group callbacks
// (trtc.io/document/60256 and 57455). They concern the app, not a group.
const (
	// CmdAlertRequestOverLimit is sent when a REST API's request rate passes
	// 80% of its limit.
	CmdAlertRequestOverLimit = "Alert.RequestOverLimit"
	// CmdDailyGroupQuotaAlarm is sent after a group creation that takes the
	// day's net new groups (created minus destroyed) past 70% of the limit.
	CmdDailyGroupQuotaAlarm = "Group.CallbackOnDailyGroupQuotaAlarm"
)

// Thresholds of the alarms, as documented.
const (
	requestAlarmShare = 0.8
	quotaAlarmShare   = 0.7
)

// cbRequestOverLimit: ServiceName and Command are the REST path's two
// parts (the documented sample is "openim"/"batchsendmsg"); Request is the
// rate seen and Limit the limit, per second.
type cbRequestOverLimit struct {
	CallbackCommand string `json:"CallbackCommand"`
	ServiceName     string `json:"ServiceName"`
	Command         string `json:"Command"`
	Request         int64  `json:"Request"`
	Limit           int64  `json:"Limit"`
}

type cbDailyGroupQuotaAlarm struct {
	CallbackCommand string `json:"CallbackCommand"`
	QuotaUsed       int64  `json:"QuotaUsed"`
	Quota           int64  `json:"Quota"`
	EventTime       any    `json:"EventTime"`
}

// alarmState is guarded by Server.limMu (request rate) and Server.mu (daily
// group count), the locks of what each alarm measures.
type alarmState struct {
	// The request rate is counted per whole second of the fake's clock;
	// one alarm per second at most, like a rate sampled once per second.
	second   int64
	requests int64
	alarmed  bool

	// Net new groups of the current UTC day.
	day string
	net int64
}

// noteRequest counts one REST request toward the rate alarm. The fake's
// limit covers all commands together, so the rate is theirs together, and
// the alarm names the command whose request crossed the threshold.
func (s *Server) noteRequest(service, command string) {
	now := s.now()
	s.limMu.Lock()
	lim := s.lim
	a := &s.alarm
	if sec := now.Unix(); sec != a.second {
		a.second, a.requests, a.alarmed = sec, 0, false
	}
	a.requests++
	if lim == nil || a.alarmed {
		s.limMu.Unlock()
		return
	}
	limit := int64(math.Ceil(float64(lim.Limit())))
	over := float64(a.requests) > requestAlarmShare*float64(limit)
	requests := a.requests
	if over {
		a.alarmed = true
	}
	s.limMu.Unlock()
	if over {
		s.emitApp(cbRequestOverLimit{CallbackCommand: CmdAlertRequestOverLimit, ServiceName: service, Command: command, Request: requests, Limit: limit})
	}
}

// noteGroupsLocked adds delta to the day's net new groups and, after a
// creation past the threshold, sends the quota alarm. The caller holds s.mu.
func (s *Server) noteGroupsLocked(delta int64, now time.Time) {
	a := &s.alarm
	if day := now.UTC().Format(time.DateOnly); day != a.day {
		a.day, a.net = day, 0
	}
	a.net += delta
	if delta <= 0 || s.quota <= 0 || float64(a.net) <= quotaAlarmShare*float64(s.quota) {
		return
	}
	s.emitApp(cbDailyGroupQuotaAlarm{CallbackCommand: CmdDailyGroupQuotaAlarm, QuotaUsed: a.net, Quota: s.quota, EventTime: s.eventTime(now)})
}

// emitApp queues an app-wide callback; it has no group, so it always goes
// through the same worker (that of the empty group ID).
func (s *Server) emitApp(body callbackBody) {
	s.enqueueCallback(body, event{platform: "RESTAPI"})
}

func (b cbRequestOverLimit) command() string     { return b.CallbackCommand }
func (b cbDailyGroupQuotaAlarm) command() string { return b.CallbackCommand }
