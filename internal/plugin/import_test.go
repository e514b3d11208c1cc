package plugin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupname"
	"github.com/chatgroup-operator/chatgroup-operator/internal/testenv"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// parse decodes one manifest as the API type, strictly.
func parse(d string) imv1alpha1.ChatGroup {
	GinkgoHelper()
	var cg imv1alpha1.ChatGroup
	Expect(yaml.UnmarshalStrict([]byte(d), &cg)).To(Succeed(), d)
	return cg
}

var _ = Describe("import", func() {
	It("writes one manifest per group for 10,000 groups of mixed types, each accepted by the API server, pacing the listing", func() {
		im := newFakeIM(nil)
		ids, err := im.SeedGroups(timfake.MixedGroups(10000, "big-"))
		Expect(err).NotTo(HaveOccurred())
		createNamespace("import10k")

		r := run(keyEnv, im.flagArgs("-n", "import10k")...)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stderr).To(BeEmpty(), "stderr is not a terminal: no progress")
		ds := docs(r.stdout)
		Expect(ds).To(HaveLen(10000))

		// One listing call (Limit 10000) and ceil(10000/50) reads. The
		// fake refuses a second listing call within a second, so a client
		// that went faster would show more calls here.
		Expect(im.Calls("get_appid_group_list")).To(Equal(1))
		Expect(im.Calls("get_group_info")).To(Equal(200))

		byType := map[imv1alpha1.GroupType]int{}
		seen := map[string]bool{}
		for _, d := range ds {
			cg := parse(d)
			byType[cg.Spec.Type]++
			seen[cg.Spec.GroupID] = true
			Expect(cg.Name).To(Equal(groupname.For(cg.Spec.GroupID)), "named as discovery names it")
			Expect(cg.Namespace).To(Equal("import10k"))
			Expect(cg.Spec.ManagementPolicy).To(Equal(imv1alpha1.ManagementPolicyObserve))
			Expect(cg.Spec.DeletionPolicy).To(Equal(imv1alpha1.DeletionPolicyOrphan))
			Expect(cg.Spec.Name).To(BeNil(), "Observe manifests only name the group")
		}
		Expect(seen).To(HaveLen(10000))
		for _, id := range ids {
			Expect(seen).To(HaveKey(id))
		}
		for _, t := range []imv1alpha1.GroupType{"Public", "Private", "ChatRoom", "AVChatRoom", "Community"} {
			Expect(byType[t]).To(Equal(2000), string(t))
		}

		// kubectl's client allows 5 requests a second (a fixed client-go
		// default with no flag), so one kubectl would take over half an
		// hour for 10,000 objects: the stream is split into chunks, each
		// applied by its own kubectl, all at once.
		const chunks = 50
		dir := GinkgoT().TempDir()
		per := len(ds) / chunks
		for i := range chunks {
			part := strings.Join(prefixed(ds[i*per:(i+1)*per]), "")
			Expect(os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%02d.yaml", i)), []byte(part), 0o600)).To(Succeed())
		}
		var wg sync.WaitGroup
		outs := make([]string, chunks)
		errs := make([]error, chunks)
		for i := range chunks {
			wg.Go(func() {
				outs[i], errs[i] = kubectlRun("apply", "--dry-run=server", "--server-side", "-f", filepath.Join(dir, fmt.Sprintf("part-%02d.yaml", i)))
			})
		}
		wg.Wait()
		accepted := 0
		for i := range chunks {
			Expect(errs[i]).NotTo(HaveOccurred(), lastLines(outs[i], 5))
			accepted += strings.Count(outs[i], "serverside-applied (server dry run)")
		}
		Expect(accepted).To(Equal(10000))
	})

	It("round-trips cursors above 2^32 exactly, one listing call per second, and writes byte-identical output on a re-run", func() {
		const base = uint64(1)<<32 + 11
		im := newFakeIM(func(o *timfake.Options) { o.CursorBase = base })
		_, err := im.SeedGroups(timfake.MixedGroups(25, "cur-"))
		Expect(err).NotTo(HaveOccurred())

		first := run(keyEnv, im.flagArgs("--page-size", "10", "--include-declared")...)
		Expect(first.code).To(Equal(0), first.stderr)
		// Three pages; the fake refuses any Next it did not issue (a
		// truncated or rounded cursor) and any call within a second of the
		// previous one, either of which would fail or add calls.
		Expect(im.Calls("get_appid_group_list")).To(Equal(3))
		Expect(docs(first.stdout)).To(HaveLen(25))

		second := run(keyEnv, im.flagArgs("--page-size", "10", "--include-declared")...)
		Expect(second.code).To(Equal(0), second.stderr)
		Expect(second.stdout).To(Equal(first.stdout))

		dir1, dir2 := GinkgoT().TempDir(), GinkgoT().TempDir()
		for _, dir := range []string{dir1, dir2} {
			r := run(keyEnv, im.flagArgs("--include-declared", "--policy", "Enforce", "--out", dir)...)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(BeEmpty())
		}
		files1, _ := filepath.Glob(filepath.Join(dir1, "*"))
		Expect(files1).To(HaveLen(25), "one file per group, no temporary files left")
		for _, f := range files1 {
			a, _ := os.ReadFile(f)
			b, err := os.ReadFile(filepath.Join(dir2, filepath.Base(f)))
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).To(Equal(string(a)), f)
			cg := parse(string(a))
			Expect(filepath.Base(f)).To(Equal(cg.Name + ".yaml"))
		}
	})

	It("filters by type, ID prefix and limit", func() {
		im := newFakeIM(nil)
		_, err := im.SeedGroups(timfake.MixedGroups(40, "flt-"))
		Expect(err).NotTo(HaveOccurred())

		r := run(keyEnv, im.flagArgs("--include-declared", "--type", "Community")...)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(docs(r.stdout)).To(HaveLen(8))
		for _, d := range docs(r.stdout) {
			Expect(parse(d).Spec.Type).To(Equal(imv1alpha1.GroupTypeCommunity))
		}

		r = run(keyEnv, im.flagArgs("--include-declared", "--id-prefix", "flt-g-0001")...)
		Expect(r.code).To(Equal(0), r.stderr)
		var got []string
		for _, d := range docs(r.stdout) {
			got = append(got, parse(d).Spec.GroupID)
		}
		// 10-19 minus the system-assigned IDs (12, 15, 18).
		Expect(got).To(ConsistOf("flt-g-00010", "flt-g-00011", "flt-g-00013", "flt-g-00016", "flt-g-00017"))
		// A Community custom ID starts with @TGS#_, so 14 and 19 are not here.

		r = run(keyEnv, im.flagArgs("--include-declared", "--limit", "7")...)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(docs(r.stdout)).To(HaveLen(7))
	})

	It("writes Enforce manifests that, applied with the operator running, make zero write calls to IM", func() {
		enforceSpec()
	})

	It("reads the default app's credentials from the cluster as the chart installs them, and skips declared groups", func() {
		im := newFakeIM(nil)
		ids, err := im.SeedGroups(timfake.MixedGroups(7, "chart-"))
		Expect(err).NotTo(HaveOccurred())
		installChartLike("chart-ns", "rel-chatgroup-operator", im.url)

		r := run(nil, "import", "--operator-namespace", "chart-ns", "--id-prefix", "chart-")
		Expect(r.code).To(Equal(0), r.stderr)
		// 7 minus the 3 system-assigned IDs and the Community one (@TGS#_chart-...).
		Expect(docs(r.stdout)).To(HaveLen(3))

		// A group already declared is skipped, unless asked for.
		createNamespace("declared")
		Expect(k8s.Create(context.Background(), &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: "declared", Name: "mine"},
			Spec:       imv1alpha1.ChatGroupSpec{GroupID: ids[1], ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
		})).To(Succeed())
		r = run(nil, "import", "--operator-namespace", "chart-ns", "--id-prefix", "chart-")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(docs(r.stdout)).To(HaveLen(2))
		Expect(r.stdout).NotTo(ContainSubstring("groupID: " + ids[1] + "\n"))
		r = run(nil, "import", "--operator-namespace", "chart-ns", "--id-prefix", "chart-", "--include-declared")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(docs(r.stdout)).To(HaveLen(3))

		// A wrong key in the Secret is a credentials error.
		sec := &corev1.Secret{}
		Expect(k8s.Get(context.Background(), client.ObjectKey{Namespace: "chart-ns", Name: "rel-chatgroup-operator-im"}, sec)).To(Succeed())
		sec.Data["secretKey"] = []byte("not-the-key")
		Expect(k8s.Update(context.Background(), sec)).To(Succeed())
		expectCleanFailure(run(nil, "import", "--operator-namespace", "chart-ns"), "IM refused the credentials")
	})

	It("imports a ChatApp's groups with its credentials, naming the app in every manifest", func() {
		im := newFakeIM(func(o *timfake.Options) { o.SDKAppID = appID + 1; o.SecretKey = "staging-key-0123456789" })
		ids, err := im.SeedGroups(timfake.MixedGroups(7, "stg-"))
		Expect(err).NotTo(HaveOccurred())
		createNamespace("op-ns")
		Expect(k8s.Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "op-ns", Name: "staging-im"},
			Data:       map[string][]byte{"secretKey": []byte("staging-key-0123456789"), "callbackToken": []byte("t")},
		})).To(Succeed())
		Expect(k8s.Create(context.Background(), &imv1alpha1.ChatApp{
			ObjectMeta: metav1.ObjectMeta{Name: "staging"},
			Spec: imv1alpha1.ChatAppSpec{SDKAppID: int64(appID + 1), Endpoint: im.url,
				CredentialsSecretRef: imv1alpha1.SecretReference{Name: "staging-im"}},
		})).To(Succeed())

		// The same group ID declared for the default app does not hide
		// the staging app's group.
		createNamespace("stg-declared")
		Expect(k8s.Create(context.Background(), &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: "stg-declared", Name: "default-app"},
			Spec:       imv1alpha1.ChatGroupSpec{GroupID: ids[1], ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
		})).To(Succeed())
		r := run(nil, "import", "--app", "staging", "--operator-namespace", "op-ns", "--id-prefix", "stg-", "-n", "stg-declared")
		Expect(r.code).To(Equal(0), r.stderr)
		manifests := docs(r.stdout)
		Expect(manifests).To(HaveLen(3))
		for _, m := range manifests {
			Expect(m).To(ContainSubstring("appRef:\n    name: staging\n"))
		}
		Expect(r.stdout).To(ContainSubstring("name: " + groupname.ForApp("staging", ids[1]) + "\n"))
		file := filepath.Join(GinkgoT().TempDir(), "staging.yaml")
		Expect(os.WriteFile(file, []byte(r.stdout), 0o600)).To(Succeed())
		out, err := kubectlRun("apply", "--dry-run=server", "-f", file)
		Expect(err).NotTo(HaveOccurred(), out)

		// Declared in the staging app: skipped.
		Expect(k8s.Create(context.Background(), &imv1alpha1.ChatGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: "stg-declared", Name: "staging-app"},
			Spec: imv1alpha1.ChatGroupSpec{AppRef: &imv1alpha1.AppReference{Name: "staging"}, GroupID: ids[1],
				ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
		})).To(Succeed())
		r = run(nil, "import", "--app", "staging", "--operator-namespace", "op-ns", "--id-prefix", "stg-")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(docs(r.stdout)).To(HaveLen(2))

		// --app with flag credentials is ambiguous.
		expectCleanFailure(run(keyEnv, "import", "--app", "staging", "--sdkappid", "1400000001"), "--app takes the ChatApp's credentials")
	})

	Describe("bad input: a one-line error and a non-zero exit, no stack trace, no partial manifest", func() {
		It("wrong secret key", func() {
			im := newFakeIM(nil)
			expectCleanFailure(run(map[string]string{"IM_SECRET_KEY": "wrong"}, im.flagArgs("--include-declared")...), "IM refused the credentials")
		})
		It("unknown SDKAppID", func() {
			im := newFakeIM(nil)
			args := im.flagArgs("--include-declared")
			args[2] = "1400999999"
			expectCleanFailure(run(keyEnv, args...), "IM refused the credentials")
		})
		It("an endpoint nothing listens on", func() {
			addr, err := testenv.FreeLoopbackAddr()
			Expect(err).NotTo(HaveOccurred())
			r := run(keyEnv, "import", "--sdkappid", "1400000077", "--im-endpoint", "http://"+addr, "--include-declared")
			expectCleanFailure(r, "cannot reach IM")
		})
		It("an endpoint that is not IM", func() {
			notIM := httptest.NewServer(http.NotFoundHandler())
			defer notIM.Close()
			r := run(keyEnv, "import", "--sdkappid", "1400000077", "--im-endpoint", notIM.URL, "--include-declared")
			expectCleanFailure(r, "cannot reach IM")
		})
		It("an endpoint that is not a URL", func() {
			r := run(keyEnv, "import", "--sdkappid", "1400000077", "--im-endpoint", "console.tim.qq.com", "--include-declared")
			expectCleanFailure(r, "Endpoint")
		})
		It("an unknown app", func() {
			expectCleanFailure(run(keyEnv, "import", "--app", "prod", "--operator-namespace", "default"), `no ChatApp named "prod"`)
		})
		It("IM's rate limit on the listing", func() {
			im := newFakeIM(nil)
			im.InjectError("get_appid_group_list", timfake.CodeRESTOverLimit, -1)
			expectCleanFailure(run(keyEnv, im.flagArgs("--include-declared")...), "IM rate limit")
		})
		It("IM's rate limit on the reads, after the listing succeeded", func() {
			im := newFakeIM(nil)
			_, err := im.SeedGroups(timfake.MixedGroups(120, "rl-"))
			Expect(err).NotTo(HaveOccurred())
			im.InjectError("get_group_info", timfake.CodeRESTOverLimit, -1)
			expectCleanFailure(run(keyEnv, im.flagArgs("--include-declared")...), "IM rate limit")
		})
		It("no operator in the cluster and no credentials given", func() {
			expectCleanFailure(run(nil, "import", "--operator-namespace", "nothing-here"), "no chatgroup-operator Deployment")
		})
		It("an SDKAppID without a key", func() {
			expectCleanFailure(run(nil, "import", "--sdkappid", "1400000077"), "no secret key")
		})
		It("flags out of range", func() {
			expectCleanFailure(run(keyEnv, "import", "--policy", "Delete"), "--policy")
			expectCleanFailure(run(keyEnv, "import", "--type", "Work"), "--type")
			expectCleanFailure(run(keyEnv, "import", "--page-size", "10001"), "--page-size")
		})
	})
})

