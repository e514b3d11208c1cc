package controllers_test

import (
	"context"
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/controllers"
	"github.com/chatgroup-operator/chatgroup-operator/internal/groupname"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
	"github.com/chatgroup-operator/chatgroup-operator/webhookserver"
)

// otherApp is a second IM app: its own fake backend (own key, admin,
// token and groups) behind its own endpoint, sending callbacks to the
// suite's receiver.
type otherApp struct {
	name, secretName string
	sdkAppID         uint64
	key, token       string
	fake             *timfake.Server
	url              string
}

var appSeq = uint64(1400001000)

func newOtherApp(name string) *otherApp {
	GinkgoHelper()
	appSeq++
	a := &otherApp{name: name, secretName: name + "-credentials", sdkAppID: appSeq,
		key: name + "-secret-key-0123456789", token: name + "-callback-token"}
	a.fake = timfake.New(timfake.Options{SDKAppID: a.sdkAppID, SecretKey: a.key, CallbackToken: a.token,
		CallbackURL: "http://" + webhook.Addr() + "/callback", Seed: appSeq})
	srv := httptest.NewServer(a.fake)
	a.url = srv.URL
	DeferCleanup(func() { srv.Close(); a.fake.Close() })
	return a
}

// client is a REST client of the app, acting as someone else (a script,
// the console) to change groups behind the operator's back.
func (a *otherApp) client() *tim.Client {
	c, err := tim.New(tim.Config{Endpoint: a.url, SDKAppID: a.sdkAppID, SecretKey: a.key, QPS: 1000})
	Expect(err).NotTo(HaveOccurred())
	return c
}

func (a *otherApp) writeSecret(data map[string]string) {
	GinkgoHelper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: a.secretName}}
	s.StringData = data
	err := k8s.Create(context.Background(), s)
	if apierrors.IsAlreadyExists(err) {
		cur := &corev1.Secret{}
		Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(s), cur)).To(Succeed())
		cur.Data, cur.StringData = nil, data
		err = k8s.Update(context.Background(), cur)
	}
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = k8s.Delete(context.Background(), s) })
}

func (a *otherApp) credentials() map[string]string {
	return map[string]string{imv1alpha1.SecretKeySecretKey: a.key, imv1alpha1.SecretKeyCallbackToken: a.token}
}

func (a *otherApp) createChatApp(mutate func(*imv1alpha1.ChatAppSpec)) *imv1alpha1.ChatApp {
	GinkgoHelper()
	ca := &imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: a.name}, Spec: imv1alpha1.ChatAppSpec{
		SDKAppID: int64(a.sdkAppID), Endpoint: a.url,
		CredentialsSecretRef: imv1alpha1.SecretReference{Name: a.secretName},
	}}
	if mutate != nil {
		mutate(&ca.Spec)
	}
	Expect(k8s.Create(context.Background(), ca)).To(Succeed())
	DeferCleanup(func() { _ = k8s.Delete(context.Background(), ca) })
	return ca
}

// serve writes the app's Secret, creates its ChatApp (mutate may change
// the spec) and waits until the ChatApp is Ready.
func (a *otherApp) serve(mutate func(*imv1alpha1.ChatAppSpec)) {
	GinkgoHelper()
	a.writeSecret(a.credentials())
	a.createChatApp(mutate)
	Eventually(appReady(a.name), "20s").Should(Equal("True/Available"))
}

func appReady(name string) func() string {
	return func() string {
		ca := &imv1alpha1.ChatApp{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, ca); err != nil {
			return err.Error()
		}
		c := meta.FindStatusCondition(ca.Status.Conditions, imv1alpha1.ConditionReady)
		if c == nil {
			return ""
		}
		return string(c.Status) + "/" + c.Reason
	}
}

func inApp(app string) func(*imv1alpha1.ChatGroupSpec) {
	return func(s *imv1alpha1.ChatGroupSpec) { s.AppRef = &imv1alpha1.AppReference{Name: app} }
}

func groupCalls(f *timfake.Server) int {
	n := 0
	for _, c := range restCommands {
		n += f.Calls(c)
	}
	return n
}

