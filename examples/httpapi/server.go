package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/metrics"
	"github.com/tollgate-db/tollgate/migrations"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// User is the example's one resource.
type User struct {
	ID        uint      `gorm:"primaryKey" json:"id"`
	Email     string    `gorm:"size:320;not null;uniqueIndex:httpapi_users_email_key" json:"email"`
	Name      string    `gorm:"size:200;not null" json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

// TableName keeps the example's table apart from others in a shared database.
func (User) TableName() string { return "httpapi_users" }

// schema holds the versioned migrations, one directory per dialect.
//
//go:embed schema
var schema embed.FS

// migrate applies the migrations. Every instance runs it at start-up; the
// migrator's lock (a table lease, which holds behind a transaction pooler
// too) lets one apply them while the others wait.
func migrate(ctx context.Context, p *pool.Pool) error {
	m, err := migrations.New(p, migrations.Config{
		FS:        schema,
		Dir:       "schema/" + p.Gorm().Dialector.Name(), // postgres or sqlite
		Table:     "httpapi_schema_migrations",
		DirectURL: os.Getenv("DIRECT_URL"), // Prisma's directUrl: empty = the pool's own connection
	})
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}

// serverConfig configures newServer.
type serverConfig struct {
	// HealthToken guards POST /api/health/database {"action":"cleanup"}.
	// Default: "" (cleanup disabled).
	HealthToken string
	// Logger receives request errors. Default: slog.Default().
	Logger *slog.Logger
	// Registry is what the admin /metrics serves; the pool's collector is
	// added to it (the OpenTelemetry Prometheus exporter may already be
	// there). Default: a new registry.
	Registry *prometheus.Registry
}

// server is the example's HTTP API. Close it to stop the health memo.
type server struct {
	mux    *http.ServeMux // public: the API and the probes
	admin  *http.ServeMux // operators only: the health report and metrics
	users  *repo.Repository[User]
	health *health.Checker
	log    *slog.Logger
}

// newServer builds the routes over p. The public router (ServeHTTP):
//
//	GET  /api/users?limit=&cursor=   a page of users, by id
//	GET  /api/users/{id}             one user
//	POST /api/users                  create {"email","name"}
//	GET  /livez                      liveness, no database
//	GET  /readyz                     readiness, memoized check, {"status"} only
//
// The admin router (Admin), for a listener only operators reach:
//
//	     /api/health/database        the full health report and cleanup
//	GET  /metrics                    Prometheus
//
// The report and the metrics show pool figures, errors and timings that
// the public has no business reading, so they are not on the public
// router at all.
func newServer(p *pool.Pool, cfg serverConfig) *server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &server{
		mux:    http.NewServeMux(),
		admin:  http.NewServeMux(),
		users:  repo.New[User](p),
		health: health.New(p, health.Config{Token: cfg.HealthToken, Logger: cfg.Logger}),
		log:    cfg.Logger,
	}
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.MustRegister(metrics.NewCollector(p, "", nil))

	s.mux.HandleFunc("GET /api/users", s.listUsers)
	s.mux.HandleFunc("GET /api/users/{id}", s.getUser)
	s.mux.HandleFunc("POST /api/users", s.createUser)
	s.mux.Handle("/livez", s.health.LivenessHandler())
	s.mux.Handle("/readyz", s.health.ReadinessHandler())

	s.admin.Handle("/api/health/database", s.health.Handler())
	s.admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return s
}

// ServeHTTP serves the public router.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Admin returns the admin router: the health report and metrics.
func (s *server) Admin() http.Handler { return s.admin }

// Close stops the health checker's memo.
func (s *server) Close() { s.health.Close() }

const maxPageSize = 100

type userPage struct {
	Items []User `json:"items"`
	Next  string `json:"next,omitempty"`
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			writeError(w, http.StatusBadRequest, "limit must be between 1 and 100")
			return
		}
		limit = n
	}
	page, err := s.users.Page(r.Context(), repo.All().OrderBy("id", repo.Asc).Limit(limit), r.URL.Query().Get("cursor"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if page.Items == nil {
		page.Items = []User{}
	}
	writeJSON(w, http.StatusOK, userPage{Items: page.Items, Next: page.Next})
}

func (s *server) getUser(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 63)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, "id must be a positive integer")
		return
	}
	u, err := s.users.Get(r.Context(), uint(id))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

type createUserRequest struct {
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Limits of createUserRequest, the columns' sizes.
const (
	maxEmailBytes = 320 // RFC 5321: 64-byte local part, @, 255-byte domain
	maxNameBytes  = 200
	maxBodyBytes  = 16 << 10
)

var errTrailingData = errors.New("unexpected data after the JSON object")

// decodeOne decodes exactly one JSON object from dec into v: anything but
// white space after it is errTrailingData (a second object would otherwise
// be silently ignored).
func decodeOne(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		return err
	}
	switch err := dec.Decode(&struct{}{}); err {
	case io.EOF:
		return nil
	case nil:
		return errTrailingData
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return errTrailingData
	}
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	var req createUserRequest
	if err := decodeOne(dec, &req); err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		case errors.Is(err, errTrailingData):
			writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		default:
			writeError(w, http.StatusBadRequest, "invalid JSON body")
		}
		return
	}
	req.Email, req.Name = strings.TrimSpace(req.Email), strings.TrimSpace(req.Name)
	if len(req.Email) > maxEmailBytes {
		writeError(w, http.StatusBadRequest, "email must be at most 320 bytes")
		return
	}
	if a, err := mail.ParseAddress(req.Email); err != nil || a.Address != req.Email {
		writeError(w, http.StatusBadRequest, "email must be a plain e-mail address")
		return
	}
	// PostgreSQL text cannot hold NUL (the insert would fail with a 500)
	// and SQLite would store it; refuse it here for both.
	if req.Name == "" || len(req.Name) > maxNameBytes || strings.ContainsRune(req.Name, 0) {
		writeError(w, http.StatusBadRequest, "name must be 1 to 200 bytes, without NUL")
		return
	}
	u := User{Email: req.Email, Name: req.Name}
	if err := s.users.Create(r.Context(), &u); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/users/"+strconv.FormatUint(uint64(u.ID), 10))
	writeJSON(w, http.StatusCreated, u)
}

// fail maps an error to a status. Database errors are logged, never sent:
// their text may name the server.
//
//   - the client went away (its request ctx ended): 499, no body, logged
//     at Debug; nobody reads the answer, but it must not be an implicit 200.
//   - not found 404, duplicate 409, bad cursor 400.
//   - the pool's queue full or timed out, or the database out of
//     connections: 503 with Retry-After.
//   - the pool closed (the instance is shutting down): 503 with
//     Retry-After, so that the client retries, on another instance.
//   - the operation's deadline (pool.Config.OpTimeout) or the
//     server's statement_timeout while the client
//     still waits: 504, logged at Warn.
//   - anything else: 500, logged at Error.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case r.Context().Err() != nil:
		s.log.Debug("httpapi: client went away", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosedRequest)
	case errors.Is(err, repo.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, repo.ErrConflict):
		writeError(w, http.StatusConflict, "a user with that email exists")
	case errors.Is(err, repo.ErrInvalidCursor):
		writeError(w, http.StatusBadRequest, "invalid cursor")
	case errors.Is(err, pool.ErrQueueFull), errors.Is(err, pool.ErrQueueTimeout), pool.IsPoolExhausted(err):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "busy, retry shortly")
	case errors.Is(err, pool.ErrClosed):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "shutting down, retry shortly")
	case errors.Is(err, context.DeadlineExceeded), pool.Classify(err) == pool.Timeout: // OpTimeout, statement_timeout (57014)
		s.log.Warn("httpapi: database operation timed out", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusGatewayTimeout, "the database operation timed out")
	default:
		s.log.Error("httpapi: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// statusClientClosedRequest is nginx's 499: the client went away before
// the answer. fail writes it, with no body, so that access logs and
// metrics tell an abandoned request from a served one (an implicit 200)
// and from a server error.
const statusClientClosedRequest = 499
