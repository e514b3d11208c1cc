package groupmetrics

import (
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

func group(ns, name string, conds ...metav1.Condition) *imv1alpha1.ChatGroup {
	return &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       imv1alpha1.ChatGroupSpec{GroupID: "g-" + name},
		Status:     imv1alpha1.ChatGroupStatus{Conditions: conds},
	}
}

// inApp gives cg an appRef: it is counted under that app.
func inApp(app string, cg *imv1alpha1.ChatGroup) *imv1alpha1.ChatGroup {
	cg.Spec.AppRef = &imv1alpha1.AppReference{Name: app}
	return cg
}

func cond(t string, s metav1.ConditionStatus, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason}
}

// countOf collects Count(groups) like the Collector does over its List.
type countOf []imv1alpha1.ChatGroup

func (countOf) Describe(ch chan<- *prometheus.Desc) { ch <- desc }
func (g countOf) Collect(ch chan<- prometheus.Metric) {
	for _, m := range Count(g) {
		ch <- m
	}
}

func TestCountByConditionWithBoundedLabels(t *testing.T) {
	c := countOf{
		*group("a", "ok1", cond("Ready", "True", "Available"), cond("Synced", "True", "ReconcileSuccess"), cond("UpToDate", "True", "InSync")),
		*group("b", "ok2", cond("Ready", "True", "Available"), cond("Synced", "True", "ReconcileSuccess"), cond("UpToDate", "True", "InSync")),
		*group("a", "creds", cond("Ready", "False", "GroupNotFound"), cond("Synced", "False", "CredentialsInvalid")),
		*group("c", "handmade", cond("Synced", "False", "SomeoneWroteThis")),
		*group("c", "new"),
		*inApp("shop", group("shop", "sold", cond("Ready", "False", "AppNotAllowed"))),
	}
	want := `
# HELP chatgroup_groups ChatGroups by app and by the status and reason of each condition (Ready, Synced, UpToDate); a group without a condition counts as Unknown/None. Every group is counted once per condition type.
# TYPE chatgroup_groups gauge
chatgroup_groups{app="default",condition="Ready",reason="Available",status="True"} 2
chatgroup_groups{app="default",condition="Ready",reason="GroupNotFound",status="False"} 1
chatgroup_groups{app="default",condition="Ready",reason="None",status="Unknown"} 2
chatgroup_groups{app="default",condition="Synced",reason="CredentialsInvalid",status="False"} 1
chatgroup_groups{app="default",condition="Synced",reason="None",status="Unknown"} 1
chatgroup_groups{app="default",condition="Synced",reason="Other",status="False"} 1
chatgroup_groups{app="default",condition="Synced",reason="ReconcileSuccess",status="True"} 2
chatgroup_groups{app="default",condition="UpToDate",reason="InSync",status="True"} 2
chatgroup_groups{app="default",condition="UpToDate",reason="None",status="Unknown"} 3
chatgroup_groups{app="shop",condition="Ready",reason="AppNotAllowed",status="False"} 1
chatgroup_groups{app="shop",condition="Synced",reason="None",status="Unknown"} 1
chatgroup_groups{app="shop",condition="UpToDate",reason="None",status="Unknown"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), MetricName); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Lint catches names and help a scraper would refuse.
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestCollectExportsNothingWhenTheCacheFails(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	scheme := runtime.NewScheme()
	if err := imv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	// A real cache that was never started answers List with an error, as
	// one that is starting does; nothing listens at its address.
	c, err := cache.New(&rest.Config{Host: "https://127.0.0.1:1"}, cache.Options{Scheme: scheme, Mapper: meta.NewDefaultRESTMapper(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(New(c, logr.Discard())); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("a failing cache must not fail the scrape: %v", err)
	}
	if len(fams) != 0 {
		t.Errorf("got %d families, want none", len(fams))
	}
}
