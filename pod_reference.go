package main

import (
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Environment variables the chart fills from the downward API, naming the
// manager's own Pod.
const (
	envPodName      = "POD_NAME"
	envPodNamespace = "POD_NAMESPACE"
	envPodUID       = "POD_UID"
)

// podReference names the manager's Pod, on which IM's alarm callbacks are
// raised as Warning Events (webhookserver/alarms.go says why), or nil
// outside a pod. The UID makes `kubectl describe pod` list the Events.
func podReference() *corev1.ObjectReference {
	name, ns := os.Getenv(envPodName), os.Getenv(envPodNamespace)
	if name == "" || ns == "" {
		return nil
	}
	return &corev1.ObjectReference{
		APIVersion: "v1", Kind: "Pod", Namespace: ns, Name: name,
		UID: types.UID(os.Getenv(envPodUID)),
	}
}
