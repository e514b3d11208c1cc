package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// poisonGroups is how many active groups the poison phase runs.
const poisonGroups = 300

// poisonResult is the poison phase: the same load on the same 300 groups,
// once clean and once with one group whose every status write the API
// server refuses. The figures of interest are the other 299 groups'.
type poisonResult struct {
	Group   string       `json:"poisonedGroup"`
	Reason  string       `json:"refusal"`
	Clean   stepResult   `json:"clean"`
	Poison  stepResult   `json:"poisoned"`
	Refused int64        `json:"poisonedWritesRefused"`
	Rows    []stepResult `json:"-"`
}

// poison runs the phase. The poisoned group is excluded from staleness,
// refresh gaps and verification (its status cannot change); its callbacks
// are still sent and accepted, so the writer keeps trying it.
func (h *harness) poison(ctx context.Context, groups []*group, realistic bool) (*poisonResult, error) {
	n := min(poisonGroups, len(groups))
	victim := groups[n/2]
	m := &model{groups: groups, active: n, realistic: realistic, track: true, appID: appID, token: token}
	res := &poisonResult{Group: victim.name, Reason: "413 RequestEntityTooLarge from a ValidatingAdmissionPolicy on UPDATE chatgroups/status of a ChatGroup labelled " + poisonLabel}

	// The policy is in force in both runs (it is evaluated on every status
	// write), so the two differ only by the label on one group.
	undo, err := h.installPolicy(ctx)
	if err != nil {
		return nil, err
	}
	defer undo()
	res.Clean = h.step(ctx, "poison-clean", h.ours, m, h.cfg.PoisonRate, h.cfg.PoisonDur, 3000)
	logf("%s", rowText(res.Clean))

	if err := h.setPoisoned(ctx, victim.name); err != nil {
		return nil, err
	}
	victim.mu.Lock()
	victim.poisoned, victim.acks, victim.prio = true, nil, nil
	victim.mu.Unlock()
	before, _ := h.ours.stats()
	res.Poison = h.step(ctx, "poison", h.ours, m, h.cfg.PoisonRate, h.cfg.PoisonDur, 3001)
	if after, err := h.ours.stats(); err == nil {
		res.Refused = after.Writer.Errors - before.Writer.Errors
	}
	logf("%s", rowText(res.Poison))
	return res, nil
}

// poisonLabel marks the ChatGroup whose status writes the policy refuses.
const poisonLabel = "bench.chatgroup.dev/poisoned"

// installPolicy makes the API server refuse every status write of a
// ChatGroup with poisonLabel, as it would refuse an object grown past its
// limits, and waits until the policy is in force. undo removes it.
func (h *harness) installPolicy(ctx context.Context) (undo func(), err error) {
	const policy = "bench-poison"
	pol := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: policy},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
						Rule: admissionregistrationv1.Rule{
							APIGroups:   []string{imv1alpha1.GroupVersion.Group},
							APIVersions: []string{"*"},
							Resources:   []string{"chatgroups/status"},
						},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("!has(object.metadata.labels) || !(%q in object.metadata.labels)", poisonLabel),
				Reason:     ptr.To(metav1.StatusReasonRequestEntityTooLarge),
				Message:    "bench: this ChatGroup's status writes are refused",
			}},
		},
	}
	bind := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
		},
	}
	if err := h.c.Create(ctx, pol); err != nil {
		return nil, fmt.Errorf("creating the ValidatingAdmissionPolicy: %w", err)
	}
	if err := h.c.Create(ctx, bind); err != nil {
		_ = h.c.Delete(ctx, pol)
		return nil, fmt.Errorf("creating the ValidatingAdmissionPolicyBinding: %w", err)
	}
	undo = func() {
		_ = h.c.Delete(context.Background(), bind)
		_ = h.c.Delete(context.Background(), pol)
	}
	// The API server loads policies asynchronously: probe with a labelled
	// ChatGroup of its own (not one the load uses) until its status write is
	// refused.
	probe := &imv1alpha1.ChatGroup{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bench-poison-probe", Labels: map[string]string{poisonLabel: "true"}},
		Spec: imv1alpha1.ChatGroupSpec{GroupID: "@TGS#BENCHPROBE", Type: imv1alpha1.GroupTypePublic,
			ManagementPolicy: imv1alpha1.ManagementPolicyObserve},
	}
	if err := h.c.Create(ctx, probe); err != nil {
		undo()
		return nil, fmt.Errorf("creating the probe ChatGroup: %w", err)
	}
	undoPolicy := undo
	undo = func() {
		undoPolicy()
		_ = h.c.Delete(context.Background(), probe)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cg := &imv1alpha1.ChatGroup{}
		if err := h.c.Get(ctx, client.ObjectKeyFromObject(probe), cg); err != nil {
			undo()
			return nil, err
		}
		cg.Status.LastMessageFrom = fmt.Sprintf("bench-probe-%d", time.Now().UnixNano())
		err := h.c.Status().Update(ctx, cg)
		if apierrors.IsRequestEntityTooLargeError(err) {
			logf("the ValidatingAdmissionPolicy is in force: %v", err)
			return undo, nil
		}
		if time.Now().After(deadline) {
			undo()
			return nil, fmt.Errorf("the ValidatingAdmissionPolicy did not take effect in 60 s (last answer: %w)", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// setPoisoned labels the ChatGroup name: from then on the API server
// refuses its status writes (admission reads the stored labels).
func (h *harness) setPoisoned(ctx context.Context, name string) error {
	cg := &imv1alpha1.ChatGroup{}
	if err := h.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cg); err != nil {
		return err
	}
	patch := client.MergeFrom(cg.DeepCopy())
	if cg.Labels == nil {
		cg.Labels = map[string]string{}
	}
	cg.Labels[poisonLabel] = "true"
	return h.c.Patch(ctx, cg, patch)
}

// poisonMarkdown is the poison phase's section of report.md.
func poisonMarkdown(b *bytes.Buffer, p *poisonResult, cfg config) {
	fmt.Fprintf(b, "\n### One poisoned group among %d\n\n", poisonGroups)
	fmt.Fprintf(b, "%d active groups, %.0f callbacks/s for %v, run twice: clean, then with %s refused on every status write (%s). Figures for the other %d groups; the poisoned group's refused writes: %d.\n\n",
		poisonGroups, cfg.PoisonRate, cfg.PoisonDur, p.Group, p.Reason, poisonGroups-1, p.Refused)
	b.WriteString("| run | achieved/s | ack p99 ms | status writes/s (attempts) | others' updates persisted/s (watch) | others' staleness p50/p99/max ms | others' longest time without a refresh | others not refreshed for 10 s | lost |\n")
	b.WriteString("|---|---:|---:|---:|---:|---|---:|---:|---:|\n")
	for _, r := range []stepResult{p.Clean, p.Poison} {
		fmt.Fprintf(b, "| %s | %.0f | %.2f | %.1f | %.1f | %.0f / %.0f / %.0f | %.1f s | %d | %d |\n",
			r.Phase, r.Achieved, r.P99ms, r.WritesPerSec, r.PersistedPerSec, r.StaleP50ms, r.StaleP99ms, r.StaleMaxms, r.MaxRefreshGapS, r.GroupsGap10s, r.Lost)
	}
}
