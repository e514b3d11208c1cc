package controllers

// The ChatApp controller loads each ChatApp and its credentials Secret into
// the app registry (internal/apps) and reports whether IM accepts them.
//
// Secrets are read in the operator's own namespace only, through a Role:
// a ChatApp cannot point the operator at another team's Secret.
//
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatapps,verbs=get;list;watch
// +kubebuilder:rbac:groups=im.chatgroup.dev,resources=chatapps/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",namespace=chatgroup-operator-system,resources=secrets,verbs=get;list;watch
