package tim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultEndpoint        = EndpointChina
	DefaultAdminIdentifier = "administrator"
	DefaultQPS             = 100
	// DefaultHTTPTimeout is above the IM server's own 3 s processing
	// timeout, so a slow answer arrives as an IM error rather than as a
	// client-side timeout that leaves the outcome unknown.
	DefaultHTTPTimeout = 6 * time.Second
	DefaultMaxRetries  = 4
	DefaultBackoffBase = 250 * time.Millisecond
	DefaultBackoffMax  = 8 * time.Second
	// DefaultUserSigTTL: the docs advise at least 24 h; a short life limits
	// the damage if a ticket leaks, and regeneration costs one HMAC.
	DefaultUserSigTTL = 24 * time.Hour
)

// maxResponseBytes bounds what the client reads from one answer; group info
// for 50 groups with full member lists stays far below it.
const maxResponseBytes = 32 << 20

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// Endpoint is the REST base URL, one of the Endpoint* constants for
	// production; http:// is accepted only to a loopback address (tests,
	// the local fake), see ValidateEndpoint.
	Endpoint string
	// InsecureHTTP accepts a plain http:// Endpoint on any host. Only an
	// explicit opt-in sets it (a test backend on a private network): every
	// call carries the admin UserSig in its query string.
	InsecureHTTP bool
	// SDKAppID identifies the app. Required.
	SDKAppID uint64
	// AdminIdentifier is the app admin account the calls are made as.
	AdminIdentifier string
	// SecretKey signs the admin UserSig. Required.
	SecretKey string
	// QPS is the rate of all calls together; Burst the bucket size
	// (default: QPS rounded up, at least 1).
	QPS   float64
	Burst int
	// HTTPClient defaults to a client with DefaultHTTPTimeout, a pooled
	// keep-alive transport and redirects disabled (a redirect would resend
	// the UserSig to wherever it points).
	HTTPClient *http.Client
	// MaxRetries is how many times a rate-limited or transient failure is
	// retried: 0 means DefaultMaxRetries, a negative value means never.
	MaxRetries int
	// BackoffBase and BackoffMax shape the retry delays: base*2^n capped at
	// max, with the upper half jittered so that many clients spread out.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// UserSigTTL is the validity of the admin UserSig the client makes.
	UserSigTTL time.Duration
	// Now and Sleep replace the clock, for tests. Sleep must return early
	// with ctx.Err() when ctx ends.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives retry notes at debug level; nil discards them.
	Logger *slog.Logger
	// Observer is told about attempts, retries and rate-limiter waits, for
	// metrics; nil observes nothing.
	Observer Observer
}

// Client calls the IM REST API. It is safe for concurrent use.
type Client struct {
	endpoint    string
	appID       string
	admin       string
	hc          *http.Client
	lim         *rate.Limiter
	maxRetries  int
	backoffBase time.Duration
	backoffMax  time.Duration
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	sigs        *sigCache
	log         *slog.Logger
	obs         Observer
}

// SecretKeyFrom is the secret key stored in b (a file or a Secret's
// value): a key has no white space, so what surrounds it (a trailing
// newline) is dropped.
func SecretKeyFrom(b []byte) string { return strings.TrimSpace(string(b)) }

