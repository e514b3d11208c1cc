package plugin

import (
	"context"

	"github.com/spf13/cobra"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

func newPauseCommand(r *root) *cobra.Command {
	var all, allNamespaces bool
	cmd := &cobra.Command{
		Use:   "pause (NAME... | --all)",
		Short: "Stop every IM REST call for ChatGroups until they are resumed",
		Long: `pause sets the ` + imv1alpha1.AnnotationPaused + ` annotation to "true" on the named
ChatGroups (or on every ChatGroup of the namespace with --all). While it is
set, the operator makes no IM REST call for the ChatGroup: no push of spec
changes, no read, no resync, no destroy. Callbacks from IM are still
recorded in its status. Its Synced condition turns False with reason
` + imv1alpha1.ReasonPaused + `.

A paused ChatGroup with deletionPolicy Delete is not deleted until it is
resumed: its group is not destroyed and the ChatGroup stays Terminating.

Only that annotation is patched; pausing a paused ChatGroup changes
nothing. kubectl chatgroup resume ends the pause.`,
		Example: `  kubectl chatgroup pause release-announcements -n chat
  kubectl chatgroup pause --all -n chat
  kubectl chatgroup pause --all -A`,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNamesOrAll(args, all, allNamespaces); err != nil {
				return err
			}
			return runPause(c.Context(), r, args, allNamespaces)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every ChatGroup of the namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "with --all: every namespace")
	return cmd
}

func newResumeCommand(r *root) *cobra.Command {
	var all, allNamespaces bool
	cmd := &cobra.Command{
		Use:   "resume (NAME... | --all)",
		Short: "End the pause of ChatGroups: the operator reads their groups at once",
		Long: `resume removes the ` + imv1alpha1.AnnotationPaused + ` annotation from the named
ChatGroups (or from every ChatGroup of the namespace with --all). The
operator reads each group through the IM REST API at once and from then on
pushes, reads, resyncs and destroys it as before; a ChatGroup with
deletionPolicy Delete that was deleted while paused is deleted then.

Only that annotation is patched; resuming a ChatGroup that is not paused
changes nothing.`,
		Example: `  kubectl chatgroup resume release-announcements -n chat
  kubectl chatgroup resume --all -n chat
  kubectl chatgroup resume --all -A`,
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkNamesOrAll(args, all, allNamespaces); err != nil {
				return err
			}
			return runResume(c.Context(), r, args, allNamespaces)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "every ChatGroup of the namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "with --all: every namespace")
	return cmd
}

func runPause(ctx context.Context, r *root, names []string, allNamespaces bool) error {
	value := "true"
	patch, err := annotationPatch(imv1alpha1.AnnotationPaused, &value)
	if err != nil {
		return err
	}
	return patchChatGroups(ctx, r, names, allNamespaces, annotateOp{
		patch:   patch,
		done:    "paused",
		summary: "paused %d ChatGroups",
		before:  "paused",
	})
}

func runResume(ctx context.Context, r *root, names []string, allNamespaces bool) error {
	// null in a merge patch removes the key; on a ChatGroup without it,
	// the patch changes nothing.
	patch, err := annotationPatch(imv1alpha1.AnnotationPaused, nil)
	if err != nil {
		return err
	}
	return patchChatGroups(ctx, r, names, allNamespaces, annotateOp{
		patch:   patch,
		done:    "resumed",
		summary: "resumed %d ChatGroups",
		before:  "resumed",
	})
}
