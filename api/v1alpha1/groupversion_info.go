// Package v1alpha1 contains the ChatGroup API: a Tencent Cloud IM group
// declared (spec) and observed (status) as a Kubernetes resource, and
// ChatApp, an IM app with its credentials that ChatGroups refer to.
//
// +kubebuilder:object:generate=true
// +groupName=im.chatgroup.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of ChatGroup.
	GroupVersion = schema.GroupVersion{Group: "im.chatgroup.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a runtime.Scheme.
	// It is apimachinery's, not controller-runtime's, so that importing the API
	// does not pull in controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &ChatGroup{}, &ChatGroupList{}, &ChatApp{}, &ChatAppList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
