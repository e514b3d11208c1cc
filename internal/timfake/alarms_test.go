package timfake_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

func alarms(t *testing.T, e *env, rcv *receiver, command string) []map[string]any {
	t.Helper()
	flush(t, e.fake)
	var out []map[string]any
	for _, r := range rcv.all() {
		if r.query.Get("CallbackCommand") != command {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("alarm body %s: %v", r.body, err)
		}
		if m["CallbackCommand"] != command {
			t.Errorf("body command %v, query %s", m["CallbackCommand"], command)
		}
		if r.query.Has("ClientIP") {
			t.Errorf("an alarm from IM itself names no ClientIP: %s", r.rawQuery)
		}
		if r.query.Get("SdkAppid") != "1400000000" || r.query.Get("contenttype") != "json" {
			t.Errorf("query %s", r.rawQuery)
		}
		if _, ok := m["GroupId"]; ok {
			t.Errorf("an app alarm carries no GroupId: %s", r.body)
		}
		out = append(out, m)
	}
	return out
}

func TestRequestOverLimitAlarmPast80Percent(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.QPS = 5; o.CallbackURL = rcv.url() })
	for range 4 { // 4 of 5: at 80%, not past it
		mustOK(t, e.group(t, "get_appid_group_list", `{}`))
	}
	if got := alarms(t, e, rcv, timfake.CmdAlertRequestOverLimit); len(got) != 0 {
		t.Fatalf("alarm at 80%%: %v", got)
	}
	mustOK(t, e.group(t, "get_appid_group_list", `{}`))
	wantCode(t, e.group(t, "get_appid_group_list", `{}`), timfake.CodeRESTOverLimit)
	got := alarms(t, e, rcv, timfake.CmdAlertRequestOverLimit)
	if len(got) != 1 {
		t.Fatalf("%d alarms in one second, want 1: %v", len(got), got)
	}
	want := map[string]any{"CallbackCommand": timfake.CmdAlertRequestOverLimit, "ServiceName": "group_open_http_svc",
		"Command": "get_appid_group_list", "Request": float64(5), "Limit": float64(5)}
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Errorf("alarm %v, want %v", got[0], want)
	}

	rcv.reset()
	e.clock.Advance(time.Second)
	mustOK(t, e.group(t, "get_appid_group_list", `{}`))
	if got := alarms(t, e, rcv, timfake.CmdAlertRequestOverLimit); len(got) != 0 {
		t.Fatalf("alarm in a quiet second: %v", got)
	}
}

func TestNoRequestAlarmWithoutALimit(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.CallbackURL = rcv.url() })
	for range 50 {
		mustOK(t, e.group(t, "get_appid_group_list", `{}`))
	}
	if got := alarms(t, e, rcv, timfake.CmdAlertRequestOverLimit); len(got) != 0 {
		t.Fatalf("alarm without a limit: %v", got)
	}
}

func TestDailyGroupQuotaAlarmPast70Percent(t *testing.T) {
	rcv := newReceiver(t)
	e := newEnv(t, func(o *timfake.Options) { o.DailyGroupQuota = 10; o.CallbackURL = rcv.url() })
	create := func(i int) {
		mustOK(t, e.group(t, "create_group", fmt.Sprintf(`{"Type":"Public","Name":"g%d","GroupId":"quota-%d"}`, i, i)))
	}
	for i := range 7 {
		create(i)
	}
	if got := alarms(t, e, rcv, timfake.CmdDailyGroupQuotaAlarm); len(got) != 0 {
		t.Fatalf("alarm at 70%%: %v", got)
	}
	create(7)
	got := alarms(t, e, rcv, timfake.CmdDailyGroupQuotaAlarm)
	if len(got) != 1 || got[0]["QuotaUsed"] != float64(8) || got[0]["Quota"] != float64(10) || got[0]["EventTime"] != "1670574414123" {
		t.Fatalf("alarms %v, want one with QuotaUsed 8 of 10 at the clock's time", got)
	}

	// Destroying counts against the net increase: 7 of 10 again.
	rcv.reset()
	mustOK(t, e.group(t, "destroy_group", `{"GroupId":"quota-0"}`))
	if got := alarms(t, e, rcv, timfake.CmdDailyGroupQuotaAlarm); len(got) != 0 {
		t.Fatalf("alarm on a destroy: %v", got)
	}

	// A new day starts from zero.
	e.clock.Advance(24 * time.Hour)
	rcv.reset()
	create(100)
	if got := alarms(t, e, rcv, timfake.CmdDailyGroupQuotaAlarm); len(got) != 0 {
		t.Fatalf("alarm on the first group of a new day: %v", got)
	}
}
