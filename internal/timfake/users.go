package timfake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"

	"golang.org/x/time/rate"
)

// User acts as an app user on a client platform. Its actions take the same
// path as REST calls (same validation, state and callbacks) but are subject
// to member permissions, and their callbacks carry the user's OptPlatform
// and ClientIP.
type User struct {
	s        *Server
	Account  string
	Platform string
	ClientIP string
	admin    bool
}

// User returns a handle acting as account on platform (e.g. PlatformIOS).
// The client IP is derived from the account so it is stable across runs.
func (s *Server) User(account, platform string) *User {
	h := fnv.New32a()
	h.Write([]byte(account))
	v := h.Sum32()
	return &User{s: s, Account: account, Platform: platform,
		ClientIP: fmt.Sprintf("10.%d.%d.%d", byte(v>>16), byte(v>>8), 1+byte(v)%254)}
}

// Admin returns a handle acting as the app admin through the REST API
// (OptPlatform RESTAPI, no member permission checks), for setting up state
// without HTTP, e.g. the groups cmd/imsim creates at start.
func (s *Server) Admin() *User {
	return &User{s: s, Account: s.admin, Platform: PlatformRESTAPI, ClientIP: "127.0.0.1", admin: true}
}

func (u *User) actor() actor {
	return actor{account: u.Account, platform: u.Platform, clientIP: u.ClientIP, admin: u.admin}
}

// asErr keeps a nil *Error from becoming a non-nil error.
func asErr(e *Error) error {
	if e == nil {
		return nil
	}
	return e
}

// GroupSpec is what a user fills in to create a group.
type GroupSpec struct {
	Type         string
	GroupID      string // empty: system-assigned "@TGS#..."
	Name         string
	Introduction string
	Notification string
	FaceURL      string
	Members      []string
	// Owner is used only by Admin(); a user always owns what they create.
	Owner string
	// AppDefinedData arrives in the create callback as UserDefinedDataList.
	AppDefinedData map[string]string
}

// CreateGroup creates a group owned by the user.
func (u *User) CreateGroup(spec GroupSpec) (string, error) {
	owner := u.Account
	if u.admin {
		owner = spec.Owner
	}
	r := createGroupReq{OwnerAccount: owner, Type: spec.Type, GroupID: spec.GroupID, Name: spec.Name,
		Introduction: spec.Introduction, Notification: spec.Notification, FaceURL: spec.FaceURL}
	for _, m := range spec.Members {
		r.MemberList = append(r.MemberList, createMember{Account: m})
	}
	keys := slices.Sorted(maps.Keys(spec.AppDefinedData))
	for _, k := range keys {
		r.AppDefinedData = append(r.AppDefinedData, cbKV{k, spec.AppDefinedData[k]})
	}
	id, e := u.s.createGroup(u.actor(), r)
	return id, asErr(e)
}

// SendText sends a TIMTextElem message and returns its MsgSeq.
func (u *User) SendText(groupID, text string) (uint64, error) {
	body, _ := json.Marshal([]map[string]any{{"MsgType": "TIMTextElem", "MsgContent": map[string]string{"Text": text}}})
	return u.SendMsg(groupID, u.s.random32(), body, "")
}

// SendMsg sends a message with an explicit Random and raw MsgBody array.
func (u *User) SendMsg(groupID string, random uint32, msgBody json.RawMessage, cloudCustomData string) (uint64, error) {
	sent, e := u.s.sendMsg(u.actor(), sendReq{GroupID: groupID, Random: random, MsgBody: msgBody, CloudCustomData: cloudCustomData})
	if e != nil {
		return 0, e
	}
	return sent.seq, nil
}

// InfoChange names the group fields to change; nil fields stay. Only the
// profile fields (Name, Introduction, Notification, FaceURL) are reported by
// Group.CallbackAfterGroupInfoChanged; a change of the settings alone sends
// no callback, as on the real backend.
type InfoChange struct {
	Name, Introduction, Notification, FaceURL *string
	// ApplyJoinOption: FreeAccess, NeedPermission or DisableApply (not on
	// Private or AVChatRoom groups).
	ApplyJoinOption *string
	// InviteJoinOption: FreeAccess, NeedPermission or DisableInvite (not on
	// AVChatRoom or Community groups).
	InviteJoinOption *string
	// MuteAllMember: On or Off.
	MuteAllMember *string
	// MaxMemberNum can be changed only by Admin(): the client SDKs cannot
	// change it (10007 for a user).
	MaxMemberNum *uint32
	// AppDefinedData fields are upserted (an empty value empties a field,
	// none is deleted).
	AppDefinedData map[string]string
}

