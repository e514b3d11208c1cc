// Package groupname holds the one rule that turns an IM group ID into a
// ChatGroup name. Discovery (webhookserver) and `kubectl chatgroup import`
// both use it, so an imported manifest and a discovered ChatGroup for the
// same group carry the same name, and re-running an import is idempotent.
package groupname

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxPrefix keeps names within 63 characters (a DNS label, which every tool
// accepts) with room for "-" and 8 hex digits.
const maxPrefix = 63 - 1 - 8

// For is the ChatGroup name for groupID: the group ID lower-cased, every
// character outside [a-z0-9-] turned into '-', runs of dashes collapsed,
// trimmed and truncated, then '-' and the first 8 hex digits of
// sha256(groupID). Every caller derives the same name, so racing creates
// collide (AlreadyExists) instead of duplicating, and the hash keeps IDs
// that sanitize alike ("@TGS#A" and "tgs-a") apart.
func For(groupID string) string {
	var b strings.Builder
	dash := true // drops leading dashes
	for _, r := range strings.ToLower(groupID) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	prefix := b.String()
	if len(prefix) > maxPrefix {
		prefix = prefix[:maxPrefix]
	}
	prefix = strings.TrimRight(prefix, "-")
	if prefix == "" {
		prefix = "group"
	}
	sum := sha256.Sum256([]byte(groupID))
	return prefix + "-" + hex.EncodeToString(sum[:])[:8]
}

// ForApp is the ChatGroup name for groupID in the app a ChatGroup's appRef
// names: For(groupID) for the default app (appRef empty), so names stay as
// they were; for a ChatApp the hash covers the app too, so the same group
// ID in two apps discovered into one namespace gets two names.
func ForApp(appRef, groupID string) string {
	name := For(groupID)
	if appRef == "" {
		return name
	}
	sum := sha256.Sum256([]byte(appRef + "\x00" + groupID))
	return name[:len(name)-8] + hex.EncodeToString(sum[:])[:8]
}
