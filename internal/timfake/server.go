package timfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/chatgroup-operator/chatgroup-operator/internal/usersig"
)

// Options configures a Server. SDKAppID and SecretKey are required.
type Options struct {
	SDKAppID  uint64
	SecretKey string
	// AdminIdentifier is the only identity REST calls are accepted from
	// (default "administrator"); it is also Operator_Account in callbacks
	// caused by REST calls.
	AdminIdentifier string
	// CallbackURL receives the callbacks; empty sends none.
	CallbackURL string
	// CallbackToken, when set, adds Sign and RequestTime to callback URLs.
	CallbackToken string
	// QPS limits REST calls of all commands together; 0 is unlimited.
	// Over the limit the answer is 60007.
	QPS float64
	// GroupListQPS is get_appid_group_list's own limit, on top of QPS; 0 is
	// unlimited. The documented default of a real app is 1 call per second
	// (DocumentedGroupListQPS); over it the answer is 60007, like any REST
	// frequency limit. Off by default because many tests use the listing
	// as their cheapest call.
	GroupListQPS float64
	// CursorBase is where get_appid_group_list's Next cursors start
	// (default 2^60); each cursor is CursorBase plus a group's serial
	// number. Any value above 2^32 catches a client that parses the cursor
	// as a 32-bit integer, above 2^53 one that parses it as a float64.
	CursorBase uint64
	// Now is the clock for state times, UserSig checks, EventTime and
	// RequestTime (default time.Now).
	Now func() time.Time
	// HTTPClient delivers callbacks (default: CallbackTimeout, keep-alive).
	HTTPClient *http.Client
	// Logger gets request and delivery notes; nil discards. Secrets, the
	// UserSig and Sign are never logged.
	Logger *slog.Logger
	// EventTimeNumeric sends EventTime as a JSON number; by default it is a
	// string, as in the doc samples ("EventTime":"1670574414123"), though
	// the field tables say Integer. Receivers must accept both.
	EventTimeNumeric bool
	// Seed makes generated group IDs, fault injection and default
	// simulators reproducible.
	Seed uint64
	// CallbackWorkers (default 4) deliver in parallel; events of one group
	// always go through the same worker, in order. CallbackQueue bounds each
	// worker's queue (default 4096); an event that finds it full is lost
	// and counted as Overflowed, as a real backend would not hold users
	// back for a slow receiver.
	CallbackWorkers int
	CallbackQueue   int
	// CallbackTimeout is per delivery attempt (default 2 s, the documented
	// IM webhook timeout). CallbackRetries is how often a failed delivery is
	// retried (default 0: IM does not retry after-callbacks by default).
	CallbackTimeout time.Duration
	CallbackRetries int
	// NewGroupID replaces the generator of system-assigned group IDs.
	NewGroupID func(groupType string) string
	// DailyGroupQuota is the app's limit of net new groups per day; past
	// 70% of it each creation sends Group.CallbackOnDailyGroupQuotaAlarm
	// (creations are not refused). 0: no alarm. The REST rate alarm,
	// Alert.RequestOverLimit, follows QPS (alarms.go).
	DailyGroupQuota int64
}

// Server is the fake backend. It is an http.Handler for /v4/<service>/<command>.
type Server struct {
	appID    uint64
	appIDStr string
	// key is swapped whole by SetSecretKey while requests are being
	// authenticated, hence atomic rather than under a lock every request
	// would contend on.
	key      atomic.Pointer[string]
	admin    string
	now      func() time.Time
	log      *slog.Logger
	newID    func(string) string
	eventNum bool

	limMu   sync.Mutex
	lim     *rate.Limiter // nil when unlimited
	quota   int64
	alarm   alarmState    // alarms.go
	listLim *rate.Limiter // get_appid_group_list's own; nil when unlimited

	cursorBase uint64

	rngMu sync.Mutex
	rng   *rand.Rand

	mu         sync.Mutex
	groups     map[string]*group
	nextSerial uint64
	// cursors are the Next values get_appid_group_list has issued; any
	// other Next is refused, so a client that mangles a cursor fails
	// instead of silently skipping or repeating groups.
	cursors map[uint64]bool

	inj injector
	cb  *emitter
}