// ModifyInfo changes several group fields at once (at most one callback).
func (u *User) ModifyInfo(groupID string, c InfoChange) error {
	r := modifyReq{GroupID: groupID, Name: c.Name, Introduction: c.Introduction, Notification: c.Notification, FaceURL: c.FaceURL,
		ApplyJoinOption: c.ApplyJoinOption, InviteJoinOption: c.InviteJoinOption, MuteAllMember: c.MuteAllMember, MaxMemberNum: c.MaxMemberNum}
	for _, k := range slices.Sorted(maps.Keys(c.AppDefinedData)) {
		r.AppDefinedData = append(r.AppDefinedData, cbKV{k, c.AppDefinedData[k]})
	}
	return asErr(u.s.modifyGroup(u.actor(), r))
}

// SetMuteAll mutes (on) or unmutes every plain member of the group
// (MuteAllMember On/Off). It sends no callback.
func (u *User) SetMuteAll(groupID string, on bool) error {
	v := "Off"
	if on {
		v = "On"
	}
	return u.ModifyInfo(groupID, InfoChange{MuteAllMember: &v})
}

// SetName changes the group name.
func (u *User) SetName(groupID, v string) error {
	return u.ModifyInfo(groupID, InfoChange{Name: &v})
}

// SetIntroduction changes the group introduction.
func (u *User) SetIntroduction(groupID, v string) error {
	return u.ModifyInfo(groupID, InfoChange{Introduction: &v})
}

// SetNotification changes the group notification.
func (u *User) SetNotification(groupID, v string) error {
	return u.ModifyInfo(groupID, InfoChange{Notification: &v})
}

// SetFaceURL changes the group profile photo URL.
func (u *User) SetFaceURL(groupID, v string) error {
	return u.ModifyInfo(groupID, InfoChange{FaceURL: &v})
}

func attrInputs(m map[string]string) []attrInput {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]attrInput, len(keys))
	for i, k := range keys {
		v := m[k]
		out[i] = attrInput{Key: k, Value: &v}
	}
	return out
}

// ModifyAttrs upserts attributes.
func (u *User) ModifyAttrs(groupID string, attrs map[string]string) error {
	return asErr(u.s.writeAttrs(u.actor(), groupID, AttrOpModify, attrInputs(attrs)))
}

// SetAttrs replaces all attributes.
func (u *User) SetAttrs(groupID string, attrs map[string]string) error {
	return asErr(u.s.writeAttrs(u.actor(), groupID, AttrOpSet, attrInputs(attrs)))
}

// DeleteAttrs removes attributes by key.
func (u *User) DeleteAttrs(groupID string, keys ...string) error {
	in := make([]attrInput, len(keys))
	for i, k := range keys {
		in[i] = attrInput{Key: k}
	}
	return asErr(u.s.writeAttrs(u.actor(), groupID, AttrOpDelete, in))
}

// ClearAttrs removes all attributes.
func (u *User) ClearAttrs(groupID string) error {
	return asErr(u.s.writeAttrs(u.actor(), groupID, AttrOpClear, nil))
}

// Join applies to join; the simulation approves at once (JoinType Apply).
func (u *User) Join(groupID string) error {
	return asErr(u.s.join(u.actor(), groupID, JoinApply, []string{u.Account}))
}

// ApproveJoin lets an owner or admin admit applicants (JoinType Apply,
// Operator_Account the approver).
func (u *User) ApproveJoin(groupID string, applicants ...string) error {
	return asErr(u.s.join(u.actor(), groupID, JoinApply, applicants))
}

// Invite adds members by invitation (JoinType Invited).
func (u *User) Invite(groupID string, accounts ...string) error {
	return asErr(u.s.join(u.actor(), groupID, JoinInvited, accounts))
}

// Quit leaves the group (ExitType Quit).
func (u *User) Quit(groupID string) error {
	return asErr(u.s.exit(u.actor(), groupID, ExitQuit, []string{u.Account}))
}

// Kick removes members (ExitType Kicked).
func (u *User) Kick(groupID string, accounts ...string) error {
	return asErr(u.s.exit(u.actor(), groupID, ExitKicked, accounts))
}

// ChangeOwner hands the group to another member.
func (u *User) ChangeOwner(groupID, newOwner string) error {
	return asErr(u.s.changeOwner(u.actor(), groupID, newOwner))
}

// Destroy disbands the group.
func (u *User) Destroy(groupID string) error {
	return asErr(u.s.destroyGroup(u.actor(), groupID))
}

func (s *Server) random32() uint32 {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Uint32()
}

// Simulation

// Weights are the relative frequencies of simulated actions. Destroy and
// Create default to 0 because they change which groups exist.
type Weights struct {
	Send, Info, Attr, Join, Quit, ChangeOwner, Destroy, Create int
}

