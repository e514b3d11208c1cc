package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"

	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
)

var (
	alertsFile    = filepath.Join(testenv.RepoRoot(), "config", "prometheus", "alerts.yaml")
	dashboardFile = filepath.Join(testenv.RepoRoot(), "config", "grafana", "chatgroup-operator.json")
)

// alertExprs returns each alerting rule's expression by alert name.
func alertExprs() map[string]string {
	GinkgoHelper()
	b, err := os.ReadFile(alertsFile)
	Expect(err).NotTo(HaveOccurred())
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	Expect(yaml.Unmarshal(b, &f)).To(Succeed())
	out := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			out["alert "+r.Alert+r.Record] = r.Expr
		}
	}
	Expect(out).NotTo(BeEmpty())
	return out
}

// grafanaVariables are replaced by what Grafana would put there, so that
// the dashboard's queries parse as PromQL.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h")

// labelValues matches the dashboard's variable queries, which are not PromQL.
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// dashboardExprs returns every query of the dashboard: panel targets (in
// rows too) and template variables.
func dashboardExprs() map[string]string {
	GinkgoHelper()
	b, err := os.ReadFile(dashboardFile)
	Expect(err).NotTo(HaveOccurred())
	var d struct {
		Panels     []dashPanel
		Templating struct {
			List []struct {
				Name, Type string
				Query      json.RawMessage
			}
		}
	}
	Expect(json.Unmarshal(b, &d)).To(Succeed())
	out := map[string]string{}
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out[fmt.Sprintf("panel %q %s", p.Title, t.RefID)] = grafanaVariables.Replace(t.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		Expect(json.Unmarshal(v.Query, &q)).To(Succeed())
		m := labelValues.FindStringSubmatch(q.Query)
		Expect(m).NotTo(BeNil(), "variable %s: query %q is not label_values(selector, label)", v.Name, q.Query)
		out["variable "+v.Name] = m[1]
	}
	Expect(out).NotTo(BeEmpty())
	return out
}

type dashPanel struct {
	Title   string
	Targets []struct {
		Expr  string
		RefID string `json:"refId"`
	}
	Panels []dashPanel
}

// metricNames parses expr with Prometheus's own PromQL parser and returns
// the metric names its selectors name.
func metricNames(where, expr string) []string {
	GinkgoHelper()
	e, err := parser.ParseExpr(expr)
	Expect(err).NotTo(HaveOccurred(), "%s: %q is not PromQL", where, expr)
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			Expect(name).NotTo(BeEmpty(), "%s: a selector without a metric name: %s", where, vs)
			names = append(names, name)
		}
		return nil
	})
	Expect(names).NotTo(BeEmpty(), "%s queries no metric", where)
	return names
}

// scrapeFamilies reads the manager's /metrics over https as the scraper the
// chart binds to metrics-reader, and returns every series name it serves: a
// histogram's _bucket, _sum and _count, a summary's _sum and _count.
func scrapeFamilies() map[string]*dto.MetricFamily {
	GinkgoHelper()
	got := scrape("https://"+metricsAddr+"/metrics", serviceAccountToken(scraperSA))
	Expect(got.Status).To(Equal(http.StatusOK))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(got.Body))
	Expect(err).NotTo(HaveOccurred())
	out := map[string]*dto.MetricFamily{}
	for name, f := range fams {
		out[name] = f
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = f, f, f
		case dto.MetricType_SUMMARY:
			out[name+"_sum"], out[name+"_count"] = f, f
		}
	}
	return out
}

// checkQueriedMetricsServed fails when a metric the alerts or the dashboard
// query is not served: a renamed metric must take its queries along.
func checkQueriedMetricsServed() {
	GinkgoHelper()
	served := scrapeFamilies()
	var missing []string
	for _, queries := range []map[string]string{alertExprs(), dashboardExprs()} {
		for where, expr := range queries {
			for _, name := range metricNames(where, expr) {
				if served[name] == nil {
					missing = append(missing, fmt.Sprintf("%s (%s)", name, where))
				}
			}
		}
	}
	sort.Strings(missing)
	Expect(missing).To(BeEmpty(), "queried by the alerts or the dashboard but not served by the manager")
}

// sampleValue is the value of the series of name whose labels include want.
func sampleValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

var _ = Describe("the monitoring files", func() {
	It("are one source: the chart's copies equal config/", func() {
		for src, copyName := range map[string]string{alertsFile: "alerts.yaml", dashboardFile: "dashboard.json"} {
			want, err := os.ReadFile(src)
			Expect(err).NotTo(HaveOccurred())
			got, err := os.ReadFile(filepath.Join(chartDir, "files", copyName))
			Expect(err).NotTo(HaveOccurred())
			Expect(bytes.Equal(got, want)).To(BeTrue(), "charts/chatgroup-operator/files/%s differs from %s: run make manifests", copyName, src)
		}
	})

	It("every alert has a summary, a description and a runbook section", func() {
		b, err := os.ReadFile(alertsFile)
		Expect(err).NotTo(HaveOccurred())
		var f struct {
			Groups []struct {
				Rules []struct {
					Alert       string
					Annotations map[string]string
				}
			}
		}
		Expect(yaml.Unmarshal(b, &f)).To(Succeed())
		runbook, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "runbook.md"))
		Expect(err).NotTo(HaveOccurred())
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				Expect(r.Annotations).To(HaveKey("summary"), r.Alert)
				Expect(r.Annotations).To(HaveKey("description"), r.Alert)
				anchor := strings.ToLower(r.Alert)
				Expect(r.Annotations["runbook_url"]).To(HaveSuffix("docs/runbook.md#"+anchor), r.Alert)
				Expect(string(runbook)).To(ContainSubstring("\n## "+r.Alert+"\n"), "docs/runbook.md has no section for %s", r.Alert)
			}
		}
	})

	It("queries only what parses as PromQL", func() {
		for where, expr := range alertExprs() {
			metricNames(where, expr)
		}
		for where, expr := range dashboardExprs() {
			metricNames(where, expr)
		}
	})
})

// waitAlarmEvent waits for a Warning Event with reason on the manager's Pod.
func waitAlarmEvent(reason string) {
	GinkgoHelper()
	Eventually(func() (string, error) {
		return kubectl("get", "events.events.k8s.io", "-n", releaseNamespace,
			"--field-selector", "reason="+reason,
			"-o", "jsonpath={range .items[*]}{.type} {.regarding.kind}/{.regarding.name} {.regarding.uid}{\"\\n\"}{end}")
	}).WithTimeout(30 * time.Second).Should(ContainSubstring("Warning Pod/" + managerPodName + " " + managerPodUID))
}