// New builds a Server and starts its callback workers; Close stops them.
func New(o Options) *Server {
	if o.AdminIdentifier == "" {
		o.AdminIdentifier = "administrator"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		appID:    o.SDKAppID,
		appIDStr: strconv.FormatUint(o.SDKAppID, 10),
		admin:    o.AdminIdentifier,
		now:      o.Now,
		log:      o.Logger,
		eventNum: o.EventTimeNumeric,
		rng:      rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		groups:   make(map[string]*group),
		quota:    o.DailyGroupQuota,
		cursors:  make(map[uint64]bool),
	}
	if o.QPS > 0 && !math.IsInf(o.QPS, 0) {
		s.lim = rate.NewLimiter(rate.Limit(o.QPS), max(1, int(math.Ceil(o.QPS))))
	}
	if o.GroupListQPS > 0 && !math.IsInf(o.GroupListQPS, 0) {
		s.listLim = rate.NewLimiter(rate.Limit(o.GroupListQPS), max(1, int(math.Ceil(o.GroupListQPS))))
	}
	s.cursorBase = o.CursorBase
	if s.cursorBase == 0 {
		s.cursorBase = defaultCursorBase
	}
	s.newID = o.NewGroupID
	if s.newID == nil {
		s.newID = s.generateGroupID
	}
	s.key.Store(&o.SecretKey)
	s.inj.init()
	s.cb = newEmitter(o, s.appIDStr)
	return s
}

// SDKAppID is the app this Server is.
func (s *Server) SDKAppID() uint64 { return s.appID }

// SetSecretKey rotates the app's secret key at run time, as a console
// "reset key" does: from the return on, UserSigs are checked against key only,
// so one signed with the old key is refused with CodeSigMismatch. A request
// already past its UserSig check finishes under the key it was checked with.
func (s *Server) SetSecretKey(key string) { s.key.Store(&key) }

// SetCallbackToken rotates the callback token at run time: every callback
// delivery attempt that starts after the return (including retries and events
// queued earlier) carries a Sign made with token; "" sends unsigned callbacks,
// like an empty Options.CallbackToken.
func (s *Server) SetCallbackToken(token string) { s.cb.setToken(token) }

// Close stops the callback workers; queued callbacks not yet delivered are
// discarded. Use WaitCallbacksDelivered first to deliver them.
func (s *Server) Close() { s.cb.close() }

// SetQPS changes the REST limit at run time (0 = unlimited).
func (s *Server) SetQPS(qps float64) {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	if qps <= 0 {
		s.lim = nil
		return
	}
	s.lim = rate.NewLimiter(rate.Limit(qps), max(1, int(math.Ceil(qps))))
}

func (s *Server) allow(command string) bool {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	now := s.now()
	if s.lim != nil && !s.lim.AllowN(now, 1) {
		return false
	}
	return command != "get_appid_group_list" || s.listLim == nil || s.listLim.AllowN(now, 1)
}

func (s *Server) randN(n int) int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.IntN(n)
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// generateGroupID mimics system-assigned IDs such as "@TGS#2J4SZEAEL"
// ("@TGS#_" for Community).
func (s *Server) generateGroupID(groupType string) string {
	var b strings.Builder
	b.WriteString("@TGS#")
	if groupType == TypeCommunity {
		b.WriteString("_")
	}
	b.WriteByte("123"[s.randN(3)])
	for range 8 {
		b.WriteByte(idAlphabet[s.randN(len(idAlphabet))])
	}
	return b.String()
}

// maxBody bounds request bodies; the doc gives no figure, and the largest
// legitimate body (create_group with 100 members) is far smaller.
const maxBody = 4 << 20

// envelope starts every answer. The field order is the documented one.
type envelope struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

func okEnvelope() envelope { return envelope{ActionStatus: "OK", ErrorInfo: ""} }

// restCommand is a REST command the fake implements.
type restCommand struct {
	service string
	handle  func(s *Server, a actor, body []byte) (any, *Error)
}