// DefaultWeights are message-heavy, like real chat traffic.
var DefaultWeights = Weights{Send: 70, Info: 8, Attr: 10, Join: 6, Quit: 4, ChangeOwner: 2}

// SimConfig configures a Simulator.
type SimConfig struct {
	// Groups to act on; empty means every group that exists at each step.
	Groups []string
	// Users to act as; default user-000 .. user-009.
	Users []string
	// Platforms users are spread over; default iOS, Android, Web, Windows, Mac.
	Platforms []string
	// Rate is actions per second for Run.
	Rate float64
	// Seed makes the sequence of choices reproducible.
	Seed uint64
	// Weights defaults to DefaultWeights.
	Weights *Weights
}

// SimStats counts simulated actions; Failed actions were refused by the
// backend (e.g. 10049 when a group's attribute writes exceed 5/s).
type SimStats struct {
	Steps, OK, Failed uint64
	ByAction          map[string]uint64
}

// Simulator runs simulated users against a Server.
type Simulator struct {
	s       *Server
	cfg     SimConfig
	weights Weights
	users   []*User

	mu    sync.Mutex
	rng   *rand.Rand
	stats SimStats
}

// NewSimulator prepares a simulator. It creates nothing by itself.
func (s *Server) NewSimulator(cfg SimConfig) (*Simulator, error) {
	if len(cfg.Users) == 0 {
		for i := range 10 {
			cfg.Users = append(cfg.Users, fmt.Sprintf("user-%03d", i))
		}
	}
	if len(cfg.Platforms) == 0 {
		cfg.Platforms = []string{PlatformIOS, PlatformAndroid, PlatformWeb, PlatformWindows, PlatformMac}
	}
	w := DefaultWeights
	if cfg.Weights != nil {
		w = *cfg.Weights
	}
	if w.Send+w.Info+w.Attr+w.Join+w.Quit+w.ChangeOwner+w.Destroy+w.Create <= 0 {
		return nil, errors.New("timfake: simulator weights are all zero")
	}
	sim := &Simulator{s: s, cfg: cfg, weights: w, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0xc0ffee)),
		stats: SimStats{ByAction: map[string]uint64{}}}
	for i, acc := range cfg.Users {
		sim.users = append(sim.users, s.User(acc, cfg.Platforms[i%len(cfg.Platforms)]))
	}
	return sim, nil
}

// Run performs actions at cfg.Rate until ctx ends. It returns nil when ctx
// ends; refused actions are counted, not returned.
func (sim *Simulator) Run(ctx context.Context) error {
	if sim.cfg.Rate <= 0 {
		return errors.New("timfake: simulator rate must be positive")
	}
	// A burst of 1% of the rate keeps timer wake-ups reasonable at high rates.
	lim := rate.NewLimiter(rate.Limit(sim.cfg.Rate), max(1, int(sim.cfg.Rate/100)))
	for {
		if err := lim.Wait(ctx); err != nil {
			return nil //nolint:nilerr // ctx ended (or its deadline is too near to wait): the documented way out
		}
		_, _ = sim.Step() // refused actions are counted in Stats, not returned
	}
}

// Stats returns a copy of the counters.
func (sim *Simulator) Stats() SimStats {
	sim.mu.Lock()
	defer sim.mu.Unlock()
	st := sim.stats
	st.ByAction = maps.Clone(sim.stats.ByAction)
	return st
}

func (sim *Simulator) intn(n int) int {
	sim.mu.Lock()
	defer sim.mu.Unlock()
	return sim.rng.IntN(n)
}

