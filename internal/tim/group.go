package tim

import (
	"context"
	"errors"
	"fmt"
)

// MaxGroupInfoBatch is the most group IDs get_group_info takes per call.
const MaxGroupInfoBatch = 50

// KeyValue is an AppDefinedData entry (capitalised Key/Value, unlike group
// attributes).
type KeyValue struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// NewMember is an initial member in create_group.
type NewMember struct {
	Account              string     `json:"Member_Account"`
	Role                 string     `json:"Role,omitempty"`
	AppMemberDefinedData []KeyValue `json:"AppMemberDefinedData,omitempty"`
}

// CreateGroupRequest is the create_group body. Note MaxMemberCount here
// where modify and get_group_info say MaxMemberNum: that is the API's own
// spelling.
type CreateGroupRequest struct {
	OwnerAccount     string      `json:"Owner_Account,omitempty"`
	Type             string      `json:"Type"`
	GroupID          string      `json:"GroupId,omitempty"`
	Name             string      `json:"Name"`
	Introduction     string      `json:"Introduction,omitempty"`
	Notification     string      `json:"Notification,omitempty"`
	FaceURL          string      `json:"FaceUrl,omitempty"`
	MaxMemberCount   uint32      `json:"MaxMemberCount,omitempty"`
	ApplyJoinOption  string      `json:"ApplyJoinOption,omitempty"`
	InviteJoinOption string      `json:"InviteJoinOption,omitempty"`
	AppDefinedData   []KeyValue  `json:"AppDefinedData,omitempty"`
	MemberList       []NewMember `json:"MemberList,omitempty"`
	SupportTopic     int         `json:"SupportTopic,omitempty"`
}

type createGroupResponse struct {
	GroupID string `json:"GroupId"`
}

// CreateGroup creates a group and returns its ID (the custom one, or the
// "@TGS#..." one the backend assigns).
func (c *Client) CreateGroup(ctx context.Context, req CreateGroupRequest) (string, error) {
	var resp createGroupResponse
	if err := c.call(ctx, svcGroup, "create_group", req, &resp); err != nil {
		return "", err
	}
	if resp.GroupID == "" {
		return "", &Error{Command: svcGroup + "/create_group", HTTPStatus: 200, Info: "answer carries no GroupId"}
	}
	return resp.GroupID, nil
}

// ResponseFilter narrows get_group_info. Without one the backend returns
// all base fields and the member list, but never AppDefinedData, which must
// be asked for by key.
type ResponseFilter struct {
	GroupBaseInfoFilter             []string `json:"GroupBaseInfoFilter,omitempty"`
	MemberInfoFilter                []string `json:"MemberInfoFilter,omitempty"`
	AppDefinedDataFilterGroup       []string `json:"AppDefinedDataFilter_Group,omitempty"`
	AppDefinedDataFilterGroupMember []string `json:"AppDefinedDataFilter_GroupMember,omitempty"`
}

// MemberInfo is an entry of get_group_info's MemberList.
type MemberInfo struct {
	Account              string     `json:"Member_Account"`
	Role                 string     `json:"Role,omitempty"`
	JoinTime             int64      `json:"JoinTime,omitempty"`
	MsgSeq               uint64     `json:"MsgSeq,omitempty"`
	MsgFlag              string     `json:"MsgFlag,omitempty"`
	LastSendMsgTime      int64      `json:"LastSendMsgTime,omitempty"`
	MuteUntil            int64      `json:"MuteUntil,omitempty"`
	AppMemberDefinedData []KeyValue `json:"AppMemberDefinedData,omitempty"`
}

// GroupInfo is one group's profile from get_group_info. Times are Unix
// seconds.
type GroupInfo struct {
	GroupID         string `json:"GroupId"`
	Type            string `json:"Type"`
	Appid           uint64 `json:"Appid,omitempty"`
	Name            string `json:"Name"`
	Introduction    string `json:"Introduction"`
	Notification    string `json:"Notification"`
	FaceURL         string `json:"FaceUrl"`
	OwnerAccount    string `json:"Owner_Account"`
	CreateTime      int64  `json:"CreateTime"`
	LastInfoTime    int64  `json:"LastInfoTime"`
	LastMsgTime     int64  `json:"LastMsgTime"`
	NextMsgSeq      uint64 `json:"NextMsgSeq"`
	MemberNum       uint32 `json:"MemberNum"`
	MaxMemberNum    uint32 `json:"MaxMemberNum"`
	ApplyJoinOption string `json:"ApplyJoinOption"`
	// InviteJoinOption is returned when GroupBaseInfoFilter names it.
	InviteJoinOption string       `json:"InviteJoinOption,omitempty"`
	MuteAllMember    string       `json:"MuteAllMember,omitempty"`
	AppDefinedData   []KeyValue   `json:"AppDefinedData,omitempty"`
	MemberList       []MemberInfo `json:"MemberList,omitempty"`
}

