// Package groupstatus is the only code that folds anything into a
// ChatGroup's status: callbacks (the webhook server's pending updates), REST
// reads (the controller's reconcile and resync) and successful pushes (the
// controller's create, modify and attribute calls). Every replica and both
// components call it, so they drop and keep exactly the same changes, also
// after restarts: the rules live here and nowhere else.
//
// # Ordering
//
// Every change carries an event time in Unix milliseconds: a callback's
// EventTime (or, when IM sent none, its receive time), the time a REST read
// started, or the time a push was sent. Each independently ordered part of
// the status (name, introduction, notification, face URL, owner, the
// attribute map and each attribute key, the member count) keeps the time of
// its last applied change in status.eventTimes, and one primitive, lww,
// decides for all of them: a change applies when its time is at least the
// stored one, and the stored time becomes its time (also when the value does
// not change, so a late, older change is still recognized as older). Ties
// apply in arrival order, the later one winning: IM stamps milliseconds, and
// two real changes in one millisecond (a script setting name then
// notification) must not lose the second.
//
// # Nothing can be pinned
//
// A callback whose EventTime is more than MaxAhead ahead of the receiver's
// clock is refused at the door (the receiver calls Ahead). A REST read is the
// truth as of its own time: before it is folded in, every stored time more
// than MaxAhead after the read's time is forgotten (forgetFuture), since no
// genuine change can carry it, and so a forged or clock-jumped stamp lasts
// until the next read at most. The message sequence has no event time: a
// read's NextMsgSeq brings lastMessageSeq back down when the recorded message
// claims to be older than the read by more than MaxAhead (or gives no time),
// and a read never erases the sender and time a callback with the same seq
// recorded.
//
// # Members and destruction
//
// Member counts are deltas (joins and exits) on top of the last whole count:
// a REST read, the group's creation or its destruction, whose time is
// eventTimes.memberCount. A join or exit from before that count is already in
// it and is dropped however late it arrives. A destroyed group has no
// members, so destruction is ordered with them: it zeroes the count and
// stamps eventTimes.members; a creation with a later time (a custom group ID
// reused) clears it again.
//
// # Memory
//
// A pending update holds at most one value per field, at most maxDeltaKeys
// attribute entries and maxMemberEvents member entries: it grows with the
// group, never with the number of callbacks folded into it. Status keeps at
// most maxTombstones deleted-key times.
package groupstatus
