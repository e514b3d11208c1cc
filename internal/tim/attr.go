package tim

import (
	"context"
	"sort"
)

// Group custom attributes are a key/value store separate from
// AppDefinedData, with lower-case "key"/"value" on the wire. Reading uses the
// group_open_attr_http_svc service; writing uses group_open_http_svc.
//
// Backend limits: 16 keys, key <= 32 bytes, value <= 4000 bytes, 16000 bytes
// in all, 5 writes per second per group (10049, retried by the client).

// Attr is one attribute on the wire.
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// attrKey is a delete entry: the doc's delete body names keys only.
type attrKey struct {
	Key string `json:"key"`
}

type getGroupAttrResponse struct {
	GroupAttrAry []Attr `json:"GroupAttrAry"`
}

// GetGroupAttr returns all attributes of a group (empty, not nil, when the
// group has none).
func (c *Client) GetGroupAttr(ctx context.Context, groupID string) (map[string]string, error) {
	var resp getGroupAttrResponse
	if err := c.call(ctx, svcGroupAttr, "get_group_attr", groupIDRequest{GroupID: groupID}, &resp); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(resp.GroupAttrAry))
	for _, a := range resp.GroupAttrAry {
		out[a.Key] = a.Value
	}
	return out, nil
}

type groupAttrRequest struct {
	GroupID   string `json:"GroupId"`
	GroupAttr []Attr `json:"GroupAttr"`
}

type deleteGroupAttrRequest struct {
	GroupID   string    `json:"GroupId"`
	GroupAttr []attrKey `json:"GroupAttr"`
}

// sortedAttrs gives a map a stable wire order, so identical calls have
// identical bodies (and logs and goldens stay comparable).
func sortedAttrs(m map[string]string) []Attr {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Attr, len(keys))
	for i, k := range keys {
		out[i] = Attr{Key: k, Value: m[k]}
	}
	return out
}

// ModifyGroupAttr upserts the given attributes and leaves the others. An
// empty map makes no call (the backend refuses an empty GroupAttr).
func (c *Client) ModifyGroupAttr(ctx context.Context, groupID string, attrs map[string]string) error {
	if len(attrs) == 0 {
		return nil
	}
	return c.call(ctx, svcGroup, "modify_group_attr", groupAttrRequest{GroupID: groupID, GroupAttr: sortedAttrs(attrs)}, nil)
}

// SetGroupAttr replaces all attributes with attrs.
func (c *Client) SetGroupAttr(ctx context.Context, groupID string, attrs map[string]string) error {
	return c.call(ctx, svcGroup, "set_group_attr", groupAttrRequest{GroupID: groupID, GroupAttr: sortedAttrs(attrs)}, nil)
}

// DeleteGroupAttr removes the given keys; no keys makes no call.
func (c *Client) DeleteGroupAttr(ctx context.Context, groupID string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	req := deleteGroupAttrRequest{GroupID: groupID, GroupAttr: make([]attrKey, len(keys))}
	for i, k := range keys {
		req.GroupAttr[i] = attrKey{Key: k}
	}
	return c.call(ctx, svcGroup, "delete_group_attr", req, nil)
}