func (sim *Simulator) pickUser(exclude func(string) bool) *User {
	var cands []*User
	for _, u := range sim.users {
		if !exclude(u.Account) {
			cands = append(cands, u)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return cands[sim.intn(len(cands))]
}

func (sim *Simulator) userFor(account string) *User {
	for _, u := range sim.users {
		if u.Account == account {
			return u
		}
	}
	return sim.s.User(account, sim.cfg.Platforms[sim.intn(len(sim.cfg.Platforms))])
}

// Step performs one randomly chosen action and returns its name and the
// backend's answer. Actors are chosen so the action is normally permitted
// (the owner edits the profile, members send, outsiders join).
func (sim *Simulator) Step() (string, error) {
	ids := sim.cfg.Groups
	if len(ids) == 0 {
		ids = sim.s.Groups()
	}
	action, err := "none", error(nil)
	if len(ids) == 0 {
		if sim.weights.Create > 0 {
			action, err = sim.create()
		} else {
			err = errors.New("timfake: no groups to simulate on")
		}
		sim.record(action, err)
		return action, err
	}
	id := ids[sim.intn(len(ids))]
	snap, ok := sim.s.Group(id)
	if !ok {
		sim.record("missing", errf(CodeGroupNotFound, "group %s does not exist", id))
		return "missing", errf(CodeGroupNotFound, "group %s does not exist", id)
	}
	action, err = sim.act(snap)
	sim.record(action, err)
	return action, err
}

func (sim *Simulator) record(action string, err error) {
	sim.mu.Lock()
	defer sim.mu.Unlock()
	sim.stats.Steps++
	sim.stats.ByAction[action]++
	if err != nil {
		sim.stats.Failed++
	} else {
		sim.stats.OK++
	}
}

func (sim *Simulator) choose() string {
	w := sim.weights
	table := []struct {
		name string
		w    int
	}{{"send", w.Send}, {"info", w.Info}, {"attr", w.Attr}, {"join", w.Join}, {"quit", w.Quit},
		{"owner", w.ChangeOwner}, {"destroy", w.Destroy}, {"create", w.Create}}
	total := 0
	for _, t := range table {
		total += max(0, t.w)
	}
	n := sim.intn(total)
	for _, t := range table {
		if n < max(0, t.w) {
			return t.name
		}
		n -= max(0, t.w)
	}
	return "send"
}

func (sim *Simulator) create() (string, error) {
	u := sim.users[sim.intn(len(sim.users))]
	types := []string{TypePublic, TypePrivate, TypeChatRoom}
	_, err := u.CreateGroup(GroupSpec{Type: types[sim.intn(len(types))], Name: fmt.Sprintf("sim group %d", sim.intn(1_000_000))})
	return "create", err
}

func (sim *Simulator) act(g GroupSnapshot) (string, error) {
	isMember := map[string]bool{}
	var plain []string // members other than the owner
	for _, m := range g.Members {
		isMember[m.Account] = true
		if m.Account != g.Owner {
			plain = append(plain, m.Account)
		}
	}
	sort.Strings(plain)
	n := sim.intn(1_000_000)
	action := sim.choose()
	owner := (*User)(nil)
	if g.Owner != "" && isMember[g.Owner] {
		owner = sim.userFor(g.Owner)
	}
	// Fall back to an action that is possible for this group.
	if (action == "info" || action == "owner" || action == "destroy") && owner == nil {
		action = "join"
	}
	if (action == "send" || action == "attr") && len(g.Members) == 0 {
		action = "join"
	}
	if (action == "quit" || action == "owner") && len(plain) == 0 {
		action = "join"
	}
	switch action {
	case "send":
		m := g.Members[sim.intn(len(g.Members))]
		_, err := sim.userFor(m.Account).SendText(g.ID, fmt.Sprintf("message %d", n))
		return action, err
	case "info":
		switch n % 4 {
		case 0:
			return action, owner.SetName(g.ID, fmt.Sprintf("%s #%d", baseName(g.Name), n%1000))
		case 1:
			return action, owner.SetIntroduction(g.ID, fmt.Sprintf("introduction %d", n))
		case 2:
			return action, owner.SetNotification(g.ID, fmt.Sprintf("notification %d", n))
		default:
			return action, owner.SetFaceURL(g.ID, fmt.Sprintf("https://example.com/face/%d.png", n))
		}
	case "attr":
		u := sim.userFor(g.Members[sim.intn(len(g.Members))].Account)
		if n%5 == 0 && len(g.Attributes) > 0 {
			keys := slices.Sorted(maps.Keys(g.Attributes))
			return action, u.DeleteAttrs(g.ID, keys[n%len(keys)])
		}
		return action, u.ModifyAttrs(g.ID, map[string]string{fmt.Sprintf("k%d", n%8): fmt.Sprintf("v%d", n)})
	case "join":
		u := sim.pickUser(func(a string) bool { return isMember[a] })
		if u == nil {
			return action, errf(CodeAlreadyMember, "every simulated user is in %s", g.ID)
		}
		if g.Type == TypePrivate && owner != nil {
			return action, owner.Invite(g.ID, u.Account)
		}
		return action, u.Join(g.ID)
	case "quit":
		return action, sim.userFor(plain[sim.intn(len(plain))]).Quit(g.ID)
	case "owner":
		return action, owner.ChangeOwner(g.ID, plain[sim.intn(len(plain))])
	case "destroy":
		return action, owner.Destroy(g.ID)
	default:
		return sim.create()
	}
}

// baseName strips a " #n" suffix the simulator added earlier, so names do
// not grow without bound.
func baseName(name string) string {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '#' && i > 0 && name[i-1] == ' ' {
			return name[:i-1]
		}
	}
	return name
}
