package plugin

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// maxFailingShown keeps status to one screen; the rest are counted.
const maxFailingShown = 20

func newStatusCommand(r *root) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Per app: how many ChatGroups are Ready, Synced, UpToDate, failing, in conflict and paused, with the failing ones named",
		Long: `status counts the ChatGroups of each app by condition and names the failing
ones: those whose Ready or Synced condition is False (a missing group, refused
credentials, a value IM rejected, a rate limit, a conflict). Ready, Synced and
UpToDate count the ChatGroups whose condition is True; PENDING counts those
the operator has not reported on yet.

IN-CONFLICT counts the failing ChatGroups whose Ready condition is False with
reason ` + imv1alpha1.ReasonConflict + `: another Enforce ChatGroup owns the same group (the
message names it). PAUSED counts those whose Synced condition is False with
reason ` + imv1alpha1.ReasonPaused + ` (kubectl chatgroup pause); a pause is asked for, so
it alone does not make a ChatGroup failing.`,
		Example: `  kubectl chatgroup status -A
  kubectl chatgroup status -n chat`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runStatus(c.Context(), r, all) },
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "every namespace instead of the current one")
	return cmd
}

type appCounts struct {
	groups, ready, synced, upToDate, failing, conflict, paused, pending int
}

type failing struct {
	cg     *imv1alpha1.ChatGroup
	cond   metav1.Condition
	appKey string
}

func runStatus(ctx context.Context, r *root, all bool) error {
	c, err := r.client()
	if err != nil {
		return err
	}
	var opts []client.ListOption
	if !all {
		ns, _, err := r.namespace()
		if err != nil {
			return err
		}
		opts = append(opts, client.InNamespace(ns))
	}
	var list imv1alpha1.ChatGroupList
	if err := c.List(ctx, &list, opts...); err != nil {
		if meta.IsNoMatchError(err) {
			return fmt.Errorf("the ChatGroup CRD is not installed in this cluster")
		}
		return fmt.Errorf("listing ChatGroups: %w", clusterErr(err))
	}
	counts := map[string]*appCounts{}
	var fails []failing
	for i := range list.Items {
		cg := &list.Items[i]
		app := apps.NameOf(cg) // as the operator and its metrics name it
		n := counts[app]
		if n == nil {
			n = &appCounts{}
			counts[app] = n
		}
		n.groups++
		ready := meta.FindStatusCondition(cg.Status.Conditions, imv1alpha1.ConditionReady)
		synced := meta.FindStatusCondition(cg.Status.Conditions, imv1alpha1.ConditionSynced)
		upToDate := meta.FindStatusCondition(cg.Status.Conditions, imv1alpha1.ConditionUpToDate)
		if ready == nil && synced == nil {
			n.pending++
		}
		if isTrue(ready) {
			n.ready++
		}
		if isTrue(synced) {
			n.synced++
		}
		if isTrue(upToDate) {
			n.upToDate++
		}
		if isFalseFor(ready, imv1alpha1.ReasonConflict) {
			n.conflict++
		}
		paused := isFalseFor(synced, imv1alpha1.ReasonPaused)
		if paused {
			n.paused++
		}
		// Ready is the more telling reason (GroupNotFound, Conflict) when
		// both are False. Synced False for a pause is what the user asked
		// for, not a failure.
		for _, cond := range []*metav1.Condition{ready, synced} {
			if cond == synced && paused {
				continue
			}
			if cond != nil && cond.Status == metav1.ConditionFalse {
				n.failing++
				fails = append(fails, failing{cg: cg, cond: *cond, appKey: app})
				break
			}
		}
	}

	// The table is built in memory and written with one call; the
	// tabwriter writes to a strings.Builder, which cannot fail.
	var b strings.Builder
	if len(list.Items) == 0 {
		where := "in this namespace"
		if all {
			where = "in the cluster"
		}
		return writeAll(r.env.IO.Out, []byte("No ChatGroups "+where+".\n"))
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	_, _ = fmt.Fprintln(tw, "APP\tGROUPS\tREADY\tSYNCED\tUP-TO-DATE\tFAILING\tIN-CONFLICT\tPAUSED\tPENDING")
	apps := make([]string, 0, len(counts))
	for a := range counts {
		apps = append(apps, a)
	}
	slices.Sort(apps)
	for _, a := range apps {
		n := counts[a]
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", a, n.groups, n.ready, n.synced, n.upToDate, n.failing, n.conflict, n.paused, n.pending)
	}
	_ = tw.Flush()
	if len(fails) > 0 {
		slices.SortFunc(fails, func(a, b failing) int {
			return strings.Compare(a.appKey+"/"+a.cg.Namespace+"/"+a.cg.Name, b.appKey+"/"+b.cg.Namespace+"/"+b.cg.Name)
		})
		fmt.Fprintf(&b, "\nFailing (%d):\n", len(fails))
		tw = tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
		_, _ = fmt.Fprintln(tw, "APP\tNAMESPACE\tNAME\tGROUP-ID\tCONDITION\tREASON\tMESSAGE")
		for _, f := range fails[:min(len(fails), maxFailingShown)] {
			_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.appKey, f.cg.Namespace, f.cg.Name, f.cg.Spec.GroupID,
				f.cond.Type, f.cond.Reason, truncate(oneLine(f.cond.Message), 80))
		}
		_ = tw.Flush()
		if len(fails) > maxFailingShown {
			fmt.Fprintf(&b, "... and %d more: kubectl get chatgroups -A\n", len(fails)-maxFailingShown)
		}
	}
	return writeAll(r.env.IO.Out, []byte(b.String()))
}

func isTrue(c *metav1.Condition) bool { return c != nil && c.Status == metav1.ConditionTrue }

// isFalseFor reports whether c is False with the given reason.
func isFalseFor(c *metav1.Condition, reason string) bool {
	return c != nil && c.Status == metav1.ConditionFalse && c.Reason == reason
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
