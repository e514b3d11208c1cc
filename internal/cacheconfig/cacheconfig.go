// Package cacheconfig holds the options of the manager's informer cache,
// which the webhook server and the controller share: main, the test suites
// and the benchmark build their managers with the same cache.
package cacheconfig

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options are the manager's cache options.
//
// managedFields are dropped from cached objects: nothing reads them, and
// they are a large part of every ChatGroup (one entry per writer, listing
// every status field and attribute key). Kept, they cost memory and GC work
// per cached group, and every status update sent from a cached copy carries
// them to the API server, which decodes and validates them again: with them
// gone, kube-apiserver spent markedly less CPU per status write (make bench).
// An update without managedFields leaves the stored ones as they are (the API
// server replaces them only when a request sets them).
//
// Secrets (the ChatApps' credentials) are watched in operatorNamespace
// only: the operator's Role allows nothing else, and a cluster-wide
// informer would hold every Secret of the cluster in memory.
func Options(operatorNamespace string) cache.Options {
	o := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if operatorNamespace != "" {
		o.ByObject = map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Namespaces: map[string]cache.Config{operatorNamespace: {}}},
		}
	}
	return o
}
