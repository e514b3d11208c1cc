package controllers

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
	"github.com/chatgroup-operator/chatgroup-operator/internal/apps"
)

// appIndex indexes the cached ChatGroups by the app they belong to
// (apps.NameOf): an app's ChatGroups are requeued when it changes, and
// counted in its status.
const appIndex = "spec.appRef.name"

func indexApp(o client.Object) []string {
	return []string{apps.NameOf(o.(*imv1alpha1.ChatGroup))}
}

// appOf returns the app whose REST client serves cg. Without one, it
// returns the condition (Ready and Synced False) that says why: no app of
// that name (AppNotFound; a duplicate SDKAppID counts as none), no default
// app (NoApp), or an app that does not allow cg's namespace (AppNotAllowed:
// the operator then makes no REST call for cg, records no callback on it
// and never destroys its group).
func (r *Reconciler) appOf(cg *imv1alpha1.ChatGroup) (*apps.App, *metav1.Condition) {
	name := apps.NameOf(cg)
	app, dupOf, ok := r.apps.Lookup(name)
	if !ok {
		var c metav1.Condition
		switch {
		case dupOf != "":
			c = cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonAppNotFound,
				fmt.Sprintf("ChatApp %s has the SDKAppID of %s, which serves it (see the ChatApp's Ready condition); no REST call is made", name, dupOf))
		case name == apps.DefaultName: // an appRef cannot name it (API validation)
			c = cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonNoApp,
				"the ChatGroup has no spec.appRef and the operator has no default app (--sdkappid is not set); no REST call is made")
		default:
			c = cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonAppNotFound,
				fmt.Sprintf("no ChatApp named %s is loaded; no REST call is made until it is", name))
		}
		return nil, &c
	}
	if !app.Allows(cg.Namespace) {
		c := cond(imv1alpha1.ConditionReady, false, imv1alpha1.ReasonAppNotAllowed,
			fmt.Sprintf("ChatApp %s does not list namespace %s in spec.allowedNamespaces: the operator makes no REST call for this ChatGroup, records no callback on it and never destroys its group", name, cg.Namespace))
		return nil, &c
	}
	return app, nil
}

// appLoadWait is how soon a ChatGroup whose ChatApp exists but is not
// loaded yet is looked at again.
const appLoadWait = time.Second

// appLoading reports a ChatGroup whose ChatApp exists in the cache but is
// not in the registry yet: right after a start, before the ChatApp
// controller has read its Secret. Reporting AppNotFound then would flip
// every such ChatGroup to not Ready on every restart.
func (r *Reconciler) appLoading(ctx context.Context, cg *imv1alpha1.ChatGroup) bool {
	name := apps.NameOf(cg)
	if name == apps.DefaultName {
		return false // the default app is registered before anything starts
	}
	if r.apps.Has(name) {
		return false
	}
	err := r.client.Get(ctx, client.ObjectKey{Name: name}, &imv1alpha1.ChatApp{})
	return err == nil
}

// appBlocked reports a Synced reason that means the last pass had no app
// to call: the first pass with one reads the group at once.
func appBlocked(reason string) bool {
	switch reason {
	case imv1alpha1.ReasonAppNotFound, imv1alpha1.ReasonNoApp, imv1alpha1.ReasonAppNotAllowed:
		return true
	}
	return false
}

// requeueApp hands every ChatGroup of the app named name to the
// controller: the app appeared, went, or changed (credentials, allowed
// namespaces), and their conditions may be out of date. It runs on the
// registry's notification, off the caller's goroutine.
func (r *Reconciler) requeueApp(ctx context.Context, name string) {
	var list imv1alpha1.ChatGroupList
	if err := r.client.List(ctx, &list, client.MatchingFields{appIndex: name}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "requeueing the ChatGroups of an app", "app", name)
		return
	}
	for i := range list.Items {
		// A ChatGroup IM refused with the app's old credentials may try
		// the new ones at once instead of waiting out CredentialsRetry.
		r.holds.forgetCredentials(client.ObjectKeyFromObject(&list.Items[i]))
		select {
		case r.enqueue <- event.TypedGenericEvent[*imv1alpha1.ChatGroup]{Object: &list.Items[i]}:
		case <-ctx.Done():
			return
		}
	}
}
