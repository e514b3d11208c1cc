package webhookserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chatgroup-operator/chatgroup-operator/internal/groupstatus"
)

// appUnknown is the app label of a request not authenticated as any app's:
// label values stay the served apps' names, whatever a request claims.
const appUnknown = "unknown"

// MaxBodyBytes is the largest callback body accepted (1 MiB).
const MaxBodyBytes = 1 << 20

// envelope is IM's callback response; IM ignores it for after-callbacks, a
// before-callback is allowed by ErrorCode 0.
type envelope struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorInfo    string `json:"ErrorInfo"`
	ErrorCode    int    `json:"ErrorCode"`
}

// handler receives IM callbacks: checks, decode, route, merge.
type handler struct {
	opts   Options
	routes *routes // group ID -> ChatGroups, from the informer: no API request per callback
	writer *Writer
	alarms *alarmSink // IM's own alarms: alarms.go
	// appSeen feeds ChatApps' status.lastCallbackTime; nil in unit tests.
	appSeen *appCallbacks
	log     logr.Logger
	now     func() time.Time

	// inflight holds a token per request being read and decoded
	// (Options.MaxInFlight): bodies in memory stay bounded under a flood.
	inflight chan struct{}
	// discoveries paces the ChatGroups discovery creates, per app, and
	// admitted holds the discoveries not yet in the routing table
	// (discovery.go); both guarded by admittedMu.
	discoveries *discoveryPace
	admittedMu  sync.Mutex
	admitted    map[types.NamespacedName]admission

	lastStamp atomic.Int64
}

// arrivalStamp is the event time of a callback without EventTime: the
// receive time in ms, made strictly increasing so that two such callbacks
// in the same millisecond still apply in arrival order instead of the
// second being dropped as a tie. (Messages are ordered by MsgSeq and never
// take a stamp, so the stamps cannot run ahead of the clock under load.)
func (h *handler) arrivalStamp(now time.Time) int64 {
	for {
		last, ms := h.lastStamp.Load(), now.UnixMilli()
		if ms <= last {
			ms = last + 1
		}
		if h.lastStamp.CompareAndSwap(last, ms) {
			return ms
		}
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cmd, app := "other", appUnknown
	code, result, info := h.serve(w, r, &cmd, &app)
	callbacksTotal.WithLabelValues(app, commandLabel(cmd), result).Inc()
	if code == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	reply(w, code, info)
	requestDuration.WithLabelValues(result).Observe(time.Since(start).Seconds())
}

// serve applies the checks in the documented order and returns the HTTP
// status, the metrics result and the ErrorInfo. Everything that can be
// checked from the query (app, Sign, RequestTime) is checked before the
// body is read: an unauthenticated request costs no memory.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, cmd, appName *string) (int, string, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, resultMethod, "only POST is accepted"
	}
	q := parseCallbackQuery(r.URL.RawQuery)
	now := h.now()
	app, code, msg := h.authenticate(q.sdkAppID, q.sign, q.requestTime, now)
	if app != nil {
		*appName = app.Name
	}
	if code != 0 {
		if code == http.StatusForbidden {
			return code, resultForbidden, msg
		}
		return code, resultUnauth, msg
	}
	select {
	case h.inflight <- struct{}{}:
		defer func() { <-h.inflight }()
	default:
		return http.StatusServiceUnavailable, resultBusy, "too many callbacks in flight"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, resultTooLarge, "body larger than 1 MiB"
		}
		return http.StatusBadRequest, resultBadRequest, "reading body failed"
	}
	markCallback()
	if h.appSeen != nil {
		h.appSeen.mark(app, now)
	}
	if isAlarm(q.command) {
		*cmd = q.command
		return h.alarm(app.Name, q.command, body)
	}
	cb, code, result, info := decodeBody(q.command, body, cmd)
	if cb == nil {
		return code, result, info
	}
	c := cb.common()
	if msg := aheadOfClock(cb, now); msg != "" {
		return http.StatusBadRequest, resultAhead, msg
	}
	keys, discover := h.targets(app, c.GroupID)
	if len(keys) == 0 {
		return http.StatusOK, resultUnclaimed, ""
	}
	at := int64(c.EventTime)
	if at == 0 && c.CallbackCommand != CmdAfterSendMsg {
		// No EventTime: order by arrival, using the receive time.
		at = h.arrivalStamp(now)
	}
	if err := h.writer.Merge(keys, cb, at, q.platform, discover); err != nil {
		return http.StatusServiceUnavailable, resultBusy, err.Error()
	}
	return http.StatusOK, resultAccepted, ""
}

// aheadOfClock refuses a callback stamped too far in the future to be
// genuine: kept, it would hold its part of the status against every later
// change (see internal/groupstatus).
func aheadOfClock(cb Callback, now time.Time) string {
	if at := int64(cb.common().EventTime); groupstatus.Ahead(at, now) {
		return fmt.Sprintf("EventTime %d is more than %v ahead of the receiver's clock", at, groupstatus.MaxAhead)
	}
	if m, ok := cb.(*AfterSendMsg); ok && groupstatus.Ahead(m.MsgTime*1000, now) {
		return fmt.Sprintf("MsgTime %d is more than %v ahead of the receiver's clock", m.MsgTime, groupstatus.MaxAhead)
	}
	return ""
}

// decodeBody checks the body's command against the query's and decodes it.
// It returns the decoded callback, or nil and the answer to give.
//
// A recorded command named by the query is decoded straight into its type,
// one JSON pass instead of two (the command head, then the body): when
// that succeeds and the body names the same command, the slow path below
// could only have reached the same result. Anything else takes the slow
// path, which gives every refusal its documented answer.
func decodeBody(queryCmd string, body []byte, cmd *string) (cb Callback, code int, result, info string) {
	if isRecorded(queryCmd) {
		if v, err := Decode(queryCmd, body); err == nil && v.common().CallbackCommand == queryCmd {
			*cmd = queryCmd
			return v, 0, "", ""
		}
	}
	return decodeSlow(queryCmd, body, cmd)
}

// decodeSlow reads the body's command first, then decodes: the documented
// order of checks, each refusal with its own answer.
func decodeSlow(queryCmd string, body []byte, cmd *string) (cb Callback, code int, result, info string) {
	var head struct {
		CallbackCommand string `json:"CallbackCommand"`
	}
	if err := unmarshal(body, &head); err != nil {
		return nil, http.StatusBadRequest, resultBadRequest, "body is not a JSON object"
	}
	*cmd = head.CallbackCommand
	if queryCmd != head.CallbackCommand {
		return nil, http.StatusBadRequest, resultBadRequest, "CallbackCommand of query and body differ"
	}
	if strings.HasPrefix(head.CallbackCommand, beforePrefix) {
		return nil, http.StatusOK, resultAllowed, ""
	}
	v, err := Decode(head.CallbackCommand, body)
	if errors.Is(err, errUnknownCommand) {
		return nil, http.StatusOK, resultIgnored, ""
	}
	if err != nil {
		return nil, http.StatusBadRequest, resultBadRequest, err.Error()
	}
	return v, 0, "", ""
}

// okBody is the answer to nearly every request, encoded once.
var okBody, _ = json.Marshal(envelope{ActionStatus: "OK"})

func reply(w http.ResponseWriter, code int, info string) {
	b := okBody
	if code != http.StatusOK || info != "" {
		env := envelope{ActionStatus: "OK", ErrorInfo: info}
		if code != http.StatusOK {
			env.ActionStatus, env.ErrorCode = "FAIL", code
		}
		b, _ = json.Marshal(env)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