// GroupInfoResult is one requested group: its info, or Err (a *Error built
// from the group's own ErrorCode, e.g. 10010 for a group that does not
// exist). The other groups of the same call are unaffected.
type GroupInfoResult struct {
	GroupInfo
	Err error
}

type getGroupInfoRequest struct {
	GroupIDList    []string        `json:"GroupIdList"`
	ResponseFilter *ResponseFilter `json:"ResponseFilter,omitempty"`
}

type groupInfoWire struct {
	GroupInfo
	ErrorCode int    `json:"ErrorCode"`
	ErrorInfo string `json:"ErrorInfo"`
}

type getGroupInfoResponse struct {
	GroupInfo []groupInfoWire `json:"GroupInfo"`
}

// GetGroupInfo reads the groups, MaxGroupInfoBatch IDs per call. Results
// come back in the order of ids. The top-level envelope of this call is
// "meaningless" per the doc, so each group's own ErrorCode decides its Err;
// the returned error is set only when a whole call failed.
func (c *Client) GetGroupInfo(ctx context.Context, ids []string) ([]GroupInfoResult, error) {
	return c.GetGroupInfoFiltered(ctx, ids, nil)
}

// GetGroupInfoFiltered is GetGroupInfo with a ResponseFilter, e.g. to skip
// member lists during a resync or to fetch AppDefinedData keys.
func (c *Client) GetGroupInfoFiltered(ctx context.Context, ids []string, filter *ResponseFilter) ([]GroupInfoResult, error) {
	const cmd = "get_group_info"
	out := make([]GroupInfoResult, 0, len(ids))
	for start := 0; start < len(ids); start += MaxGroupInfoBatch {
		batch := ids[start:min(start+MaxGroupInfoBatch, len(ids))]
		var resp getGroupInfoResponse
		if err := c.call(ctx, svcGroup, cmd, getGroupInfoRequest{GroupIDList: batch, ResponseFilter: filter}, &resp); err != nil {
			return nil, err
		}
		// Match by ID rather than by position: the doc does not promise
		// the order, and a group missing from the answer must not shift
		// every later one.
		byID := make(map[string][]groupInfoWire, len(resp.GroupInfo))
		for _, g := range resp.GroupInfo {
			byID[g.GroupID] = append(byID[g.GroupID], g)
		}
		for _, id := range batch {
			r := GroupInfoResult{GroupInfo: GroupInfo{GroupID: id}}
			if gs := byID[id]; len(gs) > 0 {
				g := gs[0]
				byID[id] = gs[1:]
				r.GroupInfo = g.GroupInfo
				if g.ErrorCode != 0 {
					r.GroupInfo = GroupInfo{GroupID: id}
					r.Err = &Error{Command: svcGroup + "/" + cmd, Code: g.ErrorCode, HTTPStatus: 200, Info: c.redact(g.ErrorInfo)}
				}
			} else {
				r.Err = &Error{Command: svcGroup + "/" + cmd, HTTPStatus: 200, Info: fmt.Sprintf("group %q missing from the answer", id)}
			}
			out = append(out, r)
		}
	}
	return out, nil
}

// ModifyGroupBaseInfoRequest is the modify_group_base_info body. Only
// non-nil fields are sent, so "leave unchanged" and "set to empty" differ.
type ModifyGroupBaseInfoRequest struct {
	GroupID          string     `json:"GroupId"`
	Name             *string    `json:"Name,omitempty"`
	Introduction     *string    `json:"Introduction,omitempty"`
	Notification     *string    `json:"Notification,omitempty"`
	FaceURL          *string    `json:"FaceUrl,omitempty"`
	MaxMemberNum     *uint32    `json:"MaxMemberNum,omitempty"`
	ApplyJoinOption  *string    `json:"ApplyJoinOption,omitempty"`
	InviteJoinOption *string    `json:"InviteJoinOption,omitempty"`
	MuteAllMember    *string    `json:"MuteAllMember,omitempty"`
	FromAccount      string     `json:"From_Account,omitempty"`
	AppDefinedData   []KeyValue `json:"AppDefinedData,omitempty"`
}

