package timfake

import "slices"

// REST command handlers: decode the documented request, run the state
// operation, encode the documented answer.

type groupIDReq struct {
	GroupID string `json:"GroupId"`
}

func (s *Server) restCreateGroup(a actor, body []byte) (any, *Error) {
	var r createGroupReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	id, e := s.createGroup(a, r)
	if e != nil {
		return nil, e
	}
	type resp struct {
		envelope
		GroupID       string `json:"GroupId"`
		Type          string `json:"Type,omitempty"`
		HugeGroupFlag *int   `json:"HugeGroupFlag,omitempty"`
	}
	out := resp{envelope: okEnvelope(), GroupID: id}
	// Community answers also carry the type and HugeGroupFlag (reference §3.3).
	if r.Type == TypeCommunity {
		zero := 0
		out.Type, out.HugeGroupFlag = TypeCommunity, &zero
	}
	return out, nil
}

func (s *Server) restModifyGroupBaseInfo(a actor, body []byte) (any, *Error) {
	var r modifyReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	if e := s.modifyGroup(a, r); e != nil {
		return nil, e
	}
	return okEnvelope(), nil
}

func (s *Server) restDestroyGroup(a actor, body []byte) (any, *Error) {
	var r groupIDReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	if e := s.destroyGroup(a, r.GroupID); e != nil {
		return nil, e
	}
	return okEnvelope(), nil
}

func (s *Server) restSendGroupMsg(a actor, body []byte) (any, *Error) {
	var r sendReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	sent, e := s.sendMsg(a, r)
	if e != nil {
		return nil, e
	}
	return struct {
		envelope
		MsgTime int64  `json:"MsgTime"`
		MsgSeq  uint64 `json:"MsgSeq"`
	}{okEnvelope(), sent.time, sent.seq}, nil
}

type attrReq struct {
	GroupID   string      `json:"GroupId"`
	GroupAttr []attrInput `json:"GroupAttr"`
}

func (s *Server) restAttrWrite(a actor, body []byte, op string) (any, *Error) {
	var r attrReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	if e := s.writeAttrs(a, r.GroupID, op, r.GroupAttr); e != nil {
		return nil, e
	}
	return okEnvelope(), nil
}

func (s *Server) restModifyGroupAttr(a actor, body []byte) (any, *Error) {
	return s.restAttrWrite(a, body, AttrOpModify)
}

func (s *Server) restSetGroupAttr(a actor, body []byte) (any, *Error) {
	return s.restAttrWrite(a, body, AttrOpSet)
}

func (s *Server) restDeleteGroupAttr(a actor, body []byte) (any, *Error) {
	return s.restAttrWrite(a, body, AttrOpDelete)
}

func (s *Server) restClearGroupAttr(a actor, body []byte) (any, *Error) {
	var r groupIDReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	if e := s.writeAttrs(a, r.GroupID, AttrOpClear, nil); e != nil {
		return nil, e
	}
	return okEnvelope(), nil
}

type attrOut struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func (s *Server) restGetGroupAttr(_ actor, body []byte) (any, *Error) {
	var r groupIDReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	attrs, e := s.getAttrs(r.GroupID)
	if e != nil {
		return nil, e
	}
	out := make([]attrOut, len(attrs))
	for i, a := range attrs {
		out[i] = attrOut{a.key, a.value}
	}
	return struct {
		envelope
		GroupAttrAry []attrOut `json:"GroupAttrAry"`
	}{okEnvelope(), out}, nil
}

// get_appid_group_list

// defaultCursorBase puts every Next cursor above 2^53 so a client that
// parses it as a float64 (or a 32-bit integer) breaks in tests, not in
// production.
const defaultCursorBase = uint64(1) << 60

// DocumentedGroupListQPS is get_appid_group_list's default limit on a real
// app (reference §3.2), for Options.GroupListQPS.
const DocumentedGroupListQPS = 1

const maxListLimit = 10000

type listReq struct {
	Limit     *uint64 `json:"Limit"`
	Next      uint64  `json:"Next"`
	GroupType string  `json:"GroupType"`
}