var _ = Describe("Several apps", func() {
	ctx := context.Background()

	It("keeps one group ID in two apps apart: each created, updated and observed in its own app", func() {
		b := newOtherApp("app-b")
		b.serve(nil)

		ns := newNamespace()
		id := uniq("shared")
		inA := newChatGroup(ns, "in-default", id, func(s *imv1alpha1.ChatGroupSpec) { s.Type = "Public"; s.Name = ptr("A side") })
		inB := newChatGroup(ns, "in-b", id, func(s *imv1alpha1.ChatGroupSpec) {
			inApp(b.name)(s)
			s.Type = "Public"
			s.Name = ptr("B side")
		})
		waitSynced(inA)
		waitSynced(inB) // no Conflict: one ID, two groups
		ga, okA := fake.Group(id)
		gb, okB := b.fake.Group(id)
		Expect(okA && okB).To(BeTrue(), "the group exists in both apps")
		Expect(ga.Name).To(Equal("A side"))
		Expect(gb.Name).To(Equal("B side"))

		update(inB, func(cg *imv1alpha1.ChatGroup) { cg.Spec.Name = ptr("B renamed") })
		Eventually(func() string { g, _ := b.fake.Group(id); return g.Name }, "20s").Should(Equal("B renamed"))
		g, _ := fake.Group(id)
		Expect(g.Name).To(Equal("A side"), "a change to app B's ChatGroup went to the default app")

		// Callbacks: a change in each app lands on that app's ChatGroup.
		Expect(b.client().ModifyGroupBaseInfo(ctx, tim.ModifyGroupBaseInfoRequest{GroupID: id, Notification: ptr("note in B")})).To(Succeed())
		Expect(newIMClient(secret).ModifyGroupBaseInfo(ctx, tim.ModifyGroupBaseInfoRequest{GroupID: id, Notification: ptr("note in A")})).To(Succeed())
		Eventually(func() string { return fetch(inB).Status.Notification }, "20s").Should(Equal("note in B"))
		Eventually(func() string { return fetch(inA).Status.Notification }, "20s").Should(Equal("note in A"))
	})

	It("discovers an app's undeclared groups into its own namespace, naming the app", func() {
		d := newOtherApp("app-discover")
		discoveryNS := newNamespace()
		d.serve(func(s *imv1alpha1.ChatAppSpec) { s.Discovery.Namespace = discoveryNS })

		id := uniq("undeclared")
		_, err := d.client().CreateGroup(ctx, tim.CreateGroupRequest{Type: "Public", GroupID: id, Name: "made in the console"})
		Expect(err).NotTo(HaveOccurred())
		discovered := &imv1alpha1.ChatGroup{}
		key := client.ObjectKey{Namespace: discoveryNS, Name: groupname.ForApp(d.name, id)}
		Eventually(func() error { return k8s.Get(ctx, key, discovered) }, "20s").Should(Succeed())
		Expect(discovered.Spec.AppRef).NotTo(BeNil())
		Expect(discovered.Spec.AppRef.Name).To(Equal(d.name))
		Expect(discovered.Spec.ManagementPolicy).To(Equal(imv1alpha1.ManagementPolicyObserve))
		Eventually(func() string { return fetch(discovered).Status.Name }, "20s").Should(Equal("made in the console"))
		// The default app discovers nothing here: its flags set no discovery namespace.
		var list imv1alpha1.ChatGroupList
		Expect(k8s.List(ctx, &list, client.InNamespace(discoveryNS))).To(Succeed())
		Expect(list.Items).To(HaveLen(1))
	})

	It("leaves a ChatGroup in a namespace the app does not allow alone: no REST call, no callback, no destroy", func() {
		t := newOtherApp("app-tenant")
		allowed := newNamespace()
		t.serve(func(s *imv1alpha1.ChatAppSpec) { s.AllowedNamespaces = []string{allowed} })

		outside := newNamespace()
		id := uniq("tenant")
		// The group exists in the app, created by someone else.
		_, err := t.client().CreateGroup(ctx, tim.CreateGroupRequest{Type: "Public", GroupID: id, Name: "theirs"})
		Expect(err).NotTo(HaveOccurred())
		Expect(t.fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		before := groupCalls(t.fake)

		cg := newChatGroup(outside, "not-allowed", id, func(s *imv1alpha1.ChatGroupSpec) {
			inApp(t.name)(s)
			s.Name = ptr("ours")
			s.DeletionPolicy = imv1alpha1.DeletionPolicyDelete
			s.ManagementPolicy = imv1alpha1.ManagementPolicyEnforce
		})
		Eventually(func() string { return condition(imv1alpha1.ConditionReady)(fetch(cg)) }, "20s").Should(Equal("False/AppNotAllowed"))
		Expect(conditionMessage(fetch(cg), imv1alpha1.ConditionReady)).To(ContainSubstring(outside))

		// A callback for its group, and a resync.
		Expect(t.client().ModifyGroupBaseInfo(ctx, tim.ModifyGroupBaseInfoRequest{GroupID: id, Notification: ptr("hello")})).To(Succeed())
		Expect(t.fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		resyncNow()
		afterCallback := groupCalls(t.fake)
		Expect(afterCallback).To(Equal(before+1), "only the test's own modify_group_base_info reached app-tenant")
		Expect(fetch(cg).Status.Notification).To(BeEmpty(), "a callback was recorded on a ChatGroup the app does not allow")

		// Deleting it releases the group: nothing destroyed.
		Expect(k8s.Delete(ctx, cg)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(cg), &imv1alpha1.ChatGroup{}))
		}, "20s").Should(BeTrue())
		Expect(t.fake.Calls("destroy_group")).To(BeZero())
		g, ok := t.fake.Group(id)
		Expect(ok).To(BeTrue())
		Expect(g.Name).To(Equal("theirs"))
		Expect(groupCalls(t.fake)).To(Equal(afterCallback))

		// Inside the allowed namespace the same app works.
		in := newChatGroup(allowed, "allowed", uniq("tenant-in"), func(s *imv1alpha1.ChatGroupSpec) { inApp(t.name)(s); s.Type = "Public" })
		waitSynced(in)
	})

	It("reports why a ChatApp cannot be used, and recovers when it is fixed", func() {
		c := newOtherApp("app-status")
		c.createChatApp(nil)
		Eventually(appReady(c.name), "20s").Should(Equal("False/SecretNotFound"))

		// A ChatGroup of a ChatApp that does not exist yet.
		ns := newNamespace()
		id := uniq("later")
		later := newChatGroup(ns, "later", id, func(s *imv1alpha1.ChatGroupSpec) { inApp("app-later")(s); s.Type = "Public" })
		Eventually(func() string { return condition(imv1alpha1.ConditionReady)(fetch(later)) }, "20s").Should(Equal("False/AppNotFound"))

		c.writeSecret(map[string]string{imv1alpha1.SecretKeySecretKey: c.key}) // no callbackToken
		Eventually(appReady(c.name), "20s").Should(Equal("False/SecretInvalid"))

		verifies := c.fake.Calls("get_group_info")
		c.writeSecret(map[string]string{imv1alpha1.SecretKeySecretKey: "a-wrong-key-0123456789", imv1alpha1.SecretKeyCallbackToken: c.token})
		Eventually(appReady(c.name), "20s").Should(Equal("False/CredentialsInvalid"))
		ca := &imv1alpha1.ChatApp{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: c.name}, ca)).To(Succeed())
		Expect(meta.FindStatusCondition(ca.Status.Conditions, imv1alpha1.ConditionReady).Message).NotTo(ContainSubstring("a-wrong-key"))
		Consistently(func() int { return c.fake.Calls("get_group_info") }, "2s").Should(Equal(verifies+1),
			"a wrong key is checked once per change of the Secret, not retried")

		// A ChatGroup IM refuses with the wrong key waits out
		// CredentialsRetry (an hour in this suite) ...
		ns0 := newNamespace()
		refused := newChatGroup(ns0, "refused", uniq("refused"), func(s *imv1alpha1.ChatGroupSpec) { inApp(c.name)(s); s.Type = "Public" })
		Eventually(func() string { return condition(imv1alpha1.ConditionReady)(fetch(refused)) }, "20s").Should(Equal("False/CredentialsInvalid"))

		c.writeSecret(c.credentials())
		Eventually(appReady(c.name), "20s").Should(Equal("True/Available"))
		// ... unless the key changes: then it tries again at once.
		waitSynced(refused)

		// The ChatApp the waiting ChatGroup names appears: it recovers.
		d := newOtherApp("app-later")
		d.writeSecret(d.credentials())
		d.createChatApp(nil)
		waitSynced(later)
		_, ok := d.fake.Group(id)
		Expect(ok).To(BeTrue())
		Eventually(func() int32 {
			ca := &imv1alpha1.ChatApp{}
			Expect(k8s.Get(ctx, client.ObjectKey{Name: d.name}, ca)).To(Succeed())
			return ca.Status.Groups
		}, "20s").Should(Equal(int32(1)))

		// Two ChatApps with one SDKAppID: the later one gets nothing.
		dup := &otherApp{name: "app-later-copy", secretName: d.secretName, sdkAppID: d.sdkAppID, url: d.url}
		dup.createChatApp(nil)
		Eventually(appReady(dup.name), "20s").Should(Equal("False/DuplicateApp"))
		usesDup := newChatGroup(ns, "uses-dup", uniq("dup"), inApp(dup.name))
		Eventually(func() string { return condition(imv1alpha1.ConditionReady)(fetch(usesDup)) }, "20s").Should(Equal("False/AppNotFound"))
		// ... and so does a ChatApp with the default app's SDKAppID.
		def := &otherApp{name: "app-default-copy", secretName: d.secretName, sdkAppID: appID, url: fakeHTTP.URL}
		def.createChatApp(nil)
		Eventually(appReady(def.name), "20s").Should(Equal("False/DuplicateApp"))

		// Deleting a ChatApp in use: its ChatGroups report AppNotFound and
		// a deletion with deletionPolicy Delete destroys nothing.
		update(later, func(cg *imv1alpha1.ChatGroup) { cg.Spec.DeletionPolicy = imv1alpha1.DeletionPolicyDelete })
		waitSynced(later)
		Expect(k8s.Delete(ctx, &imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: d.name}})).To(Succeed())
		Eventually(func() string { return condition(imv1alpha1.ConditionReady)(fetch(later)) }, "20s").Should(Equal("False/AppNotFound"))
		Expect(k8s.Delete(ctx, fetch(later))).To(Succeed())
		Eventually(func() string { return condition(imv1alpha1.ConditionSynced)(fetch(later)) }, "20s").Should(Equal("False/AppNotFound"))
		Expect(d.fake.Calls("destroy_group")).To(BeZero())
		_, ok = d.fake.Group(id)
		Expect(ok).To(BeTrue())
	})

	It("takes a rotated secret key and callback token from the Secret without a restart", func() {
		r := newOtherApp("app-rotate")
		r.serve(nil)
		ns := newNamespace()
		id := uniq("rotate")
		cg := newChatGroup(ns, "rotating", id, func(s *imv1alpha1.ChatGroupSpec) { inApp(r.name)(s); s.Type = "Public"; s.Name = ptr("before") })
		waitSynced(cg)
		notifyVia := func(note string) {
			GinkgoHelper()
			Expect(r.client().ModifyGroupBaseInfo(ctx, tim.ModifyGroupBaseInfoRequest{GroupID: id, Notification: ptr(note)})).To(Succeed())
			Expect(r.fake.WaitCallbacksDelivered(ctx)).To(Succeed())
		}

		// The key: IM accepts only the new one from now on.
		oldKey, newKey := r.key, "app-rotate-new-secret-key-987654"
		r.fake.SetSecretKey(newKey)
		r.key = newKey
		r.writeSecret(r.credentials())
		update(cg, func(cg *imv1alpha1.ChatGroup) { cg.Spec.Name = ptr("after") })
		Eventually(func() string { g, _ := r.fake.Group(id); return g.Name }, "20s").Should(Equal("after"))
		waitSynced(cg)
		Eventually(appReady(r.name), "20s").Should(Equal("True/Available"))
		Expect(oldKey).NotTo(Equal(newKey))

		// The token, rotated in the IM console: the old one stays accepted
		// as previousCallbackToken while IM may still sign with it.
		oldToken, newToken := r.token, "app-rotate-new-callback-token"
		r.writeSecret(map[string]string{imv1alpha1.SecretKeySecretKey: r.key,
			imv1alpha1.SecretKeyCallbackToken: newToken, imv1alpha1.SecretKeyPreviousCallbackToken: oldToken})
		r.fake.SetCallbackToken(newToken)
		// Until the Secret's change reaches the registry the new token is
		// refused: each attempt carries its own note (IM sends no callback
		// for a change to the value the group already has).
		Eventually(func(g Gomega) {
			note := uniq("signed with the new token")
			notifyVia(note)
			g.Eventually(func() string { return fetch(cg).Status.Notification }, "3s").Should(Equal(note))
		}, "30s").Should(Succeed())
		r.fake.SetCallbackToken(oldToken)
		notifyVia("signed with the previous token")
		Eventually(func() string { return fetch(cg).Status.Notification }, "20s").Should(Equal("signed with the previous token"))

		// The previous token removed: refused from then on.
		r.writeSecret(map[string]string{imv1alpha1.SecretKeySecretKey: r.key, imv1alpha1.SecretKeyCallbackToken: newToken})
		// (Until the Secret's change reaches the registry the old token is
		// still accepted: each attempt carries its own note.)
		var refusedNote string
		Eventually(func() uint64 {
			failed := r.fake.CallbackStats().Failed
			refusedNote = uniq("signed with a retired token")
			notifyVia(refusedNote)
			return r.fake.CallbackStats().Failed - failed
		}, "20s").Should(Equal(uint64(1)), "a callback signed with the removed token must be refused")
		Consistently(func() string { return fetch(cg).Status.Notification }, "1s").ShouldNot(Equal(refusedNote))
	})

	It("reports credentials IM stops accepting (revoked in the console) on the ChatApp, and asks again every CredentialsRetry", func() {
		startOperator(func(o *controllers.Options, _ *webhookserver.Options) { o.CredentialsRetry = 3 * time.Second })
		DeferCleanup(func() { startOperator(nil) })
		r := newOtherApp("app-revoked")
		r.serve(nil)
		cg := newChatGroup(newNamespace(), "revoked", uniq("revoked"), func(s *imv1alpha1.ChatGroupSpec) { inApp(r.name)(s); s.Type = "Public" })
		waitSynced(cg)

		By("IM refusing the key the Secret still holds")
		r.fake.SetSecretKey("revoked-in-the-console-0123456789")
		update(cg, func(cg *imv1alpha1.ChatGroup) { cg.Spec.Name = ptr("after the revocation") })
		Eventually(func() string { return condition(imv1alpha1.ConditionReady)(fetch(cg)) }, "20s").Should(Equal("False/CredentialsInvalid"))
		Eventually(appReady(r.name), "20s").Should(Equal("False/CredentialsInvalid"))
		ca := &imv1alpha1.ChatApp{}
		Expect(k8s.Get(ctx, client.ObjectKey{Name: r.name}, ca)).To(Succeed())
		msg := meta.FindStatusCondition(ca.Status.Conditions, imv1alpha1.ConditionReady).Message
		Expect(msg).To(ContainSubstring("IM console"))
		Expect(msg).NotTo(ContainSubstring(r.key))

		By("IM accepting the key again, with no change to the Secret")
		r.fake.SetSecretKey(r.key)
		Eventually(appReady(r.name), "20s").Should(Equal("True/Available"))
		Eventually(func() string { g, _ := r.fake.Group(cg.Spec.GroupID); return g.Name }, "20s").Should(Equal("after the revocation"))
		waitSynced(cg)
	})

	It("without a default app, a ChatGroup without appRef reports NoApp and makes no call", func() {
		startOperator(func(_ *controllers.Options, w *webhookserver.Options) { w.SDKAppID, w.Token = 0, "" })
		DeferCleanup(func() { startOperator(nil) })
		ns := newNamespace()
		before := restCalls()
		cg := newChatGroup(ns, "no-app", uniq("noapp"), func(s *imv1alpha1.ChatGroupSpec) { s.Type = "Public" })
		Eventually(func() string { return condition(imv1alpha1.ConditionReady)(fetch(cg)) }, "20s").Should(Equal("False/NoApp"))
		resyncNow()
		Expect(restCalls()).To(Equal(before))
	})
})
