package timfake

import (
	"slices"
	"sort"
	"strconv"
	"time"
)

// Group types as the REST API spells them.
const (
	TypePrivate    = "Private"
	TypePublic     = "Public"
	TypeChatRoom   = "ChatRoom"
	TypeAVChatRoom = "AVChatRoom"
	TypeCommunity  = "Community"
)

// OptPlatform values (callback overview 1047/34354).
const (
	PlatformRESTAPI = "RESTAPI"
	PlatformWeb     = "Web"
	PlatformAndroid = "Android"
	PlatformIOS     = "iOS"
	PlatformWindows = "Windows"
	PlatformMac     = "Mac"
	PlatformIPad    = "iPad"
	PlatformUnknown = "Unknown"
)

// Member roles.
const (
	RoleOwner  = "Owner"
	RoleAdmin  = "Admin"
	RoleMember = "Member"
)

// Limits. Where doc generations disagree (§5 of the reference) the newer
// Web SDK v3 figures are used: name 100, introduction 400, notification 400,
// face URL 500 bytes.
const (
	maxGroupIDLen      = 48
	maxNameLen         = 100
	maxIntroLen        = 400
	maxNotifLen        = 400
	maxFaceLen         = 500
	maxAppDefined      = 10
	maxAppDefinedKey   = 16
	maxAppDefinedValue = 512
	maxInitialMembers  = 100
	maxAttrKeys        = 16
	maxAttrKeyLen      = 32
	maxAttrValueLen    = 4000
	maxAttrTotal       = 16000
	attrWritesPerSec   = 5
	dedupWindow        = 5 * time.Minute
)

// defaultMaxMembers per type; the ChatRoom figure is contested (10000 vs
// 6000), 6000 is used. AVChatRoom is unlimited (0).
var defaultMaxMembers = map[string]uint32{
	TypePrivate:    200,
	TypePublic:     2000,
	TypeChatRoom:   6000,
	TypeAVChatRoom: 0,
	TypeCommunity:  100000,
}

// Settable MaxMemberCount (create) / MaxMemberNum (modify): at least 1, at
// most maxMemberCap, a Community at most maxCommunityCap; an AVChatRoom is
// unlimited and takes neither.
const (
	maxMemberCap    = 6000
	maxCommunityCap = 100000
)

var defaultApplyJoin = map[string]string{
	TypePrivate:    "DisableApply",
	TypePublic:     "NeedPermission",
	TypeChatRoom:   "FreeAccess",
	TypeAVChatRoom: "FreeAccess",
	TypeCommunity:  "FreeAccess",
}

var applyJoinOptions = []string{"FreeAccess", "NeedPermission", "DisableApply"}
var inviteJoinOptions = []string{"FreeAccess", "NeedPermission", "DisableInvite"}

// actor is whoever causes a change: the admin through REST or an app user
// on a client platform.
type actor struct {
	account  string
	platform string
	clientIP string
	admin    bool
}

type kv struct{ key, value string }

type member struct {
	account  string
	role     string
	joinTime time.Time
	lastSend time.Time
	appData  []kv
}

type sentMsg struct {
	seq  uint64
	time int64
	at   time.Time
}

type dedupKey struct {
	from   string
	random uint32
}

type group struct {
	serial     uint64
	id         string
	typ        string
	owner      string
	name       string
	intro      string
	notif      string
	face       string
	maxMembers uint32
	applyJoin  string
	inviteJoin string
	muteAll    string
	topics     bool // SupportTopic, set at creation only
	appData    []kv
	members    map[string]*member
	order      []string // member accounts, join order
	attrs      []kv     // insertion order
	attrWrites []time.Time
	created    time.Time
	lastInfo   time.Time
	lastMsg    time.Time
	nextSeq    uint64
	dedup      map[dedupKey]sentMsg
	dedupOrder []dedupKey
}

func (g *group) addMember(account, role string, now time.Time) {
	if _, ok := g.members[account]; ok {
		return
	}
	g.members[account] = &member{account: account, role: role, joinTime: now}
	g.order = append(g.order, account)
}

