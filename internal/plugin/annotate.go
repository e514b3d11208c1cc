package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// resync, pause and resume each set or remove one annotation on the named
// ChatGroups, or on every ChatGroup of the namespace (--all) or the cluster
// (--all -A). What they share is here.

// checkNamesOrAll refuses a command line that names no ChatGroup, or names
// some and also asks for all of them.
func checkNamesOrAll(names []string, all, allNamespaces bool) error {
	switch {
	case all && len(names) > 0:
		return errors.New("give ChatGroup names or --all, not both")
	case !all && len(names) == 0:
		return errors.New("give one or more ChatGroup names, or --all")
	case allNamespaces && !all:
		return errors.New("--all-namespaces goes with --all")
	}
	return nil
}

// annotationPatch is a JSON merge patch that touches only the annotation
// key: it sets it to value, or removes it when value is nil. It carries no
// resourceVersion, so it never conflicts and never overwrites another field.
func annotationPatch(key string, value *string) ([]byte, error) {
	return json.Marshal(map[string]any{"metadata": map[string]any{
		"annotations": map[string]*string{key: value},
	}})
}

// annotateOp is one annotation change applied to ChatGroups and how it is
// reported.
type annotateOp struct {
	patch []byte
	// done follows "chatgroup.im.chatgroup.dev/NAME " for each named ChatGroup.
	done string
	// summary reports the count of ChatGroups with --all ("%d").
	summary string
	// before ends an error: "(%d of %d <before> before it)".
	before string
}

// patchChatGroups applies op to the named ChatGroups of the namespace, or
// with no names to every ChatGroup of the namespace (of the cluster with
// allNamespaces). It stops at the first failure and says how many were
// patched before it.
func patchChatGroups(ctx context.Context, r *root, names []string, allNamespaces bool, op annotateOp) error {
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
	done := 0
	for _, k := range keys {
		cg := &imv1alpha1.ChatGroup{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}
		if err := c.Patch(ctx, cg, client.RawPatch(types.MergePatchType, op.patch)); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w after %d of %d ChatGroups", errInterrupted, done, len(keys))
			}
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("chatgroup %s/%s not found (%d of %d %s before it)", k.Namespace, k.Name, done, len(keys), op.before)
			}
			return fmt.Errorf("chatgroup %s/%s: %w (%d of %d %s before it)", k.Namespace, k.Name, clusterErr(err), done, len(keys), op.before)
		}
		done++
		if len(names) > 0 {
			if err := writeAll(r.env.IO.Out, []byte("chatgroup.im.chatgroup.dev/"+k.Name+" "+op.done+"\n")); err != nil {
				return err
			}
		}
	}
	if len(names) == 0 {
		return writeAll(r.env.IO.Out, fmt.Appendf(nil, op.summary+"\n", done))
	}
	return nil
}
