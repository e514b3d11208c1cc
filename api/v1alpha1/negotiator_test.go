package v1alpha1_test

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// unstructuredNegotiator lets a bare REST client fetch raw bytes (here a
// meta.k8s.io Table) without registering the Table type in a scheme.
func unstructuredNegotiator() runtime.NegotiatedSerializer {
	return serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion()
}
