package destroybudget

import (
	"testing"
	"time"
)

func TestAdmitCountsOnlyTheWindow(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	window := time.Hour
	var times []int64
	for i := range 5 {
		var ok bool
		times, ok, _ = Admit(times, now.Add(time.Duration(i)*time.Minute), window, 5)
		if !ok {
			t.Fatalf("call %d refused with room in the window", i+1)
		}
	}
	// The sixth within the hour waits until the first leaves the window.
	at := now.Add(10 * time.Minute)
	_, ok, wait := Admit(times, at, window, 5)
	if ok {
		t.Fatal("a sixth destroy in the hour was admitted with max 5")
	}
	if want := 50 * time.Minute; wait != want {
		t.Fatalf("wait = %v, want %v (until the first call leaves the window)", wait, want)
	}
	// Once the first call is an hour old, one slot is free again.
	kept, ok, _ := Admit(times, now.Add(time.Hour+time.Millisecond), window, 5)
	if !ok || len(kept) != 5 {
		t.Fatalf("after the window moved: ok=%v kept=%d, want true and 5", ok, len(kept))
	}
}

func TestAdmitKeepsFutureTimes(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	future := []int64{now.Add(2 * time.Hour).UnixMilli(), now.Add(3 * time.Hour).UnixMilli()}
	if _, ok, _ := Admit(future, now, time.Hour, 2); ok {
		t.Fatal("times ahead of the clock (a clock set back) were not counted")
	}
}

func TestParseRefusesAnUnreadableLedger(t *testing.T) {
	for _, s := range []string{"x", "1,,2", "1, 2", "1;2", "99999999999999999999"} {
		if _, err := parse(s); err == nil {
			t.Errorf("parse(%q) accepted an unreadable ledger", s)
		}
	}
	got, err := parse(format([]int64{1, 2, 3}))
	if err != nil || len(got) != 3 || got[2] != 3 {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if got, err := parse(""); err != nil || len(got) != 0 {
		t.Fatalf("empty ledger: %v %v", got, err)
	}
}
