package timfake

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
)

// Apps serves several apps on one endpoint, as the real backend does: every
// app is reached at the same host and the sdkappid URL parameter picks the
// app. Each app is a whole Server with its own key, admin, callback token,
// groups, QPS limits, fault injection and callbacks; Apps only routes.
//
// A request whose sdkappid is missing or names no app added here is answered
// by Apps itself, with the envelope and code a single Server would give it
// (HTTP 200, 60012 or 60006, after the same method, path and command checks).
type Apps struct {
	mu   sync.RWMutex
	apps map[uint64]*Server
}

// NewApps serves servers on one endpoint; two with the same SDKAppID are an
// error, since requests for that app could reach only one of them.
func NewApps(servers ...*Server) (*Apps, error) {
	a := &Apps{apps: make(map[uint64]*Server, len(servers))}
	for _, s := range servers {
		if err := a.Add(s); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Add serves s too, also while requests are being served. It refuses nil and
// an SDKAppID already served.
func (a *Apps) Add(s *Server) error {
	if s == nil {
		return errors.New("timfake: Apps.Add: nil Server")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.apps[s.appID]; dup {
		return fmt.Errorf("timfake: Apps.Add: SDKAppID %d already served", s.appID)
	}
	a.apps[s.appID] = s
	return nil
}

// App is the Server of sdkAppID, or nil when there is none.
func (a *Apps) App(sdkAppID uint64) *Server {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.apps[sdkAppID]
}

// ServeHTTP hands the request to the Server its sdkappid names; that Server
// does all checking, counting and injection as if it served alone.
func (a *Apps) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	app, e := queryAppID(r.URL.Query())
	if e == nil {
		if s := a.App(app); s != nil {
			s.ServeHTTP(w, r)
			return
		}
		e = errInvalidSDKAppID()
	}
	// A lone Server checks method, path and command before the app, so a
	// malformed request reports that first whichever app it names.
	if _, re := route(r); re != nil {
		e = re
	}
	writeError(w, e)
}
