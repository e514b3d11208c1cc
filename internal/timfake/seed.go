package timfake

import "fmt"

// SeedGroups creates the groups as the app admin would (create_group without
// the HTTP round trip), in order, and returns their IDs. It is how a test
// gives the fake an app with thousands of existing groups in milliseconds.
// Callbacks are sent only when a CallbackURL is set, as for any create.
func (s *Server) SeedGroups(specs []GroupSpec) ([]string, error) {
	admin := s.Admin()
	ids := make([]string, 0, len(specs))
	for i, spec := range specs {
		id, err := admin.CreateGroup(spec)
		if err != nil {
			return ids, fmt.Errorf("seeding group %d (%q): %w", i, spec.GroupID, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// seedTypes are the group types MixedGroups rotates through.
var seedTypes = []string{TypePublic, TypePrivate, TypeChatRoom, TypeAVChatRoom, TypeCommunity}

// MixedGroups returns n group specs of every type in turn, the way a real
// app looks after years of use: a third with IDs the backend assigns
// ("@TGS#..."), the rest with custom IDs (Community ones under "@TGS#_", as
// the API requires), names with non-ASCII text, and introductions,
// notifications, face URLs and owners present on some and absent on
// others. idPrefix starts every custom ID (after "@TGS#_" for Community),
// so one fake can hold several sets that a test tells apart.
func MixedGroups(n int, idPrefix string) []GroupSpec {
	out := make([]GroupSpec, n)
	for i := range out {
		typ := seedTypes[i%len(seedTypes)]
		g := GroupSpec{Type: typ, Name: fmt.Sprintf("%s group %d · 群%d", typ, i, i)}
		if i%3 != 0 {
			g.GroupID = fmt.Sprintf("%sg-%05d", idPrefix, i)
			if typ == TypeCommunity {
				g.GroupID = "@TGS#_" + g.GroupID
			}
		}
		if i%2 == 0 {
			g.Introduction = fmt.Sprintf("Introduction of group %d: \"quoted\", colons: and # hashes", i)
		}
		if i%4 == 1 {
			g.Notification = fmt.Sprintf("Notice %d\nsecond line", i)
		}
		if i%5 == 2 {
			g.FaceURL = fmt.Sprintf("https://example.com/faces/%d.png", i)
		}
		if i%7 != 0 {
			g.Owner = fmt.Sprintf("user%d", i%97)
		}
		out[i] = g
	}
	return out
}