// New validates cfg and builds a Client.
func New(cfg Config) (*Client, error) {
	if cfg.SDKAppID == 0 {
		return nil, errors.New("tim: Config.SDKAppID is required")
	}
	if cfg.SecretKey == "" {
		return nil, errors.New("tim: Config.SecretKey is required")
	}
	if strings.TrimSpace(cfg.SecretKey) != cfg.SecretKey {
		return nil, errors.New("tim: Config.SecretKey has leading or trailing white space (read from a file with a trailing newline?)")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	if err := validateEndpoint(endpoint, cfg.InsecureHTTP); err != nil {
		return nil, fmt.Errorf("tim: Config.Endpoint: %w", err)
	}
	admin := cfg.AdminIdentifier
	if admin == "" {
		admin = DefaultAdminIdentifier
	}
	if strings.ContainsAny(admin, "\r\n") || strings.TrimSpace(admin) != admin {
		return nil, fmt.Errorf("tim: Config.AdminIdentifier %q has white space or line breaks", admin)
	}
	qps := cfg.QPS
	if qps == 0 {
		qps = DefaultQPS
	}
	if qps < 0 || math.IsNaN(qps) || math.IsInf(qps, 0) {
		return nil, fmt.Errorf("tim: Config.QPS %v must be positive", cfg.QPS)
	}
	burst := cfg.Burst
	if burst < 0 {
		return nil, fmt.Errorf("tim: Config.Burst %d must not be negative", cfg.Burst)
	}
	if burst == 0 {
		burst = max(1, int(math.Ceil(qps)))
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	base, maxB := cfg.BackoffBase, cfg.BackoffMax
	if base == 0 {
		base = DefaultBackoffBase
	}
	if maxB == 0 {
		maxB = DefaultBackoffMax
	}
	if base < 0 || maxB < base {
		return nil, fmt.Errorf("tim: backoff base %v / max %v: need 0 < base <= max", base, maxB)
	}
	ttl := cfg.UserSigTTL
	if ttl == 0 {
		ttl = DefaultUserSigTTL
	}
	if ttl < time.Minute {
		return nil, fmt.Errorf("tim: Config.UserSigTTL %v is shorter than one minute", ttl)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	sleep := cfg.Sleep
	if sleep == nil {
		sleep = Sleep
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	c := &Client{
		endpoint:    strings.TrimRight(endpoint, "/"),
		appID:       strconv.FormatUint(cfg.SDKAppID, 10),
		admin:       admin,
		hc:          hc,
		lim:         rate.NewLimiter(rate.Limit(qps), burst),
		maxRetries:  retries,
		backoffBase: base,
		backoffMax:  maxB,
		now:         now,
		sleep:       sleep,
		log:         log,
		obs:         obs,
	}
	c.sigs = newSigCache(cfg.SDKAppID, cfg.SecretKey, admin, ttl, now)
	// Fail now, not on the first call, if no ticket can be made.
	if _, err := c.sigs.get(); err != nil {
		return nil, fmt.Errorf("tim: cannot make the admin UserSig: %w", err)
	}
	return c, nil
}

// ValidateEndpoint is the one check of a REST base URL, used by New and by
// the manager's flag validation: an absolute https:// URL without query,
// fragment or user info. Plain http:// is refused unless the host is a
// loopback address (127.0.0.0/8, ::1 or "localhost"), because every call
// carries the admin UserSig, valid for a day, in its query string.
func ValidateEndpoint(endpoint string) error { return validateEndpoint(endpoint, false) }

// ValidateInsecureEndpoint is ValidateEndpoint for Config.InsecureHTTP:
// plain http:// is accepted on any host.
func ValidateInsecureEndpoint(endpoint string) error { return validateEndpoint(endpoint, true) }

func validateEndpoint(endpoint string, insecureHTTP bool) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an absolute https base URL such as %s", endpoint, DefaultEndpoint)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must not carry a query, fragment or user info", endpoint)
	}
	if u.Scheme == "http" && !insecureHTTP && !isLoopbackHost(u.Hostname()) {
		return fmt.Errorf("%q: plain http:// would send the admin UserSig in clear text; "+
			"use https://, or a loopback address (127.0.0.1, ::1, localhost) for a local test backend", endpoint)
	}
	return nil
}

// isLoopbackHost accepts the literal name "localhost" and loopback IPs only;
// other names are not resolved, so DNS cannot turn a name into "loopback".
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The default of 2 idle connections per host would make concurrent
	// reconciles open and close connections instead of reusing them.
	tr.MaxIdleConnsPerHost = 32
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Timeout:   DefaultHTTPTimeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Sleep waits d or until ctx ends (then ctx.Err()); the client's default
// Config.Sleep, and the pacing of callers that space their calls.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// envelope is the part every answer shares.
type envelope struct {
	ActionStatus string `json:"ActionStatus"`
	ErrorCode    int    `json:"ErrorCode"`
	ErrorInfo    string `json:"ErrorInfo"`
}

const (
	svcGroup     = "group_open_http_svc"
	svcGroupAttr = "group_open_attr_http_svc"
)

// call performs one REST command with rate limiting and retries, decoding
// the answer into out (which may be nil) when the envelope says OK.
func (c *Client) call(ctx context.Context, service, command string, in, out any) error {
	cmd := service + "/" + command
	body := []byte("{}") // the API refuses an empty body
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("tim: %s: encoding request: %w", cmd, err)
		}
		body = b
	}
	retries := 0
	refreshedSig := false
	var lastErr error
	for {
		if err := c.wait(ctx); err != nil {
			if lastErr != nil {
				return fmt.Errorf("%w (gave up retrying: %w)", lastErr, err)
			}
			return fmt.Errorf("tim: %s: waiting for the rate limiter: %w", cmd, err)
		}
		sig, err := c.sigs.get()
		if err != nil {
			return fmt.Errorf("tim: %s: making UserSig: %w", cmd, err)
		}
		start := c.now()
		err = c.once(ctx, cmd, sig, body, out)
		c.obs.Attempt(cmd, attemptResult(err), c.now().Sub(start))
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		lastErr = err
		e, ok := asError(err)
		if !ok {
			return err
		}
		// 70001: the server thinks our ticket expired, so its clock runs
		// ahead of ours. One fresh ticket is worth a try, once.
		if e.Code == 70001 && !refreshedSig {
			refreshedSig = true
			c.sigs.invalidate(sig)
			c.log.Debug("tim: UserSig refused as expired, regenerating", "command", cmd)
			c.obs.Retry(cmd, RetryUserSigExpired)
			continue
		}
		if !retryable(err) || retries >= c.maxRetries {
			return err
		}
		d := c.backoff(retries)
		retries++
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			// Sleeping would outlive the caller; report the real cause now.
			return err
		}
		c.log.Debug("tim: retrying", "command", cmd, "code", e.Code, "httpStatus", e.HTTPStatus, "attempt", retries, "delay", d)
		c.obs.Retry(cmd, retryReason(err))
		if serr := c.sleep(ctx, d); serr != nil {
			return fmt.Errorf("%w (gave up retrying: %w)", err, serr)
		}
	}
}

