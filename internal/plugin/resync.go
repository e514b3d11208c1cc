package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

func newResyncCommand(r *root) *cobra.Command {
	var all, allNamespaces bool
	cmd := &cobra.Command{
		Use:   "resync (NAME... | --all)",
		Short: "Ask the operator to read ChatGroups back from IM now",
		Long: `resync sets the ` + imv1alpha1.AnnotationResyncRequestedAt + ` annotation to
the current time on the named ChatGroups (or on every ChatGroup of the
namespace with --all). The operator reads each group through the IM REST
API at once instead of waiting for the periodic resync.`,
		Example: `  kubectl chatgroup resync release-announcements -n chat
  kubectl chatgroup resync --all -n chat
  kubectl chatgroup resync --all -A`,
		RunE: func(c *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return errors.New("give ChatGroup names or --all, not both")
			case !all && len(args) == 0:
				return errors.New("give one or more ChatGroup names, or --all")
			case allNamespaces && !all:
				return errors.New("--all-namespaces goes with --all")
			}
			return runResync(c.Context(), r, args, allNamespaces)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every ChatGroup of the namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "with --all: every namespace")
	return cmd
}

func runResync(ctx context.Context, r *root, names []string, allNamespaces bool) error {
	c, err := r.client()
	if err != nil {
		return err
	}
	ns, _, err := r.namespace()
	if err != nil {
		return err
	}
	var keys []types.NamespacedName
	if len(names) > 0 {
		for _, n := range names {
			keys = append(keys, types.NamespacedName{Namespace: ns, Name: n})
		}
	} else {
		var list imv1alpha1.ChatGroupList
		var opts []client.ListOption
		if !allNamespaces {
			opts = append(opts, client.InNamespace(ns))
		}
		if err := c.List(ctx, &list, opts...); err != nil {
			if meta.IsNoMatchError(err) {
				return fmt.Errorf("the ChatGroup CRD is not installed in this cluster")
			}
			return fmt.Errorf("listing ChatGroups: %w", clusterErr(err))
		}
		for _, cg := range list.Items {
			keys = append(keys, types.NamespacedName{Namespace: cg.Namespace, Name: cg.Name})
		}
	}
	// One value for the whole request: the operator compares it with the
	// last one it handled, so any new value asks for one read.
	value := time.Now().UTC().Format(time.RFC3339Nano)
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{imv1alpha1.AnnotationResyncRequestedAt: value},
	}})
	if err != nil {
		return err
	}
	done := 0
	for _, k := range keys {
		cg := &imv1alpha1.ChatGroup{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}
		if err := c.Patch(ctx, cg, client.RawPatch(types.MergePatchType, patch)); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w after %d of %d ChatGroups", errInterrupted, done, len(keys))
			}
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("chatgroup %s/%s not found (%d of %d requested before it)", k.Namespace, k.Name, done, len(keys))
			}
			return fmt.Errorf("chatgroup %s/%s: %w (%d of %d requested before it)", k.Namespace, k.Name, clusterErr(err), done, len(keys))
		}
		done++
		if len(names) > 0 {
			if err := writeAll(r.env.IO.Out, []byte("chatgroup.im.chatgroup.dev/"+k.Name+" resync requested\n")); err != nil {
				return err
			}
		}
	}
	if len(names) == 0 {
		return writeAll(r.env.IO.Out, fmt.Appendf(nil, "resync requested for %d ChatGroups\n", done))
	}
	return nil
}
