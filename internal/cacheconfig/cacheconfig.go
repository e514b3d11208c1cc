// Package cacheconfig holds the options of the manager's informer cache,
// which the webhook server and the controller share: main, the test suites
// and the benchmark build their managers with the same cache.
package cacheconfig

import (
	"sigs.k8s.io/controller-runtime/pkg/cache"
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
func Options() cache.Options {
	return cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
}