// wait takes one token from the shared bucket, using the injected clock so
// tests can check the pacing without real sleeping.
func (c *Client) wait(ctx context.Context) error {
	now := c.now()
	r := c.lim.ReserveN(now, 1)
	if !r.OK() {
		return errors.New("rate limiter refused the reservation")
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		r.CancelAt(now)
		return fmt.Errorf("a %v wait would pass the deadline: %w", d, context.DeadlineExceeded)
	}
	err := c.sleep(ctx, d)
	// Measured rather than d: a wait cut short by ctx still cost its time.
	waited := c.now()
	c.obs.RateLimitWait(waited.Sub(now))
	if err != nil {
		r.CancelAt(waited)
		return err
	}
	return nil
}

// backoff returns the delay before retry n (0-based): base*2^n capped at
// max, jittered uniformly over its upper half.
func (c *Client) backoff(n int) time.Duration {
	d := c.backoffMax
	if n < 30 {
		if x := c.backoffBase << n; x > 0 && x < d {
			d = x
		}
	}
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

// once sends a single request.
func (c *Client) once(ctx context.Context, cmd, sig string, body []byte, out any) error {
	// Built by hand to keep the documented parameter order.
	u := c.endpoint + "/v4/" + cmd +
		"?sdkappid=" + c.appID +
		"&identifier=" + url.QueryEscape(c.admin) +
		"&usersig=" + url.QueryEscape(sig) +
		"&random=" + strconv.FormatUint(uint64(rand.Uint32()), 10) +
		"&contenttype=json"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		// The parse error would quote the URL, UserSig included.
		return &Error{Command: cmd, Info: "cannot build the request URL from Config.Endpoint"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("tim: %s: %w", cmd, cerr)
		}
		return &Error{Command: cmd, Err: c.scrub(err)}
	}
	defer resp.Body.Close()
	raw, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	// Drain what is left so the connection goes back to the pool.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return &Error{Command: cmd, HTTPStatus: resp.StatusCode, Info: http.StatusText(resp.StatusCode)}
	}
	if rerr != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("tim: %s: %w", cmd, cerr)
		}
		return &Error{Command: cmd, Err: c.scrub(rerr)}
	}
	if len(raw) > maxResponseBytes {
		return &Error{Command: cmd, HTTPStatus: http.StatusOK, Info: "response larger than the client accepts"}
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return &Error{Command: cmd, HTTPStatus: http.StatusOK, Info: "response is not a JSON envelope"}
	}
	if env.ActionStatus != "OK" || env.ErrorCode != 0 {
		info := env.ErrorInfo
		if info == "" && env.ActionStatus != "OK" {
			info = "ActionStatus " + strconv.Quote(env.ActionStatus)
		}
		return &Error{Command: cmd, Code: env.ErrorCode, HTTPStatus: http.StatusOK, Info: c.redact(info)}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return &Error{Command: cmd, HTTPStatus: http.StatusOK, Info: "decoding response: " + c.redact(err.Error())}
		}
	}
	return nil
}

// scrub turns a transport error into one whose text cannot carry the URL or
// a secret: *url.Error quotes the whole URL, so only its cause is kept.
func (c *Client) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := c.redact(err.Error())
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !strings.Contains(msg, "timeout") {
		msg += " (timeout)"
	}
	return &redactedError{msg: msg, cause: err}
}

// SetSecretKey replaces the secret key without rebuilding the client (its
// rate limiter and connections stay): the next call signs with the new key.
// A rotated Secret takes effect this way without a restart.
func (c *Client) SetSecretKey(key string) error {
	if key == "" || strings.TrimSpace(key) != key {
		return errors.New("tim: a secret key must be non-empty and without leading or trailing white space")
	}
	c.sigs.setKey(key)
	return nil
}

// redact removes the secret keys and any UserSig this client made from s.
func (c *Client) redact(s string) string {
	if s == "" {
		return s
	}
	for _, sig := range c.sigs.known() {
		s = strings.ReplaceAll(s, sig, "[redacted]")
		if q := url.QueryEscape(sig); q != sig {
			s = strings.ReplaceAll(s, q, "[redacted]")
		}
	}
	return s
}