// ModifyGroupBaseInfo changes the given fields of a group.
func (c *Client) ModifyGroupBaseInfo(ctx context.Context, req ModifyGroupBaseInfoRequest) error {
	if req.GroupID == "" {
		return errors.New("tim: modify_group_base_info: GroupID is required")
	}
	return c.call(ctx, svcGroup, "modify_group_base_info", req, nil)
}

type groupIDRequest struct {
	GroupID string `json:"GroupId"`
}

// DestroyGroup disbands a group.
func (c *Client) DestroyGroup(ctx context.Context, groupID string) error {
	if groupID == "" {
		return errors.New("tim: destroy_group: group ID is required")
	}
	return c.call(ctx, svcGroup, "destroy_group", groupIDRequest{GroupID: groupID}, nil)
}

// get_appid_group_list limits (reference §3.2-3.3): at most
// MaxAppIDGroupListLimit IDs per page, and by default one call per second
// for the whole app (AppIDGroupListQPS), beside the client's shared QPS.
// Callers that page through a large app pace themselves with it.
const (
	MaxAppIDGroupListLimit = 10000
	AppIDGroupListQPS      = 1
)

// groupTypes are the values get_appid_group_list accepts as GroupType.
var groupTypes = map[string]bool{
	GroupTypePrivate: true, GroupTypePublic: true, GroupTypeChatRoom: true,
	GroupTypeAVChatRoom: true, GroupTypeCommunity: true,
}

// The group types as the REST API spells them (the console calls Private
// "Work" and ChatRoom "Meeting").
const (
	GroupTypePrivate    = "Private"
	GroupTypePublic     = "Public"
	GroupTypeChatRoom   = "ChatRoom"
	GroupTypeAVChatRoom = "AVChatRoom"
	GroupTypeCommunity  = "Community"
)

type appIDGroupListRequest struct {
	Limit     uint64 `json:"Limit,omitempty"`
	Next      uint64 `json:"Next"`
	GroupType string `json:"GroupType,omitempty"`
}

// GroupIDItem is an entry of get_appid_group_list's GroupIdList.
type GroupIDItem struct {
	GroupID string `json:"GroupId"`
}

// AppIDGroupList is one page of get_appid_group_list. Next is an opaque
// 64-bit cursor (the doc warns that 32-bit parsing overflows; it is decoded
// straight into a uint64, never through a float64); 0 means the listing is
// complete.
type AppIDGroupList struct {
	TotalCount  uint64        `json:"TotalCount"`
	GroupIDList []GroupIDItem `json:"GroupIdList"`
	Next        uint64        `json:"Next"`
}

// IDs returns the page's group IDs.
func (l *AppIDGroupList) IDs() []string {
	out := make([]string, len(l.GroupIDList))
	for i, g := range l.GroupIDList {
		out[i] = g.GroupID
	}
	return out
}

// GetAppIDGroupList lists the app's groups a page at a time: start with
// next 0 and pass each answer's Next until it is 0. limit 0 lets the server
// choose, otherwise at most MaxAppIDGroupListLimit; groupType "" lists all
// types, otherwise it is one of the GroupType* names. A limit or type the
// API would refuse is refused here, before a call is spent on it: the API
// allows only AppIDGroupListQPS calls per second.
func (c *Client) GetAppIDGroupList(ctx context.Context, limit, next uint64, groupType string) (*AppIDGroupList, error) {
	const cmd = svcGroup + "/get_appid_group_list"
	if limit > MaxAppIDGroupListLimit {
		return nil, fmt.Errorf("tim: %s: Limit %d is above the API's maximum %d", cmd, limit, MaxAppIDGroupListLimit)
	}
	if groupType != "" && !groupTypes[groupType] {
		return nil, fmt.Errorf("tim: %s: GroupType %q is not one of Private, Public, ChatRoom, AVChatRoom, Community", cmd, groupType)
	}
	var resp AppIDGroupList
	if err := c.call(ctx, svcGroup, "get_appid_group_list", appIDGroupListRequest{Limit: limit, Next: next, GroupType: groupType}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}
