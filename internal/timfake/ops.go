package timfake

import (
	"encoding/json"
	"slices"
	"time"
)

// The state operations. REST handlers and simulated users both come through
// here, so validation, state and callbacks are the same whoever acts. Every
// operation validates everything before it changes anything, and emits its
// callback while still holding the lock, so callbacks of one group are
// queued in the order the changes happened.

type createMember struct {
	Account              string `json:"Member_Account"`
	Role                 string `json:"Role"`
	AppMemberDefinedData []cbKV `json:"AppMemberDefinedData"`
}

type createGroupReq struct {
	OwnerAccount     string         `json:"Owner_Account"`
	Type             string         `json:"Type"`
	GroupID          string         `json:"GroupId"`
	Name             string         `json:"Name"`
	Introduction     string         `json:"Introduction"`
	Notification     string         `json:"Notification"`
	FaceURL          string         `json:"FaceUrl"`
	MaxMemberCount   *uint32        `json:"MaxMemberCount"`
	ApplyJoinOption  string         `json:"ApplyJoinOption"`
	InviteJoinOption string         `json:"InviteJoinOption"`
	AppDefinedData   []cbKV         `json:"AppDefinedData"`
	MemberList       []createMember `json:"MemberList"`
	SupportTopic     int            `json:"SupportTopic"`
}

func checkLen(field, v string, limit int) *Error {
	if len(v) > limit {
		return errf(CodeInvalidParam, "%s is %d bytes, limit %d", field, len(v), limit)
	}
	return nil
}

