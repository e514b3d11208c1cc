package timfake

import (
	"fmt"
	"testing"
)

// The per-group counters are bounded: a client naming ever new group IDs
// cannot grow them past maxGroupCalls, and the pairs already counted go on
// counting.
func TestGroupCallsAreBounded(t *testing.T) {
	var in injector
	in.init()
	in.count("get_group_info", []string{"kept"})
	for i := range maxGroupCalls + 100 {
		in.count("get_group_info", []string{fmt.Sprintf("made-up-%d", i)})
	}
	in.count("get_group_info", []string{"kept"})
	if n := len(in.groupCalls); n != maxGroupCalls {
		t.Fatalf("%d pairs counted, want the bound %d", n, maxGroupCalls)
	}
	if n := in.groupCalls[groupCall{"get_group_info", "kept"}]; n != 2 {
		t.Fatalf("a pair counted before the bound has %d, want 2", n)
	}
	if n := in.calls["get_group_info"]; n != maxGroupCalls+102 {
		t.Fatalf("the command count is %d, want every request", n)
	}
}
