package timfake

import (
	"sync"
	"time"
)

// injector holds the test-controlled failures and the call counters.
type injector struct {
	mu    sync.Mutex
	calls map[string]int
	// groupCalls counts, per command and group, the requests that named
	// the group: a test on a shared fake counts its own group's calls.
	groupCalls map[groupCall]int
	errs       map[string][]injected // per command, consumed in order
	httpFail   []injected            // status codes, any command
	delay      time.Duration
}

type injected struct {
	code  int
	times int // < 0: forever
}

type groupCall struct{ command, groupID string }

// maxGroupCalls bounds groupCalls: a client naming ever new group IDs
// (imsim serves whoever reaches it) cannot grow the fake's memory. Past it,
// only pairs already counted go on counting.
const maxGroupCalls = 1 << 16

func (in *injector) init() {
	in.calls = make(map[string]int)
	in.groupCalls = make(map[groupCall]int)
	in.errs = make(map[string][]injected)
}

func (in *injector) count(command string, groups []string) {
	in.mu.Lock()
	in.calls[command]++
	for _, g := range groups {
		k := groupCall{command, g}
		if _, ok := in.groupCalls[k]; ok || len(in.groupCalls) < maxGroupCalls {
			in.groupCalls[k]++
		}
	}
	in.mu.Unlock()
}

func take(q []injected) ([]injected, int, bool) {
	if len(q) == 0 {
		return q, 0, false
	}
	code := q[0].code
	if q[0].times > 0 {
		q[0].times--
		if q[0].times == 0 {
			q = q[1:]
		}
	}
	return q, code, true
}

func (in *injector) takeError(command string) (int, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	q, code, ok := take(in.errs[command])
	in.errs[command] = q
	return code, ok
}

func (in *injector) takeHTTPFailure() (int, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	q, code, ok := take(in.httpFail)
	in.httpFail = q
	return code, ok
}

func (in *injector) latency() time.Duration {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.delay
}

// InjectError makes the next times calls of command (e.g. "create_group")
// fail with code after authentication, without touching state; times < 0
// means until ClearInjections. Injections for one command queue up in order.
func (s *Server) InjectError(command string, code, times int) {
	if times == 0 {
		return
	}
	s.inj.mu.Lock()
	defer s.inj.mu.Unlock()
	s.inj.errs[command] = append(s.inj.errs[command], injected{code, times})
}

// FailHTTP makes the next times requests, whatever the command, answer with
// the bare HTTP status, as a load balancer in front of the backend would.
func (s *Server) FailHTTP(status, times int) {
	if times == 0 {
		return
	}
	s.inj.mu.Lock()
	defer s.inj.mu.Unlock()
	s.inj.httpFail = append(s.inj.httpFail, injected{status, times})
}

// SetLatency delays every answer by d (0 to stop).
func (s *Server) SetLatency(d time.Duration) {
	s.inj.mu.Lock()
	defer s.inj.mu.Unlock()
	s.inj.delay = d
}

// ClearInjections removes pending injected errors, HTTP failures and latency.
func (s *Server) ClearInjections() {
	s.inj.mu.Lock()
	defer s.inj.mu.Unlock()
	s.inj.errs = make(map[string][]injected)
	s.inj.httpFail = nil
	s.inj.delay = 0
}

// Calls returns how many requests reached command (e.g. "get_group_info"),
// counting refused and failed ones.
func (s *Server) Calls(command string) int {
	s.inj.mu.Lock()
	defer s.inj.mu.Unlock()
	return s.inj.calls[command]
}

// CallsFor returns how many requests reached command naming groupID (as
// GroupId, or in get_group_info's GroupIdList), counting refused and failed
// ones: what one group cost on a fake other groups share. It counts up to
// 65,536 pairs of command and group; past that, only those already counted.
func (s *Server) CallsFor(command, groupID string) int {
	s.inj.mu.Lock()
	defer s.inj.mu.Unlock()
	return s.inj.groupCalls[groupCall{command, groupID}]
}

// ResetCalls zeroes the counters.
func (s *Server) ResetCalls() {
	s.inj.mu.Lock()
	defer s.inj.mu.Unlock()
	s.inj.calls = make(map[string]int)
	s.inj.groupCalls = make(map[groupCall]int)
}
