package timmetrics

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
)

// The collectors are package-level, so every check is on the difference a
// step makes, not on absolute values another test could have moved.
func TestObserverCounts(t *testing.T) {
	const create = "group_open_http_svc/create_group"
	const attr = "group_open_attr_http_svc/get_group_attr"
	var o tim.Observer = New()

	ok0 := testutil.ToFloat64(requestsTotal.WithLabelValues(DefaultApp, "create_group", tim.ResultOK))
	rl0 := testutil.ToFloat64(requestsTotal.WithLabelValues(DefaultApp, "create_group", "60007"))
	nf0 := testutil.ToFloat64(requestsTotal.WithLabelValues(DefaultApp, "get_group_attr", "10010"))
	retry0 := testutil.ToFloat64(retriesTotal.WithLabelValues(DefaultApp, "create_group", tim.RetryRateLimited))
	durations0 := histogramCount(t, requestDuration.WithLabelValues(DefaultApp, "create_group"))
	waits0 := histogramCount(t, rateLimitWait.WithLabelValues(DefaultApp))
	waitSum0 := histogramSum(t, rateLimitWait.WithLabelValues(DefaultApp))

	o.Attempt(create, "60007", 30*time.Millisecond)
	o.Retry(create, tim.RetryRateLimited)
	o.RateLimitWait(250 * time.Millisecond)
	o.Attempt(create, tim.ResultOK, 20*time.Millisecond)
	o.Attempt(attr, "10010", 10*time.Millisecond)

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"create_group ok", testutil.ToFloat64(requestsTotal.WithLabelValues(DefaultApp, "create_group", tim.ResultOK)) - ok0, 1},
		{"create_group 60007", testutil.ToFloat64(requestsTotal.WithLabelValues(DefaultApp, "create_group", "60007")) - rl0, 1},
		{"get_group_attr 10010", testutil.ToFloat64(requestsTotal.WithLabelValues(DefaultApp, "get_group_attr", "10010")) - nf0, 1},
		{"create_group retries", testutil.ToFloat64(retriesTotal.WithLabelValues(DefaultApp, "create_group", tim.RetryRateLimited)) - retry0, 1},
		{"create_group durations", histogramCount(t, requestDuration.WithLabelValues(DefaultApp, "create_group")) - durations0, 2},
		{"rate limit waits", histogramCount(t, rateLimitWait.WithLabelValues(DefaultApp)) - waits0, 1},
		{"rate limit wait seconds", histogramSum(t, rateLimitWait.WithLabelValues(DefaultApp)) - waitSum0, 0.25},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s: +%v, want +%v", c.name, c.got, c.want)
		}
	}

	// Served from controller-runtime's registry, and the command label
	// never carries the service.
	fams, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "chatgroup_im_") {
			continue
		}
		found[f.GetName()] = true
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "command" && strings.Contains(l.GetValue(), "/") {
					t.Errorf("%s has command %q", f.GetName(), l.GetValue())
				}
			}
		}
	}
	for _, name := range []string{"chatgroup_im_requests_total", "chatgroup_im_request_duration_seconds", "chatgroup_im_retries_total", "chatgroup_im_rate_limit_wait_seconds"} {
		if !found[name] {
			t.Errorf("%s is not in controller-runtime's registry", name)
		}
	}
}

func TestCommandLabel(t *testing.T) {
	for in, want := range map[string]string{
		"group_open_http_svc/create_group":        "create_group",
		"group_open_attr_http_svc/get_group_attr": "get_group_attr",
		"bare": "bare",
	} {
		if got := commandLabel(in); got != want {
			t.Errorf("commandLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

func histogramCount(t *testing.T, o prometheus.Observer) float64 {
	t.Helper()
	return float64(histogram(t, o).GetSampleCount())
}

func histogramSum(t *testing.T, o prometheus.Observer) float64 {
	t.Helper()
	return histogram(t, o).GetSampleSum()
}

func histogram(t *testing.T, o prometheus.Observer) *dto.Histogram {
	t.Helper()
	m, ok := o.(prometheus.Metric)
	if !ok {
		t.Fatalf("%T is not a metric", o)
	}
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	return out.GetHistogram()
}