func (s *Server) restGetAppIDGroupList(_ actor, body []byte) (any, *Error) {
	var r listReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	limit := uint64(maxListLimit)
	if r.Limit != nil {
		if *r.Limit == 0 || *r.Limit > maxListLimit {
			return nil, errf(CodeInvalidParam, "Limit must be 1-%d", maxListLimit)
		}
		limit = *r.Limit
	}
	if r.GroupType != "" {
		if _, ok := defaultMaxMembers[r.GroupType]; !ok {
			return nil, errf(CodeInvalidParam, "invalid GroupType %q", r.GroupType)
		}
	}
	s.mu.Lock()
	from := uint64(0)
	if r.Next != 0 {
		if !s.cursors[r.Next] || r.Next < s.cursorBase {
			s.mu.Unlock()
			return nil, errf(CodeInvalidParam, "invalid Next cursor")
		}
		from = r.Next - s.cursorBase
	}
	var all []*group
	for _, g := range s.groups {
		if r.GroupType == "" || g.typ == r.GroupType {
			all = append(all, g)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(all, func(a, b *group) int {
		switch {
		case a.serial < b.serial:
			return -1
		case a.serial > b.serial:
			return 1
		}
		return 0
	})
	type item struct {
		GroupID string `json:"GroupId"`
	}
	page := []item{}
	next := uint64(0)
	for _, g := range all {
		if g.serial < from {
			continue
		}
		if uint64(len(page)) == limit {
			next = s.cursorBase + g.serial
			s.mu.Lock()
			s.cursors[next] = true
			s.mu.Unlock()
			break
		}
		page = append(page, item{g.id})
	}
	return struct {
		envelope
		TotalCount  int    `json:"TotalCount"`
		GroupIDList []item `json:"GroupIdList"`
		Next        uint64 `json:"Next"`
	}{okEnvelope(), len(all), page, next}, nil
}

// get_group_info

const maxInfoBatch = 50

type responseFilter struct {
	GroupBaseInfoFilter       []string `json:"GroupBaseInfoFilter"`
	MemberInfoFilter          []string `json:"MemberInfoFilter"`
	AppDefinedDataFilterGroup []string `json:"AppDefinedDataFilter_Group"`
	AppDefinedDataFilterMem   []string `json:"AppDefinedDataFilter_GroupMember"`
}

type infoReq struct {
	GroupIDList    []string        `json:"GroupIdList"`
	ResponseFilter *responseFilter `json:"ResponseFilter"`
}

// infoEntry is one GroupInfo[] element. Pointers let a filter leave fields
// out while zero values that were asked for still appear.
type infoEntry struct {
	GroupID          string        `json:"GroupId"`
	ErrorCode        int           `json:"ErrorCode"`
	ErrorInfo        string        `json:"ErrorInfo"`
	Type             *string       `json:"Type,omitempty"`
	Appid            *uint64       `json:"Appid,omitempty"`
	Name             *string       `json:"Name,omitempty"`
	Introduction     *string       `json:"Introduction,omitempty"`
	Notification     *string       `json:"Notification,omitempty"`
	FaceURL          *string       `json:"FaceUrl,omitempty"`
	OwnerAccount     *string       `json:"Owner_Account,omitempty"`
	CreateTime       *int64        `json:"CreateTime,omitempty"`
	LastInfoTime     *int64        `json:"LastInfoTime,omitempty"`
	LastMsgTime      *int64        `json:"LastMsgTime,omitempty"`
	NextMsgSeq       *uint64       `json:"NextMsgSeq,omitempty"`
	MemberNum        *int          `json:"MemberNum,omitempty"`
	MaxMemberNum     *uint32       `json:"MaxMemberNum,omitempty"`
	ApplyJoinOption  *string       `json:"ApplyJoinOption,omitempty"`
	InviteJoinOption *string       `json:"InviteJoinOption,omitempty"`
	MuteAllMember    *string       `json:"MuteAllMember,omitempty"`
	AppDefinedData   []cbKV        `json:"AppDefinedData,omitempty"`
	MemberList       *[]memberInfo `json:"MemberList,omitempty"`
}

type memberInfo struct {
	Account              string  `json:"Member_Account"`
	Role                 *string `json:"Role,omitempty"`
	JoinTime             *int64  `json:"JoinTime,omitempty"`
	MsgSeq               *uint64 `json:"MsgSeq,omitempty"`
	MsgFlag              *string `json:"MsgFlag,omitempty"`
	LastSendMsgTime      *int64  `json:"LastSendMsgTime,omitempty"`
	MuteUntil            *int64  `json:"MuteUntil,omitempty"`
	AppMemberDefinedData []cbKV  `json:"AppMemberDefinedData,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func (s *Server) restGetGroupInfo(_ actor, body []byte) (any, *Error) {
	var r infoReq
	if e := decode(body, &r); e != nil {
		return nil, e
	}
	if len(r.GroupIDList) == 0 {
		return nil, errf(CodeInvalidParam, "GroupIdList is empty")
	}
	if len(r.GroupIDList) > maxInfoBatch {
		return nil, errf(CodeInvalidParam, "GroupIdList has %d entries, limit %d", len(r.GroupIDList), maxInfoBatch)
	}
	// Without a filter: every base field and the member list. With one:
	// the base fields it names (all if it names none), the member list only
	// if MemberInfoFilter is given. AppDefinedData only for keys named in
	// AppDefinedDataFilter_Group ("disabled by default").
	base := func(string) bool { return true }
	memberField := func(string) bool { return true }
	wantMembers := true
	var appKeys, memKeys []string
	if f := r.ResponseFilter; f != nil {
		if len(f.GroupBaseInfoFilter) > 0 {
			base = func(n string) bool { return slices.Contains(f.GroupBaseInfoFilter, n) }
		}
		wantMembers = len(f.MemberInfoFilter) > 0
		memberField = func(n string) bool {
			if n == "MuteUntil" && slices.Contains(f.MemberInfoFilter, "ShutUpUntil") {
				return true
			}
			return slices.Contains(f.MemberInfoFilter, n)
		}
		appKeys, memKeys = f.AppDefinedDataFilterGroup, f.AppDefinedDataFilterMem
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]infoEntry, 0, len(r.GroupIDList))
	for _, id := range r.GroupIDList {
		g, e := s.lookup(id)
		if e != nil {
			out = append(out, infoEntry{GroupID: id, ErrorCode: e.Code, ErrorInfo: e.Info})
			continue
		}
		en := infoEntry{GroupID: id}
		set := func(name string, apply func()) {
			if base(name) {
				apply()
			}
		}
		set("Type", func() { en.Type = ptr(g.typ) })
		set("Appid", func() { en.Appid = ptr(s.appID) })
		set("Name", func() { en.Name = ptr(g.name) })
		set("Introduction", func() { en.Introduction = ptr(g.intro) })
		set("Notification", func() { en.Notification = ptr(g.notif) })
		set("FaceUrl", func() { en.FaceURL = ptr(g.face) })
		set("Owner_Account", func() { en.OwnerAccount = ptr(g.owner) })
		set("CreateTime", func() { en.CreateTime = ptr(g.created.Unix()) })
		set("LastInfoTime", func() { en.LastInfoTime = ptr(g.lastInfo.Unix()) })
		set("LastMsgTime", func() {
			var t int64
			if !g.lastMsg.IsZero() {
				t = g.lastMsg.Unix()
			}
			en.LastMsgTime = ptr(t)
		})
		set("NextMsgSeq", func() { en.NextMsgSeq = ptr(g.nextSeq) })
		set("MaxMemberNum", func() { en.MaxMemberNum = ptr(g.maxMembers) })
		set("ApplyJoinOption", func() { en.ApplyJoinOption = ptr(g.applyJoin) })
		set("InviteJoinOption", func() { en.InviteJoinOption = ptr(g.inviteJoin) })
		set("MuteAllMember", func() { en.MuteAllMember = ptr(g.muteAll) })
		// AVChatRoom details come without member count or list.
		if g.typ != TypeAVChatRoom {
			set("MemberNum", func() { en.MemberNum = ptr(len(g.members)) })
			if wantMembers {
				list := make([]memberInfo, 0, len(g.order))
				for _, acc := range g.order {
					m := g.members[acc]
					mi := memberInfo{Account: m.account}
					if memberField("Role") {
						mi.Role = ptr(m.role)
					}
					if memberField("JoinTime") {
						mi.JoinTime = ptr(m.joinTime.Unix())
					}
					if memberField("MsgSeq") {
						mi.MsgSeq = ptr(g.nextSeq - 1)
					}
					if memberField("MsgFlag") {
						mi.MsgFlag = ptr("AcceptAndNotify")
					}
					if memberField("LastSendMsgTime") {
						var t int64
						if !m.lastSend.IsZero() {
							t = m.lastSend.Unix()
						}
						mi.LastSendMsgTime = ptr(t)
					}
					if memberField("MuteUntil") {
						mi.MuteUntil = ptr(int64(0))
					}
					for _, e := range m.appData {
						if slices.Contains(memKeys, e.key) {
							mi.AppMemberDefinedData = append(mi.AppMemberDefinedData, cbKV{e.key, e.value})
						}
					}
					list = append(list, mi)
				}
				en.MemberList = &list
			}
		}
		for _, e := range g.appData {
			if slices.Contains(appKeys, e.key) {
				en.AppDefinedData = append(en.AppDefinedData, cbKV{e.key, e.value})
			}
		}
		out = append(out, en)
	}
	return struct {
		envelope
		GroupInfo []infoEntry `json:"GroupInfo"`
	}{okEnvelope(), out}, nil
}
