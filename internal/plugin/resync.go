package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"

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
			if err := checkNamesOrAll(args, all, allNamespaces); err != nil {
				return err
			}
			return runResync(c.Context(), r, args, allNamespaces)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every ChatGroup of the namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "with --all: every namespace")
	return cmd
}

func runResync(ctx context.Context, r *root, names []string, allNamespaces bool) error {
	// One value for the whole request: the operator compares it with the
	// last one it handled, so any new value asks for one read.
	value := time.Now().UTC().Format(time.RFC3339Nano)
	patch, err := annotationPatch(imv1alpha1.AnnotationResyncRequestedAt, &value)
	if err != nil {
		return err
	}
	return patchChatGroups(ctx, r, names, allNamespaces, annotateOp{
		patch:   patch,
		done:    "resync requested",
		summary: "resync requested for %d ChatGroups",
		before:  "requested",
	})
}
