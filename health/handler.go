package health

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-db/tollgate/pool"
)

// ActionCleanup is the only POST action: close the pool's idle connections.
const ActionCleanup = "cleanup"

// ActionRequest is the body of a POST to Handler.
type ActionRequest struct {
	Action string `json:"action"`
}

// CleanupResponse is the answer to a successful cleanup.
type CleanupResponse struct {
	Action    string        `json:"action"`
	Result    CleanupResult `json:"result"`
	Timestamp time.Time     `json:"timestamp"`
}

// CleanupResult is pool.CleanupResult in JSON.
type CleanupResult struct {
	OpenBefore int     `json:"openBefore"`
	OpenAfter  int     `json:"openAfter"`
	IdleClosed int     `json:"idleClosed"`
	InUse      int     `json:"inUse"`
	DurationMs float64 `json:"durationMs"`
}

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Error string `json:"error"`
}

// Handler serves the seed's /api/health/database:
//
//   - GET and HEAD: the Report; 200 when healthy or degraded, 503 when
//     unhealthy.
//   - POST {"action":"cleanup"} with "Authorization: Bearer <Config.Token>":
//     runs Source.Cleanup, forgets the memoized ping and answers the
//     CleanupResponse. With no token configured: 403. A missing or wrong
//     token: 401. A body over Config.MaxBodyBytes: 413. Bad JSON, unknown
//     fields, trailing data or an unknown action: 400.
//   - any other method: 405 with an Allow header.
//
// Every error is JSON: {"error":"..."}. The report is public to whoever
// can reach the handler: mount it where only operators can.
func (c *Checker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			rep := c.Check(r.Context())
			writeJSON(w, r, codeOf(rep.Status), rep)
		case http.MethodPost:
			c.serveAction(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
		}
	})
}

// LivenessHandler answers 200 {"status":"ok"} to GET and HEAD and never
// touches the database: a slow database must not get the process
// restarted.
func (c *Checker) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !readOnly(w, r) {
			return
		}
		writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// ReadinessHandler answers GET and HEAD from the memoized Check: 200 with
// {"status":"healthy"|"degraded"}, 503 with {"status":"unhealthy"}. It
// reveals nothing else, so it may be public.
func (c *Checker) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !readOnly(w, r) {
			return
		}
		rep := c.Check(r.Context())
		writeJSON(w, r, codeOf(rep.Status), map[string]Status{"status": rep.Status})
	})
}

func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	writeError(w, r, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
	return false
}

func codeOf(s Status) int {
	if s == StatusUnhealthy {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

func (c *Checker) serveAction(w http.ResponseWriter, r *http.Request) {
	if c.cfgErr != nil {
		writeError(w, r, http.StatusForbidden, c.cfgErr.Error())
		return
	}
	if c.cfg.Token == "" {
		writeError(w, r, http.StatusForbidden, "cleanup is disabled: no token is configured")
		return
	}
	if !c.authorized(r) {
		// Debug: an unauthenticated caller must not be able to flood the log.
		c.log.Debug("tollgate: health action refused: missing or wrong token", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate-health"`)
		writeError(w, r, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	req, err := ParseActionRequest(http.MaxBytesReader(w, r.Body, c.cfg.MaxBodyBytes))
	if err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrBodyTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, r, code, err.Error())
		return
	}
	if req.Action != ActionCleanup {
		writeError(w, r, http.StatusBadRequest, fmt.Sprintf("unknown action %q (want %q)", req.Action, ActionCleanup))
		return
	}
	res, err := c.src.Cleanup(r.Context())
	c.Invalidate()
	if err != nil {
		msg := Sanitize(err.Error())
		c.log.Warn("tollgate: cleanup failed", "remote", r.RemoteAddr, "err", msg)
		writeError(w, r, http.StatusInternalServerError, "cleanup failed: "+msg)
		return
	}
	c.log.Info("tollgate: cleanup requested", "remote", r.RemoteAddr, "idle_closed", res.IdleClosed)
	writeJSON(w, r, http.StatusOK, CleanupResponse{Action: ActionCleanup, Result: cleanupJSON(res), Timestamp: time.Now().UTC()})
}

func cleanupJSON(r pool.CleanupResult) CleanupResult {
	return CleanupResult{OpenBefore: r.OpenBefore, OpenAfter: r.OpenAfter, IdleClosed: r.IdleClosed, InUse: r.InUse, DurationMs: ms(r.Duration)}
}

// authorized compares the bearer token in constant time. Both sides are
// hashed first, so that not even the token's length leaks.
func (c *Checker) authorized(r *http.Request) bool {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got, want := sha256.Sum256([]byte(strings.TrimSpace(tok))), sha256.Sum256([]byte(c.cfg.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// Errors of ParseActionRequest.
var (
	ErrBodyTooLarge = errors.New("request body too large")
	ErrBadRequest   = errors.New("bad request")
)

// ParseActionRequest reads one JSON object {"action": "..."} from body.
// Unknown fields, trailing data and an empty or missing action are
// ErrBadRequest; a body cut short by http.MaxBytesReader is
// ErrBodyTooLarge. The action itself is not checked.
func ParseActionRequest(body io.Reader) (ActionRequest, error) {
	var req ActionRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(&req)
	if err == nil {
		// Exactly one value: anything after it but white space is an error.
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
			if terr != nil && !isSyntax(terr) {
				err = terr
			}
		}
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return ActionRequest{}, fmt.Errorf("%w: limit is %d bytes", ErrBodyTooLarge, mbe.Limit)
	case errors.Is(err, io.EOF):
		return ActionRequest{}, fmt.Errorf("%w: empty body, want {\"action\":%q}", ErrBadRequest, ActionCleanup)
	case err != nil:
		return ActionRequest{}, fmt.Errorf("%w: invalid JSON body: %s", ErrBadRequest, clip(err.Error()))
	case req.Action == "":
		return ActionRequest{}, fmt.Errorf("%w: missing \"action\"", ErrBadRequest)
	}
	return req, nil
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}

// clip bounds an error message echoed to the client.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func writeError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	writeJSON(w, r, code, ErrorResponse{Error: Sanitize(msg)})
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		code, buf = http.StatusInternalServerError, *bytes.NewBufferString(`{"error":"encoding the response failed"}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		w.WriteHeader(code)
		return
	}
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}
