package v1alpha1

// Condition types reported on ChatGroup.status.conditions. Ready follows the
// kstatus convention, so `kubectl wait --for=condition=Ready`, Argo CD and
// Flux health checks work without custom scripts.
const (
	// ConditionReady is True when the IM group exists and has been observed.
	ConditionReady = "Ready"
	// ConditionSynced is True when the last exchange with the IM REST API succeeded.
	ConditionSynced = "Synced"
	// ConditionUpToDate is True when every declared spec field equals the
	// observed status.
	ConditionUpToDate = "UpToDate"
)

// Condition reasons. They are part of the API: users alert on them.
const (
	ReasonAvailable          = "Available"
	ReasonGroupNotFound      = "GroupNotFound"
	ReasonGroupDestroyed     = "GroupDestroyed"
	ReasonCredentialsInvalid = "CredentialsInvalid"
	ReasonReconcileSuccess   = "ReconcileSuccess"
	ReasonReconcileError     = "ReconcileError"
	ReasonRateLimited        = "RateLimited"
	ReasonRejectedByIM       = "RejectedByIM"
	ReasonInSync             = "InSync"
	ReasonDrifted            = "Drifted"
)

const (
	// AnnotationResyncRequestedAt is the annotation that, set to any new value
	// (a timestamp, by convention), asks the controller to read the group back through the REST
	// API at once instead of waiting for the next resync.
	AnnotationResyncRequestedAt = "im.chatgroup.dev/resync-requested-at"

	// LabelDiscovered marks a ChatGroup the receiver created for an
	// undeclared group (discovery). The operator deletes such a ChatGroup
	// when a read finds its group does not exist: a made-up group ID in a
	// callback must not leave an object behind.
	LabelDiscovered = "im.chatgroup.dev/discovered"

	// Finalizer guards destroy_group for ChatGroups with deletionPolicy Delete.
	Finalizer = "im.chatgroup.dev/destroy-group"
)
