package reliability

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/tim"
	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

// rotatingApp is one IM app under a callback flood whose signing token the
// test switches, with what the operator is told (the Secret, or the token
// file) tracked as the set of listed tokens.
type rotatingApp struct {
	name    string
	appID   uint64
	fake    *timfake.Server
	groups  []string // flooded
	probeID string   // probed with a token before the flood signs with it

	mu       sync.Mutex
	signWith string          // the token the flood signs with now
	listed   map[string]bool // the tokens in the Secret or file now
	inFlight map[string]int  // flood requests not yet answered, per token
	maxSeq   map[string]int64
	probeSeq int64
	sent     int
	codes    map[int]int
	noAnswer int
	// accepted and refused flood callbacks per token; refusedListed counts
	// refusals of callbacks whose token was listed both when sent and when
	// answered (must stay zero).
	accepted, refused map[string]int
	refusedListed     int
	probes            map[int]int // probe answers
}

func newRotatingApp(name string, appID uint64, f *timfake.Server, token string, groups []string) *rotatingApp {
	return &rotatingApp{name: name, appID: appID, fake: f, groups: groups, probeID: name + "-probe",
		signWith: token, listed: map[string]bool{token: true}, inFlight: map[string]int{},
		maxSeq: map[string]int64{}, codes: map[int]int{}, accepted: map[string]int{}, refused: map[string]int{},
		probes: map[int]int{}}
}

// send posts one message callback, signed with the token the flood uses now.
func (a *rotatingApp) send(url, groupID string, seq int64) {
	a.mu.Lock()
	token := a.signWith
	listedAtSend := a.listed[token]
	a.inFlight[token]++
	a.sent++
	a.mu.Unlock()
	code, err := postAs(url, a.appID, token, timfake.CmdAfterSendMsg, msgBody(groupID, seq, "flooder"))
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight[token]--
	switch {
	case err != nil:
		a.noAnswer++
		return
	case code == http.StatusOK:
		a.maxSeq[groupID] = max(a.maxSeq[groupID], seq)
		a.accepted[token]++
	case code == http.StatusUnauthorized:
		a.refused[token]++
		if listedAtSend && a.listed[token] {
			a.refusedListed++
		}
	}
	a.codes[code]++
}

// flood sends from one goroutine per group, in order, until stop is closed.
func (a *rotatingApp) flood(url string, pace time.Duration, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, g := range a.groups {
		wg.Go(func() {
			defer GinkgoRecover()
			for n := int64(1); ; n++ {
				select {
				case <-stop:
					return
				case <-ctx.Done():
					return
				default:
				}
				a.send(url, g, n)
				time.Sleep(pace) // pacing, not waiting: keeps 2 cores for the API server
			}
		})
	}
	return &wg
}

// probe posts one message callback for the probe group signed with token
// and returns the answer; an accepted probe's seq must reach status too.
func (a *rotatingApp) probe(url, token string) (int, error) {
	a.mu.Lock()
	a.probeSeq++
	seq := a.probeSeq
	a.mu.Unlock()
	code, err := postAs(url, a.appID, token, timfake.CmdAfterSendMsg, msgBody(a.probeID, seq, "prober"))
	if err != nil {
		return 0, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.probes[code]++
	if code == http.StatusOK {
		a.maxSeq[a.probeID] = max(a.maxSeq[a.probeID], seq)
	}
	return code, nil
}

func (a *rotatingApp) setListed(tokens ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.listed = map[string]bool{}
	for _, t := range tokens {
		a.listed[t] = true
	}
}

func (a *rotatingApp) switchTo(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signWith = token
}

func (a *rotatingApp) acceptedWith(token string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.accepted[token]
}

func (a *rotatingApp) inFlightWith(token string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inFlight[token]
}

// writeFileAtomic replaces path by a rename, as the kubelet swaps a
// mounted Secret: a reader sees the old content or the new, never half.
func writeFileAtomic(path, content string) {
	GinkgoHelper()
	tmp := path + ".tmp"
	Expect(os.WriteFile(tmp, []byte(content), 0o600)).To(Succeed())
	Expect(os.Rename(tmp, path)).To(Succeed())
}

// writeSecret creates or replaces the Secret's data.
func writeSecret(ns, name string, data map[string]string) {
	GinkgoHelper()
	Eventually(func() error {
		cur := &corev1.Secret{}
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cur)
		if apierrors.IsNotFound(err) {
			return k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: data})
		}
		if err != nil {
			return err
		}
		cur.Data, cur.StringData = nil, data
		return k8s.Update(ctx, cur)
	}).WithTimeout(10 * time.Second).Should(Succeed())
}