// installChartLike creates the operator's Deployment and Secret as
// charts/chatgroup-operator renders them (templates/deployment.yaml and
// secret.yaml: the manager's args, the im-credentials volume), with the
// fake as the endpoint. Nothing runs it: import only reads them.
func installChartLike(ns, release, endpoint string) {
	GinkgoHelper()
	createNamespace(ns)
	ctx := context.Background()
	Expect(k8s.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: release + "-im"},
		Data:       map[string][]byte{"secretKey": []byte(secret + "\n"), "callbackToken": []byte("token")},
	})).To(Succeed())
	labels := map[string]string{"app.kubernetes.io/name": "chatgroup-operator", "app.kubernetes.io/instance": "rel"}
	Expect(k8s.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: release, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  "manager",
						Image: "ghcr.io/chatgroup-operator/chatgroup-operator:dev",
						Args: []string{
							"--leader-elect=true",
							"--sdkappid=" + fmt.Sprint(appID),
							"--callback-token-file=/etc/chatgroup-operator/im/callbackToken",
							"--secret-key-file=/etc/chatgroup-operator/im/secretKey",
							"--admin-identifier=administrator",
							"--im-endpoint=" + endpoint,
							"--im-qps=100",
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "im-credentials", MountPath: "/etc/chatgroup-operator/im", ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{Name: "im-credentials", VolumeSource: corev1.VolumeSource{
						Secret: &corev1.SecretVolumeSource{SecretName: release + "-im", DefaultMode: ptr(int32(0o440))},
					}}},
				},
			},
		},
	})).To(Succeed())
}

// prefixed puts back the document separators docs removed.
func prefixed(ds []string) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = "---\n" + d
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