var restCommands = map[string]restCommand{
	"create_group":           {svcGroup, (*Server).restCreateGroup},
	"get_group_info":         {svcGroup, (*Server).restGetGroupInfo},
	"modify_group_base_info": {svcGroup, (*Server).restModifyGroupBaseInfo},
	"destroy_group":          {svcGroup, (*Server).restDestroyGroup},
	"get_appid_group_list":   {svcGroup, (*Server).restGetAppIDGroupList},
	"send_group_msg":         {svcGroup, (*Server).restSendGroupMsg},
	"modify_group_attr":      {svcGroup, (*Server).restModifyGroupAttr},
	"set_group_attr":         {svcGroup, (*Server).restSetGroupAttr},
	"delete_group_attr":      {svcGroup, (*Server).restDeleteGroupAttr},
	"clear_group_attr":       {svcGroup, (*Server).restClearGroupAttr},
	"get_group_attr":         {svcGroupAttr, (*Server).restGetGroupAttr},
}

const (
	svcGroup     = "group_open_http_svc"
	svcGroupAttr = "group_open_attr_http_svc"
)

// knownServices are services the real backend has; a wrong command there is
// 10003 (bad command), while an unknown service is a bad URL (60009).
var knownServices = map[string]bool{svcGroup: true, svcGroupAttr: true}

// ServeHTTP answers one REST call. Like the real backend it always answers
// HTTP 200 with an envelope, except for statuses injected with FailHTTP.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	command, code := s.serve(w, r)
	// Never log the query: it carries the UserSig.
	s.log.Debug("timfake: REST", "path", r.URL.Path, "command", command, "code", code, "took", time.Since(start))
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) (string, int) {
	service, command, pathOK := splitPath(r.URL.Path)
	// Read before anything can refuse the request, so that every request
	// is counted for the groups it names (an injected HTTP failure too).
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if pathOK {
		s.inj.count(command, namedGroups(body))
	}
	if status, ok := s.inj.takeHTTPFailure(); ok {
		http.Error(w, http.StatusText(status), status)
		return command, -status
	}
	if d := s.inj.latency(); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return command, -1
		}
	}
	fail := func(e *Error) (string, int) {
		writeError(w, e)
		return command, e.Code
	}
	cmd, e := route(r)
	if e != nil {
		return fail(e)
	}
	a, e := s.authenticate(r)
	if e != nil {
		return fail(e)
	}
	s.noteRequest(service, command)
	if !s.allow(command) {
		return fail(errf(CodeRESTOverLimit, "REST API call frequency over limit"))
	}
	if code, ok := s.inj.takeError(command); ok {
		return fail(errf(code, "injected error"))
	}
	if readErr != nil {
		return fail(errf(CodeHTTPParse, "reading body: %v", readErr))
	}
	if len(body) > maxBody {
		return fail(errf(CodeHTTPParse, "body larger than %d bytes", maxBody))
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return fail(errf(CodeJSONParse, "empty body; send {} when there is nothing to send"))
	}
	if trimmed[0] != '{' || !json.Valid(trimmed) {
		return fail(errf(CodeJSONParse, "body is not a JSON object"))
	}
	resp, e := cmd.handle(s, a, trimmed)
	if e != nil {
		return fail(e)
	}
	writeJSON(w, resp)
	return command, 0
}

// namedGroups returns the groups a request body names (GroupId, and
// get_group_info's GroupIdList), for CallsFor; nothing for a body that is
// not such a JSON object.
func namedGroups(body []byte) []string {
	if len(body) > maxBody {
		return nil
	}
	var ids struct {
		GroupID     string   `json:"GroupId"`
		GroupIDList []string `json:"GroupIdList"`
	}
	if json.Unmarshal(body, &ids) != nil {
		return nil
	}
	if ids.GroupID != "" {
		return append(ids.GroupIDList, ids.GroupID)
	}
	return ids.GroupIDList
}

// route checks what can be checked before the app is known: the method, the
// path and the command. Apps runs it too, so a request for an unknown app
// gets the same code it would get from that app's Server.
func route(r *http.Request) (restCommand, *Error) {
	service, command, pathOK := splitPath(r.URL.Path)
	if r.Method != http.MethodPost {
		return restCommand{}, errf(CodeHTTPParse, "HTTP method %s not supported, use POST", r.Method)
	}
	if !pathOK || !knownServices[service] {
		return restCommand{}, errf(CodeBadURL, "bad URL path %q, want /v4/<service>/<command>", r.URL.Path)
	}
	cmd, known := restCommands[command]
	if !known || cmd.service != service {
		return restCommand{}, errf(CodeBadCommand, "unknown command %s/%s", service, command)
	}
	return cmd, nil
}

