package timmetrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

func TestPushesCountAcceptedWritesOnly(t *testing.T) {
	o := New()
	modify0 := testutil.ToFloat64(pushesTotal.WithLabelValues(DefaultApp, "modify_group_base_info"))
	other := Observer{App: "other-app"}
	otherAttr0 := testutil.ToFloat64(pushesTotal.WithLabelValues("other-app", "modify_group_attr"))

	o.Attempt("group_open_http_svc/modify_group_base_info", tim.ResultOK, time.Millisecond)
	o.Attempt("group_open_http_svc/modify_group_base_info", "60007", time.Millisecond) // refused: not a push
	o.Attempt("group_open_http_svc/get_group_info", tim.ResultOK, time.Millisecond)    // a read: not a push
	other.Attempt("group_open_attr_http_svc/modify_group_attr", tim.ResultOK, time.Millisecond)

	if got := testutil.ToFloat64(pushesTotal.WithLabelValues(DefaultApp, "modify_group_base_info")) - modify0; got != 1 {
		t.Errorf("modify_group_base_info pushes: +%v, want +1", got)
	}
	if got := testutil.ToFloat64(pushesTotal.WithLabelValues("other-app", "modify_group_attr")) - otherAttr0; got != 1 {
		t.Errorf("other-app modify_group_attr pushes: +%v, want +1", got)
	}
	if n := testutil.CollectAndCount(pushesTotal); n == 0 {
		t.Error("chatgroup_pushes_total has no series")
	}
	for _, l := range []string{"get_group_info"} {
		if v := testutil.ToFloat64(pushesTotal.WithLabelValues(DefaultApp, l)); v != 0 {
			t.Errorf("%s counted as a push: %v", l, v)
		}
	}
}

func TestErrorClass(t *testing.T) {
	for result, want := range map[string]string{
		"70001":               ClassCredentials, // UserSig expired
		"70050":               ClassCredentials,
		"60006":               ClassCredentials,
		"60007":               ClassRateLimited,
		"10049":               ClassRateLimited,
		"http_429":            ClassRateLimited,
		"10010":               ClassNotFound,
		"10004":               ClassInvalidInput,
		"10002":               ClassTransient,
		"http_502":            ClassTransient,
		tim.ResultNetwork:     ClassTransient,
		"99999":               ClassOther,
		tim.ResultBadResponse: ClassOther,
		"http_x":              ClassOther,
	} {
		if got := errorClass(result); got != want {
			t.Errorf("errorClass(%q) = %q, want %q", result, got, want)
		}
	}
}

func TestErrorsCountedByClass(t *testing.T) {
	o := New()
	cred0 := testutil.ToFloat64(errorsTotal.WithLabelValues(DefaultApp, ClassCredentials))
	ok0 := testutil.CollectAndCount(errorsTotal)
	o.Attempt("group_open_http_svc/get_group_info", "70003", time.Millisecond)
	o.Attempt("group_open_http_svc/get_group_info", tim.ResultOK, time.Millisecond)
	o.Attempt("group_open_http_svc/get_group_info", tim.ResultCanceled, time.Millisecond)
	if got := testutil.ToFloat64(errorsTotal.WithLabelValues(DefaultApp, ClassCredentials)) - cred0; got != 1 {
		t.Errorf("credentials errors: +%v, want +1", got)
	}
	if n := testutil.CollectAndCount(errorsTotal); n != ok0 {
		t.Errorf("ok or canceled attempts created series: %d -> %d", ok0, n)
	}
}