var _ = Describe("credential rotation under a callback flood", Ordered, func() {
	const (
		appB  = "rel-rotation"
		appID = uint64(sdkAppID)
		bID   = uint64(sdkAppID + 1)
		keyA0 = "rotation-default-key-0123456789"
		keyA1 = "rotation-default-key-rotated-987654"
		tokA0 = "rotation-default-token-old"
		tokA1 = "rotation-default-token-new"
		keyB0 = "rotation-chatapp-key-0123456789"
		keyB1 = "rotation-chatapp-key-rotated-987654"
		tokB0 = "rotation-chatapp-token-old"
		tokB1 = "rotation-chatapp-token-new"
	)
	var (
		ns, opNS             string
		m                    *managerProc
		a, b                 *rotatingApp
		endpoint             string
		specTokens, specKeys string
	)
	groupsA := []string{"rel-rot-a-1", "rel-rot-a-2", "rel-rot-a-3"}
	groupsB := []string{"rel-rot-b-1", "rel-rot-b-2", "rel-rot-b-3"}

	// synced waits until the ChatGroup of id has the name in its app's fake
	// and reports Synced=True for its current generation.
	synced := func(f *timfake.Server, id, name string) {
		GinkgoHelper()
		awaitSyncedName(f, ns, id, name, 60*time.Second)
	}
	rename := func(id, name string) {
		GinkgoHelper()
		setSpecName(ns, id, name)
	}
	appReady := func() string {
		ca := &imv1alpha1.ChatApp{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: appB}, ca); err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(ca.Status.Conditions, imv1alpha1.ConditionReady); c != nil {
			return string(c.Status) + "/" + c.Reason
		}
		return ""
	}
	// oldKeyRefused checks that the fake really stopped accepting old.
	oldKeyRefused := func(id uint64, old string) {
		GinkgoHelper()
		c, err := tim.New(tim.Config{Endpoint: endpoint, SDKAppID: id, SecretKey: old, QPS: 100})
		Expect(err).NotTo(HaveOccurred())
		_, err = c.GetGroupInfo(context.Background(), []string{"rel-rot-none"})
		Expect(err).To(HaveOccurred(), "app %d still accepts its old key", id)
	}

	BeforeAll(func() {
		ns, opNS = newNamespace(), newNamespace()
		fa := timfake.New(timfake.Options{SDKAppID: appID, SecretKey: keyA0, AdminIdentifier: "administrator", CallbackToken: tokA0, Seed: 7})
		fb := timfake.New(timfake.Options{SDKAppID: bID, SecretKey: keyB0, AdminIdentifier: "administrator", CallbackToken: tokB0, Seed: 8})
		both, err := timfake.NewApps(fa, fb)
		Expect(err).NotTo(HaveOccurred())
		srv := httptest.NewServer(both)
		endpoint = srv.URL
		DeferCleanup(func() { srv.Close(); fa.Close(); fb.Close() })
		a = newRotatingApp("rel-rot-a", appID, fa, tokA0, groupsA)
		b = newRotatingApp("rel-rot-b", bID, fb, tokB0, groupsB)

		// The default app's files are the spec's own: the suite's stay as
		// they are for the other specs.
		specTokens, specKeys = filepath.Join(workDir, "rotation-token"), filepath.Join(workDir, "rotation-key")
		writeFileAtomic(specTokens, tokA0)
		writeFileAtomic(specKeys, keyA0)

		writeSecret(opNS, appB+"-credentials", map[string]string{
			imv1alpha1.SecretKeySecretKey: keyB0, imv1alpha1.SecretKeyCallbackToken: tokB0})
		ca := &imv1alpha1.ChatApp{ObjectMeta: metav1.ObjectMeta{Name: appB}, Spec: imv1alpha1.ChatAppSpec{
			SDKAppID: int64(bID), Endpoint: endpoint,
			ResyncInterval:       &metav1.Duration{Duration: time.Hour},
			CredentialsSecretRef: imv1alpha1.SecretReference{Name: appB + "-credentials"},
		}}
		Expect(k8s.Create(ctx, ca)).To(Succeed())
		DeferCleanup(func() { _ = k8s.Delete(context.Background(), ca) })

		// The periodic resync is far away in both apps: status moves by the
		// flood's callbacks and the spec's own REST calls only.
		m = startManager("rotation", managerOpts{secret: true, resync: time.Hour, operatorNS: opNS,
			tokenFile: specTokens, keyFile: specKeys, imEndpoint: endpoint})
		Eventually(appReady).WithTimeout(30 * time.Second).Should(Equal("True/Available"))

		for _, app := range []*rotatingApp{a, b} {
			for _, id := range append(slices.Clone(app.groups), app.probeID) {
				_, err := app.fake.User("rotowner", "iOS").CreateGroup(timfake.GroupSpec{Type: "Public", GroupID: id, Name: "start"})
				Expect(err).NotTo(HaveOccurred())
				newChatGroup(ns, id, imv1alpha1.ManagementPolicyEnforce, func(cg *imv1alpha1.ChatGroup) {
					cg.Spec.Name = ptr.To("n0")
					if app == b {
						cg.Spec.AppRef = &imv1alpha1.AppReference{Name: appB}
					}
				})
			}
		}
		// Removed while this manager still runs (it removes the finalizers):
		// later specs' managers serve the default app against the suite's
		// fake and would otherwise push these Enforce groups into it.
		DeferCleanup(func() {
			Expect(k8s.DeleteAllOf(context.Background(), &imv1alpha1.ChatGroup{}, client.InNamespace(ns))).To(Succeed())
			Eventually(func() ([]imv1alpha1.ChatGroup, error) {
				l := &imv1alpha1.ChatGroupList{}
				err := k8s.List(context.Background(), l, client.InNamespace(ns))
				return l.Items, err
			}).WithTimeout(60 * time.Second).Should(BeEmpty())
		})
		for _, app := range []*rotatingApp{a, b} {
			for _, id := range append(slices.Clone(app.groups), app.probeID) {
				synced(app.fake, id, "n0")
			}
		}
	})

	It("rotate the callback token and the secret key in the middle of a callback flood on two apps: no accepted callback lost, no refused callback signed with a listed token", func() {
		stop := make(chan struct{})
		wa := a.flood(m.callbackURL, 20*time.Millisecond, stop)
		wb := b.flood(m.callbackURL, 20*time.Millisecond, stop)
		stopped := false
		stopFloods := func() {
			if !stopped {
				stopped = true
				close(stop)
				wa.Wait()
				wb.Wait()
			}
		}
		DeferCleanup(stopFloods)
		// atLeast waits until n more flood callbacks signed with token
		// were accepted.
		atLeast := func(app *rotatingApp, token string, n int) {
			GinkgoHelper()
			base := app.acceptedWith(token)
			Eventually(func() int { return app.acceptedWith(token) - base }).WithTimeout(60*time.Second).WithPolling(50*time.Millisecond).
				Should(BeNumerically(">=", n), "%s: flood callbacks accepted with %s", app.name, token)
		}
		atLeast(a, tokA0, 150)
		atLeast(b, tokB0, 150)

		By("ChatApp: the Secret lists the new token and the old one as previousCallbackToken")
		start := time.Now()
		b.setListed(tokB0, tokB1)
		writeSecret(opNS, appB+"-credentials", map[string]string{imv1alpha1.SecretKeySecretKey: keyB0,
			imv1alpha1.SecretKeyCallbackToken: tokB1, imv1alpha1.SecretKeyPreviousCallbackToken: tokB0})
		b.fake.SetCallbackToken(tokB1)
		// The flood keeps the old token (listed throughout) until a probe
		// signed with the new one is accepted.
		Eventually(func() (int, error) { return b.probe(m.callbackURL, tokB1) }).
			WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(http.StatusOK))
		bNewAccepted := time.Since(start)
		// Both are loaded now: the old one, as previousCallbackToken, must
		// keep being accepted (IM may still sign with it) before the flood
		// moves on.
		atLeast(b, tokB0, 100)
		b.switchTo(tokB1)
		atLeast(b, tokB1, 150)
		// No flood request signed with the old token is still on its way
		// when the old token is delisted.
		Eventually(func() int { return b.inFlightWith(tokB0) }).WithTimeout(10 * time.Second).Should(BeZero())

		By("ChatApp: previousCallbackToken removed")
		start = time.Now()
		b.setListed(tokB1)
		writeSecret(opNS, appB+"-credentials", map[string]string{imv1alpha1.SecretKeySecretKey: keyB0,
			imv1alpha1.SecretKeyCallbackToken: tokB1})
		Eventually(func() (int, error) { return b.probe(m.callbackURL, tokB0) }).
			WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(http.StatusUnauthorized))
		bOldRefused := time.Since(start)
		atLeast(b, tokB1, 100)

		By("ChatApp: the secret key rotated in IM and in the Secret; a rename must reach IM with the new key")
		// A REST call made between the rotation in IM and the reload is
		// refused (70009) and holds that ChatGroup's REST calls for
		// CredentialsRetry (10 min), which the reload does not lift: the
		// rename waits until the operator has checked the new key with IM
		// (one get_group_info per change of the credentials, nothing else
		// calls it now: resync 1h, no spec change pending).
		b.fake.SetSecretKey(keyB1)
		oldKeyRefused(bID, keyB0)
		verifies := b.fake.Calls("get_group_info")
		start = time.Now()
		writeSecret(opNS, appB+"-credentials", map[string]string{imv1alpha1.SecretKeySecretKey: keyB1,
			imv1alpha1.SecretKeyCallbackToken: tokB1})
		Eventually(func(g Gomega) {
			g.Expect(b.fake.Calls("get_group_info")).To(BeNumerically(">", verifies))
			g.Expect(appReady()).To(Equal("True/Available"))
		}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
		bKeyLoaded := time.Since(start)
		start = time.Now()
		rename(groupsB[0], "n1-after-key-rotation")
		synced(b.fake, groupsB[0], "n1-after-key-rotation")
		bRenamed := time.Since(start)

		By("default app: the token file rewritten (atomic rename) with the new token only")
		start = time.Now()
		a.setListed(tokA1)
		writeFileAtomic(specTokens, tokA1)
		a.fake.SetCallbackToken(tokA1)
		// The file holds one token: until the manager reads it again (5 s
		// poll) only the old one is accepted, and after, only the new one.
		// The flood keeps the old token (no longer listed) until a probe
		// signed with the new one is accepted.
		Eventually(func() (int, error) { return a.probe(m.callbackURL, tokA1) }).
			WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(http.StatusOK))
		aNewAccepted := time.Since(start)
		a.switchTo(tokA1)
		atLeast(a, tokA1, 150)
		Expect(a.probe(m.callbackURL, tokA0)).To(Equal(http.StatusUnauthorized), "the old token of the default app after the reload")

		By("default app: the secret key rotated in IM and in the key file; a rename must reach IM with the new key")
		// As for the ChatApp, the rename waits for the reload (its log line:
		// the default app's key is not checked with IM on reload).
		a.fake.SetSecretKey(keyA1)
		oldKeyRefused(appID, keyA0)
		start = time.Now()
		writeFileAtomic(specKeys, keyA1)
		Eventually(func() (int, error) {
			b, err := os.ReadFile(m.logPath)
			return bytes.Count(b, []byte(`"msg":"secret key reloaded"`)), err
		}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(1))
		aKeyLoaded := time.Since(start)
		start = time.Now()
		rename(groupsA[0], "n1-after-key-rotation")
		synced(a.fake, groupsA[0], "n1-after-key-rotation")
		aRenamed := time.Since(start)
		atLeast(a, tokA1, 100)
		atLeast(b, tokB1, 100)
		stopFloods()

		By("every accepted callback is in status; no callback signed with a listed token was refused")
		for _, app := range []*rotatingApp{a, b} {
			app.mu.Lock()
			ids := append(slices.Clone(app.groups), app.probeID)
			want := map[string]int64{}
			for _, id := range ids {
				want[id] = app.maxSeq[id]
			}
			Expect(app.noAnswer).To(BeZero(), "%s: unanswered callbacks", app.name)
			for code := range app.codes {
				Expect(code).To(BeElementOf(http.StatusOK, http.StatusUnauthorized), "%s: flood answer codes %v", app.name, app.codes)
			}
			Expect(app.refusedListed).To(BeZero(), "%s: refused callbacks signed with a listed token (refused per token %v)", app.name, app.refused)
			app.mu.Unlock()
			Eventually(func(g Gomega) {
				for _, id := range ids {
					g.Expect(getCG(ns, id).Status.LastMessageSeq).To(Equal(want[id]), "%s: lastMessageSeq of %s", app.name, id)
				}
			}).WithTimeout(30 * time.Second).Should(Succeed())
		}
		// The ChatApp's old token was listed whenever the flood used it:
		// nothing of its flood may have been refused at all.
		Expect(b.refused).To(BeEmpty(), "ChatApp flood refusals")
		Expect(a.refused[tokA1]).To(BeZero(), "default app flood refusals of the new token")
		// The rotation happened mid-flood: each app accepted callbacks
		// signed with each of its tokens.
		for _, tk := range []string{tokA0, tokA1} {
			Expect(a.accepted[tk]).To(BeNumerically(">", 0))
		}
		for _, tk := range []string{tokB0, tokB1} {
			Expect(b.accepted[tk]).To(BeNumerically(">", 0))
		}
		// The renames were the only changes of name: both other groups of
		// each app kept n0.
		for _, app := range []*rotatingApp{a, b} {
			for _, id := range app.groups[1:] {
				snap, _ := app.fake.Group(id)
				Expect(snap.Name).To(Equal("n0"))
			}
		}
		fmt.Fprintf(GinkgoWriter, "probes: default %v, ChatApp %v\n", a.probes, b.probes)
		report("Credential rotation under a flood | 1 manager serving the default app (flag files) and a ChatApp (Secret) behind one fake endpoint (timfake.Apps); message callbacks flooded on 3 groups of each app (one sequential sender per group, 50/s each); mid-flood: ChatApp token rotated with previousCallbackToken (a probe with the new token accepted %.1fs later; 100 more flood callbacks with the old one, then the flood switched), previous token removed (old token refused %.1fs later), ChatApp secret key rotated in IM and Secret (new key checked with IM %.1fs later), then a rename reached IM in %.1fs; default app token file replaced by an atomic rename (new token accepted %.1fs later; flood switched then), key file replaced (reloaded %.1fs later), then a rename reached IM in %.1fs | default app: %d sent, %d accepted (%d old token, %d new), %d refused, all signed with the old token after it left the file, 0 with a listed token; ChatApp: %d sent, %d accepted (%d old token, %d new), 0 refused; probes default %v, ChatApp %v; lastMessageSeq = max accepted seq in all 8 groups (6 flooded, 2 probe); both renames Synced=True and in IM",
			bNewAccepted.Seconds(), bOldRefused.Seconds(), bKeyLoaded.Seconds(), bRenamed.Seconds(), aNewAccepted.Seconds(), aKeyLoaded.Seconds(), aRenamed.Seconds(),
			a.sent, a.accepted[tokA0]+a.accepted[tokA1], a.accepted[tokA0], a.accepted[tokA1], a.refused[tokA0]+a.refused[tokA1],
			b.sent, b.accepted[tokB0]+b.accepted[tokB1], b.accepted[tokB0], b.accepted[tokB1], a.probes, b.probes)
	})
})