// splitPath accepts exactly /v4/<service>/<command>.
func splitPath(p string) (service, command string, ok bool) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 3 || parts[0] != "v4" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[1], parts[2], true
}

// authenticate checks the URL parameters in the order that yields the most
// specific code: app, UserSig (against the claimed identifier), admin rights,
// then the remaining format parameters.
func (s *Server) authenticate(r *http.Request) (actor, *Error) {
	q := r.URL.Query()
	app, e := queryAppID(q)
	if e != nil {
		return actor{}, e
	}
	if app != s.appID {
		return actor{}, errInvalidSDKAppID()
	}
	ident := q.Get("identifier")
	if ident == "" {
		return actor{}, errf(CodeAccountOrSig, "identifier missing")
	}
	sig := q.Get("usersig")
	if sig == "" {
		return actor{}, errf(CodeSigMalformed, "usersig missing")
	}
	if err := usersig.Verify(s.appID, *s.key.Load(), ident, sig, s.now()); err != nil {
		switch {
		case errors.Is(err, usersig.ErrExpired):
			return actor{}, errf(CodeSigExpired, "usersig expired")
		case errors.Is(err, usersig.ErrSDKAppIDMismatch):
			return actor{}, errf(CodeSigSDKAppID, "usersig sdkappid mismatch")
		case errors.Is(err, usersig.ErrIdentifierMismatch):
			return actor{}, errf(CodeSigIdentifier, "usersig identifier mismatch")
		case errors.Is(err, usersig.ErrSigMismatch):
			return actor{}, errf(CodeSigMismatch, "usersig verification failed")
		default:
			return actor{}, errf(CodeSigMalformed, "usersig parse failed")
		}
	}
	if ident != s.admin {
		return actor{}, errf(CodeNeedAdmin, "identifier is not an app admin")
	}
	if rnd := q.Get("random"); rnd == "" {
		return actor{}, errf(CodeHTTPParse, "random missing")
	} else if _, err := strconv.ParseUint(rnd, 10, 32); err != nil {
		return actor{}, errf(CodeHTTPParse, "random must be an unsigned 32-bit integer")
	}
	if q.Get("contenttype") != "json" {
		return actor{}, errf(CodeHTTPParse, "contenttype must be json")
	}
	return actor{account: s.admin, platform: PlatformRESTAPI, clientIP: remoteIP(r), admin: true}, nil
}

// queryAppID reads the sdkappid parameter, which selects the app.
func queryAppID(q url.Values) (uint64, *Error) {
	appStr := q.Get("sdkappid")
	if appStr == "" {
		return 0, errf(CodeMissingSDKAppID, "sdkappid missing")
	}
	app, err := strconv.ParseUint(appStr, 10, 64)
	if err != nil {
		return 0, errInvalidSDKAppID()
	}
	return app, nil
}

func errInvalidSDKAppID() *Error { return errf(CodeInvalidSDKAppID, "invalid sdkappid") }

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, envelope{ActionStatus: "FAIL", ErrorInfo: e.Info, ErrorCode: e.Code})
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(envelope{ActionStatus: "FAIL", ErrorInfo: "encoding answer failed", ErrorCode: CodeInternal})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// decode unmarshals a body the caller already knows is a JSON object; a
// field of the wrong JSON type is an invalid parameter.
func decode(body []byte, v any) *Error {
	if err := json.Unmarshal(body, v); err != nil {
		return errf(CodeInvalidParam, "invalid parameter: %v", err)
	}
	return nil
}

// WaitCallbacksDelivered blocks until every callback queued so far has been
// delivered, failed or dropped, or ctx ends.
func (s *Server) WaitCallbacksDelivered(ctx context.Context) error { return s.cb.wait(ctx) }

// Flush is WaitCallbacksDelivered with a timeout.
func (s *Server) Flush(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.cb.wait(ctx)
}

// CallbackStats returns delivery counters.
func (s *Server) CallbackStats() CallbackStats { return s.cb.stats() }

// SetCallbackFaults changes callback fault injection at run time.
func (s *Server) SetCallbackFaults(f Faults) { s.cb.setFaults(f) }

// SetCallbackURL changes the callback target at run time ("" stops callbacks).
func (s *Server) SetCallbackURL(u string) { s.cb.setURL(u) }
