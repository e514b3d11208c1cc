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
	// ReasonConflict: another Enforce ChatGroup owns the same group (Ready
	// False); this one makes no REST call and never destroys the group.
	ReasonConflict = "Conflict"
	// ReasonPaused: the paused annotation stops every REST call (Synced False).
	ReasonPaused = "Paused"
	// ReasonDestroyDeferred: the destroy budget (--max-destroys-per-hour) is
	// spent; the deletion waits for it to refill (Synced False).
	ReasonDestroyDeferred = "DestroyDeferred"
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

	// AnnotationPaused set to "true" stops every REST call for the
	// ChatGroup (push, read, resync, destroy); callbacks are still recorded.
	// Removing it reads the group at once. A paused ChatGroup with
	// deletionPolicy Delete is not deleted until it is unpaused.
	AnnotationPaused = "im.chatgroup.dev/paused"

	// AnnotationDestroyAdopted set to "true" lets deletionPolicy Delete
	// destroy a group this ChatGroup did not create (adopted or taken over
	// from an existing one); without it, deletion releases such a group.
	AnnotationDestroyAdopted = "im.chatgroup.dev/destroy-adopted"

	// Finalizer guards destroy_group for ChatGroups with deletionPolicy Delete.
	Finalizer = "im.chatgroup.dev/destroy-group"
)
