package groupstatus

import "time"

// MaxAhead is how far an event time may lie ahead of the clock of whoever
// judges it: the receiver refuses a callback stamped later than now plus
// MaxAhead, and a REST read forgets stored times later than its own time
// plus MaxAhead. IM's servers and ours are NTP-synchronized; a minute leaves
// room for a bad clock without letting one change hold a field for longer.
const MaxAhead = time.Minute

// Ahead reports whether an event time (Unix ms) is too far in the future to
// be genuine at now.
func Ahead(at int64, now time.Time) bool { return at > now.Add(MaxAhead).UnixMilli() }

// newer is the ordering of every part: a change at at replaces one at cur
// when it is not older (ties: the later arrival wins).
func newer(at, cur int64) bool { return at >= cur }

// lww is the one last-writer-wins primitive on status: v at time at lands on
// *dst unless the part's stored time *et is newer, and the stored time then
// moves to at even when the value is the same, so that a late change older
// than this one is still dropped. It reports whether the value changed.
func lww(dst *string, et *int64, v string, at int64) bool {
	if !newer(at, *et) {
		return false
	}
	*et = at
	changed := *dst != v
	*dst = v
	return changed
}

// stamped is a pending value and the event time that set it.
type stamped struct {
	value string
	at    int64
}

// keep folds v at time at into a pending value; it reports whether v is
// now the value (it was not older than the one held).
func keep(dst **stamped, v string, at int64) bool {
	if *dst != nil && !newer(at, (*dst).at) {
		return false
	}
	*dst = &stamped{value: v, at: at}
	return true
}

// land applies a pending value to status through lww.
func land(s *stamped, dst *string, et *int64) bool {
	if s == nil {
		return false
	}
	return lww(dst, et, s.value, s.at)
}
