package plugin_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	. "github.com/onsi/ginkgo/v2"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/cacheconfig"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// writeCommands are every IM REST command that changes a group.
var writeCommands = []string{
	"create_group", "modify_group_base_info", "destroy_group",
	"modify_group_attr", "set_group_attr", "delete_group_attr", "clear_group_attr",
}

// enforceSpec: the operator's controller runs (as main.go sets it up,
// limited to one namespace so the other specs' ChatGroups are left alone)
// against the fake; Enforce manifests from import are applied with
// kubectl; every ChatGroup becomes Ready, Synced and UpToDate, and IM sees
// reads only.
func enforceSpec() {
	const ns = "enforce"
	im := newFakeIM(nil)
	_, err := im.SeedGroups(timfake.MixedGroups(30, "enf-"))
	Expect(err).NotTo(HaveOccurred())
	// Values that YAML would misread unquoted.
	_, err = im.SeedGroups([]timfake.GroupSpec{{Type: timfake.TypePublic, GroupID: "enf-quoting", Name: "yes",
		Introduction: "", Notification: "null", FaceURL: "  leading: spaces # and a hash", Owner: "0123"}})
	Expect(err).NotTo(HaveOccurred())
	createNamespace(ns)

	r := run(keyEnv, im.flagArgs("--policy", "Enforce", "-n", ns)...)
	Expect(r.code).To(Equal(0), r.stderr)
	Expect(docs(r.stdout)).To(HaveLen(31))
	file := filepath.Join(GinkgoT().TempDir(), "enforce.yaml")
	Expect(os.WriteFile(file, []byte(r.stdout), 0o600)).To(Succeed())

	imc, err := tim.New(tim.Config{Endpoint: im.url, SDKAppID: appID, SecretKey: secret, QPS: 1000})
	Expect(err).NotTo(HaveOccurred())
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme: env.Scheme,
		Cache: func() cache.Options {
			o := cacheconfig.Options("")
			o.DefaultNamespaces = map[string]cache.Config{ns: {}}
			return o
		}(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	_, _, err = controllers.Setup(mgr, controllers.Options{IM: imc, ResyncInterval: time.Hour})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { defer GinkgoRecover(); done <- mgr.Start(ctx) }()
	DeferCleanup(func() { cancel(); Eventually(done, 30*time.Second).Should(Receive(BeNil())) })
	im.ResetCalls()

	out, err := kubectlRun("apply", "-f", file)
	Expect(err).NotTo(HaveOccurred(), out)

	Eventually(func(g Gomega) {
		var list imv1alpha1.ChatGroupList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(31))
		for _, cg := range list.Items {
			g.Expect(cg.Status.ObservedGeneration).To(Equal(cg.Generation), cg.Name)
			for _, c := range []string{imv1alpha1.ConditionReady, imv1alpha1.ConditionSynced, imv1alpha1.ConditionUpToDate} {
				g.Expect(meta.IsStatusConditionTrue(cg.Status.Conditions, c)).To(BeTrue(), "%s %s: %v", cg.Name, c, cg.Status.Conditions)
			}
		}
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed())

	Expect(im.Calls("get_group_info")).To(BeNumerically(">", 0), "the controller read the groups")
	for _, c := range writeCommands {
		Expect(im.Calls(c)).To(BeZero(), c)
	}
	// The spec held the group's values, so nothing was different.
	g, _ := im.Group("enf-quoting")
	Expect(g.Notification).To(Equal("null"))
	Expect(g.FaceURL).To(Equal("  leading: spaces # and a hash"))
}
