package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// maxBodyBytes bounds a request body (an article's body is the largest).
const maxBodyBytes = 256 << 10

// errorsBody is RealWorld's error shape: {"errors":{"body":["..."]}}.
type errorsBody struct {
	Errors struct {
		Body []string `json:"body"`
	} `json:"errors"`
}

// writeErrors answers code with msgs in RealWorld's error shape.
func writeErrors(w http.ResponseWriter, code int, msgs ...string) {
	var b errorsBody
	b.Errors.Body = msgs
	writeJSON(w, code, b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// errTrailingData: a body with more than one JSON value.
var errTrailingData = errors.New("unexpected data after the JSON object")

// decode reads exactly one JSON object from r's body into v. A bad body
// is answered here (413 too large, 422 otherwise) and reported false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	err := dec.Decode(v)
	if err == nil {
		if e := dec.Decode(&struct{}{}); e != io.EOF {
			err = errTrailingData
			var mbe *http.MaxBytesError
			if errors.As(e, &mbe) {
				err = e
			}
		}
	}
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeErrors(w, http.StatusRequestEntityTooLarge, "body is too large")
	case errors.Is(err, errTrailingData):
		writeErrors(w, http.StatusUnprocessableEntity, "body must be one JSON object")
	default:
		writeErrors(w, http.StatusUnprocessableEntity, "body must be a JSON object of the documented shape")
	}
	return false
}

// statusClientClosedRequest is nginx's 499: the client went away before
// the answer.
const statusClientClosedRequest = 499

// fail maps an error of a handler to a status. Database errors are
// logged, never sent: their text may name the server.
//
//   - the client went away (its ctx ended): 499, no body, logged at Debug.
//   - not found 404; a unique violation 422 "has already been taken".
//   - the pool's queue full or timed out, the database out of
//     connections, or the pool closed (shutting down): 503 with
//     Retry-After, so that the client retries, possibly elsewhere.
//   - the operation's deadline (pool.Config.OpTimeout) or the
//     server's statement_timeout: 504, logged.
//   - anything else: 500, logged at Error.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case r.Context().Err() != nil:
		s.log.Debug("conduit: client went away", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosedRequest)
	case errors.Is(err, repo.ErrNotFound):
		writeErrors(w, http.StatusNotFound, "not found")
	case errors.Is(err, repo.ErrConflict):
		writeErrors(w, http.StatusUnprocessableEntity, "has already been taken")
	case errors.Is(err, pool.ErrQueueFull), errors.Is(err, pool.ErrQueueTimeout), pool.IsPoolExhausted(err):
		s.log.Warn("conduit: busy", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "1")
		writeErrors(w, http.StatusServiceUnavailable, "busy, retry shortly")
	case errors.Is(err, pool.ErrClosed):
		w.Header().Set("Retry-After", "1")
		writeErrors(w, http.StatusServiceUnavailable, "shutting down, retry shortly")
	case errors.Is(err, context.DeadlineExceeded), pool.Classify(err) == pool.Timeout: // OpTimeout, statement_timeout (57014)
		s.log.Warn("conduit: database operation timed out", "method", r.Method, "path", r.URL.Path, "err", err)
		writeErrors(w, http.StatusGatewayTimeout, "the database operation timed out")
	default:
		s.log.Error("conduit: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeErrors(w, http.StatusInternalServerError, "internal error")
	}
}

// timeJSON is a time in the format RealWorld's suite checks: UTC, with
// milliseconds always present ("2006-01-02T15:04:05.000Z").
type timeJSON time.Time

// MarshalJSON writes t as UTC with milliseconds.
func (t timeJSON) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
}

// pageParams reads limit (default 20, at most 100) and offset (default 0)
// from the query string; bad values are answered 422 and reported false.
func pageParams(w http.ResponseWriter, r *http.Request) (limit, offset int, ok bool) {
	limit, offset = 20, 0
	q := r.URL.Query()
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeErrors(w, http.StatusUnprocessableEntity, "limit must be an integer from 1 to 100")
			return 0, 0, false
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxOffset {
			writeErrors(w, http.StatusUnprocessableEntity, "offset must be a non-negative integer")
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

// Bounds of the list parameters.
const (
	maxLimit  = 100
	maxOffset = 1_000_000
)
