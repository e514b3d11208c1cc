package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Keys of a ChatApp's credentials Secret.
const (
	// SecretKeySecretKey holds the app's secret key, which signs the admin
	// UserSig of every REST call.
	SecretKeySecretKey = "secretKey"
	// SecretKeyCallbackToken holds the callback authentication token; without
	// it the app's callbacks are refused.
	SecretKeyCallbackToken = "callbackToken"
	// SecretKeyPreviousCallbackToken optionally holds the token being
	// rotated out, accepted as well meanwhile.
	SecretKeyPreviousCallbackToken = "previousCallbackToken"
)

// DefaultAppName is the app the operator's flags define (--sdkappid): the
// app of a ChatGroup without appRef, and its name in metrics.
const DefaultAppName = "default"

// ChatApp reasons (on its Ready condition) and ChatGroup reasons about apps.
const (
	// ReasonSecretNotFound: the credentials Secret does not exist in the
	// operator's namespace.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretInvalid: a needed key of the Secret is missing or empty.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonDuplicateApp: another app (a ChatApp created earlier, or the
	// flags' default app) has the same SDKAppID; this one gets nothing.
	ReasonDuplicateApp = "DuplicateApp"
	// ReasonEndpointInvalid: spec.endpoint is not an address the operator
	// sends credentials to (plain http:// outside loopback).
	ReasonEndpointInvalid = "EndpointInvalid"
	// ReasonAppNotFound: the ChatGroup's appRef names no usable ChatApp.
	ReasonAppNotFound = "AppNotFound"
	// ReasonNoApp: the ChatGroup has no appRef and the operator has no
	// default app (--sdkappid not set).
	ReasonNoApp = "NoApp"
	// ReasonAppNotAllowed: the app's allowedNamespaces do not include the
	// ChatGroup's namespace; the operator leaves it and its group alone.
	ReasonAppNotAllowed = "AppNotAllowed"
)

// SecretReference names a Secret in the operator's own namespace.
type SecretReference struct {
	// name of the Secret, in the namespace the operator runs in.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}

// ChatAppDiscovery configures discovery for one app.
type ChatAppDiscovery struct {
	// namespace receives a ChatGroup (managementPolicy Observe) for each of
	// the app's groups that no ChatGroup declares, on its first callback.
	// Empty: discovery is off for this app.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`
}

// ChatAppSpec declares one Tencent IM app and where its credentials are.
type ChatAppSpec struct {
	// sdkAppID is the app's SDKAppID. It cannot be changed: a different
	// app is a different ChatApp.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="sdkAppID is immutable"
	SDKAppID int64 `json:"sdkAppID"`

	// endpoint is the REST API base URL of the app's data center.
	// +optional
	// +kubebuilder:default="https://console.tim.qq.com"
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^https?://[^\s/?#]+/?$`
	Endpoint string `json:"endpoint,omitempty"`

	// adminIdentifier is the app admin account REST calls are made as.
	// +optional
	// +kubebuilder:default="administrator"
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^\S+$`
	AdminIdentifier string `json:"adminIdentifier,omitempty"`

	// qps is the most REST calls per second to this app, all APIs together.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	QPS int32 `json:"qps,omitempty"`

	// resyncInterval is how often every group of the app is read back
	// through the REST API (with 10% jitter).
	// +optional
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="resyncInterval must be between 1m and 24h"
	ResyncInterval *metav1.Duration `json:"resyncInterval,omitempty"`

	// credentialsSecretRef names the Secret, in the operator's namespace,
	// with the keys secretKey (needed for any REST call), callbackToken
	// (needed for the app's callbacks to be accepted) and, optionally,
	// previousCallbackToken (accepted as well while a token is rotated).
	// +required
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`

	// allowedNamespaces are the namespaces whose ChatGroups may use this
	// app; empty: every namespace.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`

	// discovery creates ChatGroups for the app's undeclared groups.
	// +optional
	Discovery ChatAppDiscovery `json:"discovery,omitempty,omitzero"`
}

// ChatAppStatus is what the operator knows about the app.
type ChatAppStatus struct {
	// observedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready is True when the credentials are loaded and IM
	// accepted them.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// groups is the number of ChatGroups bound to this app.
	// +optional
	Groups int32 `json:"groups,omitempty"`
	// lastCallbackTime is when a callback for the app was last accepted,
	// written at most once a minute.
	// +optional
	LastCallbackTime *metav1.Time `json:"lastCallbackTime,omitempty"`
}

// ChatApp is one Tencent IM app the operator serves: its SDKAppID, data
// center, credentials and which namespaces may use it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,categories=chat
// +kubebuilder:validation:XValidation:rule="self.metadata.name != 'default'",message="the name default is the operator's own app (its flags); choose another name"
// +kubebuilder:printcolumn:name="SDKAppID",type=integer,JSONPath=`.spec.sdkAppID`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.endpoint`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Groups",type=integer,JSONPath=`.status.groups`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ChatApp struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the app.
	// +required
	Spec ChatAppSpec `json:"spec"`
	// status is what the operator observed.
	// +optional
	Status ChatAppStatus `json:"status,omitempty,omitzero"`
}

// ChatAppList is a list of ChatApps.
//
// +kubebuilder:object:root=true
type ChatAppList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ChatApp `json:"items"`
}