func (g *group) removeMember(account string) {
	delete(g.members, account)
	g.order = slices.DeleteFunc(g.order, func(a string) bool { return a == account })
}

func (g *group) memberAccounts() []string { return slices.Clone(g.order) }

func (g *group) full(extra int) bool {
	return g.maxMembers > 0 && len(g.members)+extra > int(g.maxMembers)
}

func (g *group) role(account string) string {
	if m, ok := g.members[account]; ok {
		return m.role
	}
	return ""
}

func (g *group) isManager(account string) bool {
	r := g.role(account)
	return r == RoleOwner || r == RoleAdmin
}

func setKV(list []kv, key, value string) []kv {
	for i := range list {
		if list[i].key == key {
			list[i].value = value
			return list
		}
	}
	return append(list, kv{key, value})
}

func deleteKV(list []kv, key string) []kv {
	return slices.DeleteFunc(list, func(e kv) bool { return e.key == key })
}

func kvMap(list []kv) map[string]string {
	m := make(map[string]string, len(list))
	for _, e := range list {
		m[e.key] = e.value
	}
	return m
}

// printableASCII reports whether s uses only 0x20-0x7e, the custom group ID
// alphabet.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func validGroupIDSyntax(id string) bool {
	return id != "" && len(id) <= maxGroupIDLen && printableASCII(id)
}

// lookup finds a group for an operation: 10015 for an ID that cannot exist,
// 10010 for one that does not.
func (s *Server) lookup(id string) (*group, *Error) {
	if !validGroupIDSyntax(id) {
		return nil, errf(CodeInvalidGroupID, "invalid group id %q", id)
	}
	g, ok := s.groups[id]
	if !ok {
		return nil, errf(CodeGroupNotFound, "group %s does not exist", id)
	}
	return g, nil
}

// eventTime is EventTime for a change at t: milliseconds, as a string like
// the doc samples or as a number.
func (s *Server) eventTime(t time.Time) any {
	ms := t.UnixMilli()
	if s.eventNum {
		return ms
	}
	return strconv.FormatInt(ms, 10)
}

// GroupSnapshot is a copy of a group's state for tests.
type GroupSnapshot struct {
	ID               string
	Type             string
	Owner            string
	Name             string
	Introduction     string
	Notification     string
	FaceURL          string
	MaxMemberNum     uint32
	ApplyJoinOption  string
	InviteJoinOption string
	MuteAllMember    string
	AppDefinedData   map[string]string
	Attributes       map[string]string
	Members          []MemberSnapshot
	CreateTime       time.Time
	LastInfoTime     time.Time
	LastMsgTime      time.Time
	// NextMsgSeq is the seq the next message will get; the first message
	// of a group gets 1.
	NextMsgSeq uint64
	// SupportTopic: a Community created with SupportTopic 1 (create only).
	SupportTopic bool
}

// MemberSnapshot is one member in a GroupSnapshot.
type MemberSnapshot struct {
	Account  string
	Role     string
	JoinTime time.Time
}

// Group returns a copy of the group's state.
func (s *Server) Group(id string) (GroupSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok {
		return GroupSnapshot{}, false
	}
	snap := GroupSnapshot{
		ID: g.id, Type: g.typ, Owner: g.owner, Name: g.name, Introduction: g.intro,
		Notification: g.notif, FaceURL: g.face, MaxMemberNum: g.maxMembers,
		ApplyJoinOption: g.applyJoin, InviteJoinOption: g.inviteJoin, MuteAllMember: g.muteAll, SupportTopic: g.topics,
		AppDefinedData: kvMap(g.appData), Attributes: kvMap(g.attrs),
		CreateTime: g.created, LastInfoTime: g.lastInfo, LastMsgTime: g.lastMsg, NextMsgSeq: g.nextSeq,
	}
	for _, acc := range g.order {
		m := g.members[acc]
		snap.Members = append(snap.Members, MemberSnapshot{Account: m.account, Role: m.role, JoinTime: m.joinTime})
	}
	return snap, true
}

// Groups returns all group IDs, sorted.
func (s *Server) Groups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.groups))
	for id := range s.groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