// validAppDefinedKey: 1-16 letters, digits and _, not starting with a
// digit (the custom group field names the console accepts).
func validAppDefinedKey(k string) bool {
	if k == "" || len(k) > maxAppDefinedKey || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// checkAppDefined checks an AppDefinedData list against the fields the
// group already has: every key valid, every value at most 512 bytes, at
// most 10 fields after the upsert.
func checkAppDefined(list []cbKV, existing []kv) *Error {
	merged := slices.Clone(existing)
	for _, e := range list {
		if e.Key == "" {
			return errf(CodeInvalidParam, "AppDefinedData key missing")
		}
		if !validAppDefinedKey(e.Key) {
			return errf(CodeInvalidParam, "AppDefinedData key %q must be 1-%d letters, digits or _, not starting with a digit", e.Key, maxAppDefinedKey)
		}
		if len(e.Value) > maxAppDefinedValue {
			return errf(CodeInvalidParam, "AppDefinedData %s value is %d bytes, limit %d", e.Key, len(e.Value), maxAppDefinedValue)
		}
		merged = setKV(merged, e.Key, e.Value)
	}
	if len(merged) > maxAppDefined {
		return errf(CodeInvalidParam, "more than %d AppDefinedData fields", maxAppDefined)
	}
	return nil
}

// typeName is how an error names a group type.
func typeName(typ string) string {
	if typ == TypePrivate {
		return "Private (Work)"
	}
	return typ
}

// checkTypeSettings applies the per-type setting rules shared by
// create_group and modify_group_base_info; nil means the field is not
// given. maxField is the member limit's name in that command
// (MaxMemberCount at create, MaxMemberNum at modify).
//
//   - ApplyJoinOption: not on Work (Private) groups, which are
//     invite-only, nor AVChatRoom, which anyone may join ("creating Work
//     or AVChatRoom groups cannot set joinOption").
//   - InviteJoinOption: not on AVChatRoom (no invitations) nor Community.
//   - the member limit: not on AVChatRoom (unlimited); otherwise 1 to
//     6000, a Community up to 100000.
func checkTypeSettings(typ string, apply, invite *string, maxField string, maxMembers *uint32) *Error {
	if apply != nil {
		if typ == TypePrivate || typ == TypeAVChatRoom {
			return errf(CodeInvalidParam, "ApplyJoinOption cannot be set on %s groups", typeName(typ))
		}
		if !slices.Contains(applyJoinOptions, *apply) {
			return errf(CodeInvalidParam, "invalid ApplyJoinOption %q", *apply)
		}
	}
	if invite != nil {
		if typ == TypeAVChatRoom || typ == TypeCommunity {
			return errf(CodeInvalidParam, "InviteJoinOption cannot be set on %s groups", typeName(typ))
		}
		if !slices.Contains(inviteJoinOptions, *invite) {
			return errf(CodeInvalidParam, "invalid InviteJoinOption %q", *invite)
		}
	}
	if maxMembers != nil {
		limit := uint32(maxMemberCap)
		if typ == TypeCommunity {
			limit = maxCommunityCap
		}
		switch {
		case typ == TypeAVChatRoom:
			return errf(CodeInvalidParam, "%s cannot be set on AVChatRoom groups, which are unlimited", maxField)
		case *maxMembers == 0:
			return errf(CodeInvalidParam, "%s must be at least 1", maxField)
		case *maxMembers > limit:
			return errf(CodeInvalidParam, "%s %d above the %s limit %d", maxField, *maxMembers, typeName(typ), limit)
		}
	}
	return nil
}

// nonEmpty is s as an optional field: nil when empty (not given).
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (s *Server) createGroup(a actor, r createGroupReq) (string, *Error) {
	if _, ok := defaultMaxMembers[r.Type]; !ok {
		return "", errf(CodeInvalidParam, "invalid group Type %q", r.Type)
	}
	if r.Type == TypeAVChatRoom && len(r.MemberList) > 0 {
		return "", errf(CodeNoPermission, "AVChatRoom groups cannot be created with members")
	}
	if len(r.MemberList) > maxInitialMembers {
		return "", errf(CodeInvalidParam, "MemberList has %d entries, limit %d", len(r.MemberList), maxInitialMembers)
	}
	if r.Name == "" {
		return "", errf(CodeInvalidParam, "Name is required")
	}
	for _, c := range []struct {
		f, v string
		n    int
	}{{"Name", r.Name, maxNameLen}, {"Introduction", r.Introduction, maxIntroLen}, {"Notification", r.Notification, maxNotifLen}, {"FaceUrl", r.FaceURL, maxFaceLen}} {
		if e := checkLen(c.f, c.v, c.n); e != nil {
			return "", e
		}
	}
	if e := checkTypeSettings(r.Type, nonEmpty(r.ApplyJoinOption), nonEmpty(r.InviteJoinOption), "MaxMemberCount", r.MaxMemberCount); e != nil {
		return "", e
	}
	switch {
	case r.SupportTopic != 0 && r.SupportTopic != 1:
		return "", errf(CodeInvalidParam, "SupportTopic must be 0 or 1, not %d", r.SupportTopic)
	case r.SupportTopic == 1 && r.Type != TypeCommunity:
		return "", errf(CodeInvalidParam, "SupportTopic is only for Community groups, not %s", typeName(r.Type))
	}
	apply := r.ApplyJoinOption
	if apply == "" {
		apply = defaultApplyJoin[r.Type]
	}
	invite := r.InviteJoinOption
	if invite == "" {
		invite = "FreeAccess"
	}
	if e := checkAppDefined(r.AppDefinedData, nil); e != nil {
		return "", e
	}
	maxMembers := defaultMaxMembers[r.Type]
	if r.MaxMemberCount != nil {
		maxMembers = *r.MaxMemberCount
	}
	var initial []string
	for _, m := range r.MemberList {
		if m.Account == "" {
			return "", errf(CodeInvalidParam, "Member_Account missing in MemberList")
		}
		if m.Role != "" && m.Role != RoleAdmin && m.Role != RoleMember {
			return "", errf(CodeInvalidParam, "invalid member Role %q", m.Role)
		}
		if m.Account != r.OwnerAccount && !slices.Contains(initial, m.Account) {
			initial = append(initial, m.Account)
		}
	}
	withOwner := len(initial)
	if r.OwnerAccount != "" && r.Type != TypeAVChatRoom {
		withOwner++
	}
	if maxMembers > 0 && withOwner > int(maxMembers) {
		return "", errf(CodeGroupFull, "%d initial members exceed MaxMemberCount %d", withOwner, maxMembers)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.GroupID
	if id != "" {
		switch {
		case !validGroupIDSyntax(id):
			return "", errf(CodeInvalidParam, "custom GroupId must be 1-%d bytes of printable ASCII", maxGroupIDLen)
		case r.Type == TypeCommunity && !hasPrefix(id, "@TGS#_"):
			return "", errf(CodeInvalidParam, "a custom Community GroupId must start with @TGS#_")
		case r.Type != TypeCommunity && hasPrefix(id, "@TGS#"):
			return "", errf(CodeInvalidParam, "a custom GroupId must not start with @TGS#")
		}
		if old, ok := s.groups[id]; ok {
			if old.owner != "" && old.owner == r.OwnerAccount {
				return "", errf(CodeGroupIDUsedByYou, "group id %s is used and you are its owner", id)
			}
			return "", errf(CodeGroupIDUsed, "group id %s is already used", id)
		}
	} else {
		for {
			id = s.newID(r.Type)
			if _, taken := s.groups[id]; !taken {
				break
			}
		}
	}
	now := s.now()
	s.nextSerial++
	g := &group{
		serial: s.nextSerial, id: id, typ: r.Type, owner: r.OwnerAccount,
		name: r.Name, intro: r.Introduction, notif: r.Notification, face: r.FaceURL,
		maxMembers: maxMembers, applyJoin: apply, inviteJoin: invite, muteAll: "Off", topics: r.SupportTopic == 1,
		members: make(map[string]*member), created: now, lastInfo: now, nextSeq: 1,
		dedup: make(map[dedupKey]sentMsg),
	}
	for _, e := range r.AppDefinedData {
		g.appData = setKV(g.appData, e.Key, e.Value)
	}
	// An AVChatRoom owner must still join through the SDK.
	if r.OwnerAccount != "" && r.Type != TypeAVChatRoom {
		g.addMember(r.OwnerAccount, RoleOwner, now)
	}
	for _, m := range r.MemberList {
		if m.Account == r.OwnerAccount {
			continue
		}
		role := m.Role
		if role == "" {
			role = RoleMember
		}
		g.addMember(m.Account, role, now)
		for _, d := range m.AppMemberDefinedData {
			g.members[m.Account].appData = setKV(g.members[m.Account].appData, d.Key, d.Value)
		}
	}
	s.groups[id] = g
	var udd []cbKV
	for _, e := range g.appData {
		udd = append(udd, cbKV{e.key, e.value})
	}
	s.emitLocked(a, g, cbAfterCreateGroup{
		CallbackCommand: CmdAfterCreateGroup, GroupID: id, OperatorAccount: a.account,
		OwnerAccount: r.OwnerAccount, Type: r.Type, Name: r.Name, MemberList: members(initial),
		UserDefinedDataList: udd, EventTime: s.eventTime(now),
	})
	s.noteGroupsLocked(1, now)
	return id, nil
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

type modifyReq struct {
	GroupID          string  `json:"GroupId"`
	Name             *string `json:"Name"`
	Introduction     *string `json:"Introduction"`
	Notification     *string `json:"Notification"`
	FaceURL          *string `json:"FaceUrl"`
	MaxMemberNum     *uint32 `json:"MaxMemberNum"`
	ApplyJoinOption  *string `json:"ApplyJoinOption"`
	InviteJoinOption *string `json:"InviteJoinOption"`
	MuteAllMember    *string `json:"MuteAllMember"`
	FromAccount      string  `json:"From_Account"`
	AppDefinedData   []cbKV  `json:"AppDefinedData"`
}

func (s *Server) modifyGroup(a actor, r modifyReq) *Error {
	if r.Name != nil && *r.Name == "" {
		return errf(CodeInvalidParam, "Name must not be empty")
	}
	for _, c := range []struct {
		f string
		v *string
		n int
	}{{"Name", r.Name, maxNameLen}, {"Introduction", r.Introduction, maxIntroLen}, {"Notification", r.Notification, maxNotifLen}, {"FaceUrl", r.FaceURL, maxFaceLen}} {
		if c.v != nil {
			if e := checkLen(c.f, *c.v, c.n); e != nil {
				return e
			}
		}
	}
	if r.ApplyJoinOption != nil && !slices.Contains(applyJoinOptions, *r.ApplyJoinOption) {
		return errf(CodeInvalidParam, "invalid ApplyJoinOption %q", *r.ApplyJoinOption)
	}
	if r.InviteJoinOption != nil && !slices.Contains(inviteJoinOptions, *r.InviteJoinOption) {
		return errf(CodeInvalidParam, "invalid InviteJoinOption %q", *r.InviteJoinOption)
	}
	if r.MuteAllMember != nil && *r.MuteAllMember != "On" && *r.MuteAllMember != "Off" {
		return errf(CodeInvalidParam, "MuteAllMember must be On or Off, not %q", *r.MuteAllMember)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(r.GroupID)
	if e != nil {
		return e
	}
	if !a.admin {
		if _, ok := g.members[a.account]; !ok {
			return errf(CodeNoPermission, "%s is not a member of %s", a.account, g.id)
		}
		// Work groups let every member edit the profile; other types
		// only the owner and admins.
		if g.typ != TypePrivate && !g.isManager(a.account) {
			return errf(CodeNoPermission, "only the owner or an admin may change %s", g.id)
		}
		// The client SDKs cannot change the member limit ("use the REST
		// API"), only the admin can.
		if r.MaxMemberNum != nil {
			return errf(CodeNoPermission, "MaxMemberNum can only be changed through the REST API")
		}
	}
	if e := checkTypeSettings(g.typ, r.ApplyJoinOption, r.InviteJoinOption, "MaxMemberNum", r.MaxMemberNum); e != nil {
		return e
	}
	if r.MaxMemberNum != nil && int(*r.MaxMemberNum) < len(g.members) {
		return errf(CodeInvalidParam, "MaxMemberNum %d below the %d current members", *r.MaxMemberNum, len(g.members))
	}
	if e := checkAppDefined(r.AppDefinedData, g.appData); e != nil {
		return e
	}
	now := s.now()
	cb := cbAfterGroupInfoChanged{CallbackCommand: CmdAfterGroupInfoChanged, GroupID: g.id, Type: g.typ, OperatorAccount: a.account}
	if a.admin && r.FromAccount != "" {
		cb.OperatorAccount = r.FromAccount
	}
	changed, notify := false, false
	apply := func(dst *string, v *string, out **string) {
		if v == nil || *dst == *v {
			return
		}
		*dst = *v
		changed = true
		if out != nil {
			val := *v
			*out = &val
			notify = true
		}
	}
	apply(&g.name, r.Name, &cb.Name)
	apply(&g.intro, r.Introduction, &cb.Introduction)
	apply(&g.notif, r.Notification, &cb.Notification)
	apply(&g.face, r.FaceURL, &cb.FaceURL)
	apply(&g.applyJoin, r.ApplyJoinOption, nil)
	apply(&g.inviteJoin, r.InviteJoinOption, nil)
	apply(&g.muteAll, r.MuteAllMember, nil)
	if r.MaxMemberNum != nil && g.maxMembers != *r.MaxMemberNum {
		g.maxMembers = *r.MaxMemberNum
		changed = true
	}
	// AppDefinedData is upserted: a field is never deleted, an empty value
	// empties it.
	for _, d := range r.AppDefinedData {
		g.appData = setKV(g.appData, d.Key, d.Value)
		changed = true
	}
	if changed {
		g.lastInfo = now
	}
	// Only name, introduction, notification and face URL changes trigger
	// the callback (seed 000: "not triggered when other basic group
	// information is modified"); setting a field to its current value is
	// not a change.
	if notify {
		cb.EventTime = s.eventTime(now)
		s.emitLocked(a, g, cb)
	}
	return nil
}

func (s *Server) destroyGroup(a actor, id string) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(id)
	if e != nil {
		return e
	}
	if !a.admin {
		if g.role(a.account) != RoleOwner {
			return errf(CodeNoPermission, "only the owner may disband %s", g.id)
		}
		if g.typ == TypePrivate {
			return errf(CodeNoPermission, "Work (Private) groups cannot be disbanded by their owner")
		}
	}
	now := s.now()
	delete(s.groups, id)
	cb := cbAfterGroupDestroyed{CallbackCommand: CmdAfterGroupDestroyed, GroupID: g.id, Type: g.typ, OwnerAccount: g.owner, Name: g.name, EventTime: s.eventTime(now)}
	if g.typ != TypeCommunity {
		ml := members(g.memberAccounts())
		cb.MemberList = &ml
	}
	s.emitLocked(a, g, cb)
	s.noteGroupsLocked(-1, now)
	return nil
}

// attrInput is a GroupAttr entry of a write request.
type attrInput struct {
	Key   string  `json:"key"`
	Value *string `json:"value"`
}

// writeAttrs applies one attribute write (op is set, modify, delete or
// clear) after checking every documented limit against the result.
func (s *Server) writeAttrs(a actor, id, op string, in []attrInput) *Error {
	for _, e := range in {
		if e.Key == "" {
			return errf(CodeAttrKeyMissing, "attribute key missing")
		}
		if len(e.Key) > maxAttrKeyLen {
			return errf(CodeAttrKeyTooLong, "attribute key %q is %d bytes, limit %d", e.Key, len(e.Key), maxAttrKeyLen)
		}
		if op == AttrOpSet || op == AttrOpModify {
			if e.Value == nil {
				return errf(CodeInvalidParam, "attribute %q has no value", e.Key)
			}
			if len(*e.Value) > maxAttrValueLen {
				return errf(CodeAttrValueTooLong, "attribute %q value is %d bytes, limit %d", e.Key, len(*e.Value), maxAttrValueLen)
			}
		}
	}
	if (op == AttrOpModify || op == AttrOpDelete) && len(in) == 0 {
		return errf(CodeInvalidParam, "GroupAttr is empty")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(id)
	if e != nil {
		return e
	}
	if !a.admin {
		if _, ok := g.members[a.account]; !ok {
			return errf(CodeNoPermission, "%s is not a member of %s", a.account, g.id)
		}
	}
	if op == AttrOpClear && g.typ == TypeCommunity {
		return errf(CodeNoPermission, "clear_group_attr does not support Community groups")
	}
	var next []kv
	switch op {
	case AttrOpSet:
		for _, e := range in {
			next = setKV(next, e.Key, *e.Value)
		}
	case AttrOpModify:
		next = slices.Clone(g.attrs)
		for _, e := range in {
			next = setKV(next, e.Key, *e.Value)
		}
	case AttrOpDelete:
		next = slices.Clone(g.attrs)
		for _, e := range in {
			next = deleteKV(next, e.Key)
		}
	case AttrOpClear:
	}
	if len(next) > maxAttrKeys {
		return errf(CodeAttrTooManyKeys, "%d attribute keys, limit %d", len(next), maxAttrKeys)
	}
	total := 0
	for _, e := range next {
		total += len(e.key) + len(e.value)
	}
	if total > maxAttrTotal {
		return errf(CodeAttrTotalTooLarge, "attributes total %d bytes, limit %d", total, maxAttrTotal)
	}
	now := s.now()
	// At most 5 writes in any one-second window per group.
	recent := g.attrWrites[:0]
	for _, t := range g.attrWrites {
		if now.Sub(t) < time.Second {
			recent = append(recent, t)
		}
	}
	g.attrWrites = recent
	if len(recent) >= attrWritesPerSec {
		return errf(CodeAttrWriteFreq, "more than %d attribute writes per second on %s", attrWritesPerSec, g.id)
	}
	g.attrWrites = append(g.attrWrites, now)
	g.attrs = next
	cbAttrs := make([]cbAttr, 0, len(in))
	if op != AttrOpClear {
		for _, e := range in {
			entry := cbAttr{Key: e.Key}
			if op != AttrOpDelete {
				v := *e.Value
				entry.Value = &v
			}
			cbAttrs = append(cbAttrs, entry)
		}
	}
	s.emitLocked(a, g, cbAfterGroupAttrChanged{
		CallbackCommand: CmdAfterGroupAttrChanged, GroupID: g.id, Type: g.typ, OperatorAccount: a.account,
		OptionType: op, GroupAttr: cbAttrs, EventTime: s.eventTime(now),
	})
	return nil
}

func (s *Server) getAttrs(id string) ([]kv, *Error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(id)
	if e != nil {
		return nil, e
	}
	return slices.Clone(g.attrs), nil
}

type sendReq struct {
	GroupID               string          `json:"GroupId"`
	Random                uint32          `json:"Random"`
	FromAccount           string          `json:"From_Account"`
	MsgBody               json.RawMessage `json:"MsgBody"`
	CloudCustomData       string          `json:"CloudCustomData"`
	MsgOnlineOnlyFlag     int             `json:"MsgOnlineOnlyFlag"`
	ForbidCallbackControl []string        `json:"ForbidCallbackControl"`
}

var msgTypes = []string{"TIMTextElem", "TIMLocationElem", "TIMFaceElem", "TIMCustomElem", "TIMSoundElem", "TIMImageElem", "TIMFileElem", "TIMVideoFileElem"}

func checkMsgBody(raw json.RawMessage) *Error {
	var elems []struct {
		MsgType    string          `json:"MsgType"`
		MsgContent json.RawMessage `json:"MsgContent"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &elems) != nil || len(elems) == 0 {
		return errf(CodeInvalidParam, "MsgBody must be a non-empty array of message elements")
	}
	for _, el := range elems {
		if !slices.Contains(msgTypes, el.MsgType) {
			return errf(CodeInvalidParam, "invalid MsgType %q", el.MsgType)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(el.MsgContent, &obj) != nil {
			return errf(CodeInvalidParam, "MsgContent of %s must be an object", el.MsgType)
		}
	}
	return nil
}

func (s *Server) sendMsg(a actor, r sendReq) (sentMsg, *Error) {
	if e := checkMsgBody(r.MsgBody); e != nil {
		return sentMsg{}, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(r.GroupID)
	if e != nil {
		return sentMsg{}, e
	}
	from := r.FromAccount
	if !a.admin {
		from = a.account
		m, ok := g.members[from]
		if !ok {
			return sentMsg{}, errf(CodeNoPermission, "%s is not a member of %s", from, g.id)
		}
		if g.muteAll == "On" && m.role == RoleMember {
			return sentMsg{}, errf(CodeMuted, "all members of %s are muted", g.id)
		}
	} else if from == "" {
		from = a.account
	}
	now := s.now()
	// The same Random from the same sender within five minutes is the same
	// message: answer with the first send's seq, change nothing, notify
	// nobody. This is what makes client retries safe.
	for len(g.dedupOrder) > 0 {
		k := g.dedupOrder[0]
		if now.Sub(g.dedup[k].at) < dedupWindow {
			break
		}
		delete(g.dedup, k)
		g.dedupOrder = g.dedupOrder[1:]
	}
	key := dedupKey{from: from, random: r.Random}
	if prev, dup := g.dedup[key]; dup {
		return prev, nil
	}
	sent := sentMsg{seq: g.nextSeq, time: now.Unix(), at: now}
	g.nextSeq++
	g.lastMsg = now
	if m, ok := g.members[from]; ok {
		m.lastSend = now
	}
	g.dedup[key] = sent
	g.dedupOrder = append(g.dedupOrder, key)
	if !slices.Contains(r.ForbidCallbackControl, "ForbidAfterSendMsgCallback") {
		online := r.MsgOnlineOnlyFlag
		if g.typ == TypeAVChatRoom {
			online = 0
		}
		body, _ := json.Marshal(r.MsgBody) // compact
		s.emitLocked(a, g, cbAfterSendMsg{
			CallbackCommand: CmdAfterSendMsg, GroupID: g.id, Type: g.typ, FromAccount: from,
			OperatorAccount: a.account, Random: r.Random, MsgSeq: sent.seq, MsgTime: sent.time,
			OnlineOnlyFlag: online, MsgBody: body, CloudCustomData: r.CloudCustomData, EventTime: s.eventTime(now),
		})
	}
	return sent, nil
}

// join adds accounts. joinType Apply with the actor among accounts is a user
// joining by themself; Apply with other accounts is an owner or admin
// approving applications; Invited is an invitation.
func (s *Server) join(a actor, id, joinType string, accounts []string) *Error {
	if len(accounts) == 0 {
		return errf(CodeInvalidParam, "no members to add")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(id)
	if e != nil {
		return e
	}
	self := len(accounts) == 1 && accounts[0] == a.account
	if !a.admin {
		switch {
		case joinType == JoinApply && self:
			if g.typ == TypePrivate {
				return errf(CodeNoPermission, "Work (Private) groups are invite-only")
			}
			if g.applyJoin == "DisableApply" {
				return errf(CodeNoPermission, "%s does not accept applications", g.id)
			}
			// NeedPermission: the simulation approves at once.
		case joinType == JoinApply:
			if !g.isManager(a.account) {
				return errf(CodeNoPermission, "only the owner or an admin may approve applications")
			}
		default: // Invited
			if g.typ == TypeAVChatRoom {
				return errf(CodeNoPermission, "AVChatRoom groups do not support invitations")
			}
			if _, ok := g.members[a.account]; !ok {
				return errf(CodeNoPermission, "%s is not a member of %s", a.account, g.id)
			}
			if g.inviteJoin == "DisableInvite" {
				return errf(CodeNoPermission, "%s does not allow invitations", g.id)
			}
		}
	}
	var added []string
	for _, acc := range accounts {
		if acc == "" {
			return errf(CodeInvalidParam, "empty account")
		}
		if _, ok := g.members[acc]; ok {
			if len(accounts) == 1 {
				return errf(CodeAlreadyMember, "%s is already a member of %s", acc, g.id)
			}
			continue
		}
		if !slices.Contains(added, acc) {
			added = append(added, acc)
		}
	}
	if g.full(len(added)) {
		return errf(CodeGroupFull, "%s is full", g.id)
	}
	now := s.now()
	for _, acc := range added {
		g.addMember(acc, RoleMember, now)
	}
	if len(added) == 0 {
		return nil
	}
	s.emitLocked(a, g, cbAfterNewMemberJoin{
		CallbackCommand: CmdAfterNewMemberJoin, GroupID: g.id, Type: g.typ, JoinType: joinType,
		OperatorAccount: a.account, NewMemberList: members(added), EventTime: s.eventTime(now),
	})
	return nil
}

// exit removes accounts: Quit for the actor leaving, Kicked for an owner or
// admin removing others.
func (s *Server) exit(a actor, id, exitType string, accounts []string) *Error {
	if len(accounts) == 0 {
		return errf(CodeInvalidParam, "no members to remove")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(id)
	if e != nil {
		return e
	}
	for _, acc := range accounts {
		if _, ok := g.members[acc]; !ok {
			return errf(CodeNoPermission, "%s is not a member of %s", acc, g.id)
		}
		if acc == g.owner {
			return errf(CodeOwnerCannotQuit, "the owner cannot leave %s; transfer ownership first", g.id)
		}
	}
	if !a.admin {
		if exitType == ExitQuit && (len(accounts) != 1 || accounts[0] != a.account) {
			return errf(CodeInvalidParam, "a user can only quit by themself")
		}
		if exitType == ExitKicked {
			if !g.isManager(a.account) {
				return errf(CodeNoPermission, "only the owner or an admin may remove members")
			}
			for _, acc := range accounts {
				if g.role(acc) == RoleAdmin && g.role(a.account) != RoleOwner {
					return errf(CodeNoPermission, "only the owner may remove an admin")
				}
			}
		}
	}
	now := s.now()
	for _, acc := range accounts {
		g.removeMember(acc)
	}
	s.emitLocked(a, g, cbAfterMemberExit{
		CallbackCommand: CmdAfterMemberExit, GroupID: g.id, Type: g.typ, ExitType: exitType,
		OperatorAccount: a.account, ExitMemberList: members(accounts), EventTime: s.eventTime(now),
	})
	return nil
}

func (s *Server) changeOwner(a actor, id, newOwner string) *Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, e := s.lookup(id)
	if e != nil {
		return e
	}
	if g.typ == TypeAVChatRoom {
		return errf(CodeNoPermission, "AVChatRoom groups do not support ownership transfer")
	}
	if !a.admin && g.owner != a.account {
		return errf(CodeNoPermission, "only the owner may transfer %s", g.id)
	}
	if _, ok := g.members[newOwner]; !ok {
		return errf(CodeInvalidParam, "new owner %s is not a member of %s", newOwner, g.id)
	}
	if newOwner == g.owner {
		return errf(CodeInvalidParam, "%s already owns %s", newOwner, g.id)
	}
	now := s.now()
	old := g.owner
	if m, ok := g.members[old]; ok {
		m.role = RoleMember
	}
	g.members[newOwner].role = RoleOwner
	g.owner = newOwner
	g.lastInfo = now
	s.emitLocked(a, g, cbAfterChangeGroupOwner{
		CallbackCommand: CmdAfterChangeGroupOwner, GroupID: g.id, Type: g.typ, OperatorAccount: a.account,
		OldOwnerAccount: old, NewOwnerAccount: newOwner, EventTime: s.eventTime(now),
	})
	return nil
}
