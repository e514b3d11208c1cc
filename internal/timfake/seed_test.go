package timfake_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/chatgroup-operator/chatgroup-operator/internal/timfake"
)

type listPage struct {
	TotalCount  int
	GroupIdList []struct{ GroupId string }
	Next        json.Number
}

func decodePage(t *testing.T, raw []byte) listPage {
	t.Helper()
	var p listPage
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSeedMixedGroups(t *testing.T) {
	e := newEnv(t, nil)
	ids, err := e.fake.SeedGroups(timfake.MixedGroups(10000, ""))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 10000 || len(e.fake.Groups()) != 10000 {
		t.Fatalf("%d ids, %d groups, want 10000", len(ids), len(e.fake.Groups()))
	}
	byType := map[string]int{}
	system := 0
	for _, id := range ids {
		g, _ := e.fake.Group(id)
		byType[g.Type]++
		if len(id) > 5 && id[:5] == "@TGS#" && g.Type != timfake.TypeCommunity {
			system++
		}
	}
	for _, typ := range []string{timfake.TypePublic, timfake.TypePrivate, timfake.TypeChatRoom, timfake.TypeAVChatRoom, timfake.TypeCommunity} {
		if byType[typ] != 2000 {
			t.Errorf("%d groups of type %s, want 2000", byType[typ], typ)
		}
	}
	if system == 0 {
		t.Error("no system-assigned IDs among the seeded groups")
	}
	p := decodePage(t, mustOK(t, e.group(t, "get_appid_group_list", `{"Limit":10000}`)).raw)
	if p.TotalCount != 10000 || len(p.GroupIdList) != 10000 || p.Next.String() != "0" {
		t.Fatalf("one full page: total %d, %d IDs, Next %s", p.TotalCount, len(p.GroupIdList), p.Next)
	}
	p = decodePage(t, mustOK(t, e.group(t, "get_appid_group_list", `{"GroupType":"Community"}`)).raw)
	if p.TotalCount != 2000 {
		t.Fatalf("Community TotalCount %d, want 2000", p.TotalCount)
	}
}

// get_appid_group_list has its own documented limit of 1 call per second,
// answered with 60007 like every REST frequency limit; other commands are
// not held back by it.
func TestGroupListQPS(t *testing.T) {
	e := newEnv(t, func(o *timfake.Options) { o.GroupListQPS = timfake.DocumentedGroupListQPS })
	mustOK(t, e.group(t, "get_appid_group_list", `{}`))
	wantCode(t, e.group(t, "get_appid_group_list", `{}`), timfake.CodeRESTOverLimit)
	mustOK(t, e.group(t, "get_group_info", `{"GroupIdList":["nope"]}`))
	e.clock.Advance(500 * time.Millisecond)
	wantCode(t, e.group(t, "get_appid_group_list", `{}`), timfake.CodeRESTOverLimit)
	e.clock.Advance(500 * time.Millisecond)
	mustOK(t, e.group(t, "get_appid_group_list", `{}`))
}

// A test can choose where cursors start (here just above 2^32), and a Next
// the fake never issued is refused, so a client that rounds or truncates a
// cursor fails loudly.
func TestCursorBaseAndStrictCursors(t *testing.T) {
	const base = uint64(1)<<32 + 7
	e := newEnv(t, func(o *timfake.Options) { o.CursorBase = base })
	if _, err := e.fake.SeedGroups(timfake.MixedGroups(5, "c-")); err != nil {
		t.Fatal(err)
	}
	p := decodePage(t, mustOK(t, e.group(t, "get_appid_group_list", `{"Limit":2}`)).raw)
	next, err := strconv.ParseUint(p.Next.String(), 10, 64)
	if err != nil || next != base+3 {
		t.Fatalf("Next %s, want %d (the base plus the third group's serial)", p.Next, base+3)
	}
	wantCode(t, e.group(t, "get_appid_group_list", fmt.Sprintf(`{"Limit":2,"Next":%d}`, next+1)), timfake.CodeInvalidParam)
	wantCode(t, e.group(t, "get_appid_group_list", fmt.Sprintf(`{"Limit":2,"Next":%d}`, uint32(next))), timfake.CodeInvalidParam)
	p = decodePage(t, mustOK(t, e.group(t, "get_appid_group_list", fmt.Sprintf(`{"Limit":2,"Next":%d}`, next))).raw)
	if len(p.GroupIdList) != 2 || p.GroupIdList[0].GroupId != "c-g-00002" {
		t.Fatalf("second page %+v", p)
	}
}
