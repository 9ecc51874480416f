package main

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/bcrypt"

	"github.com/tollgate-db/tollgate/health"
	"github.com/tollgate-db/tollgate/metrics"
	"github.com/tollgate-db/tollgate/pool"
	"github.com/tollgate-db/tollgate/repo"
)

// serverConfig configures newServer.
type serverConfig struct {
	// Secret signs and checks the JWTs (HS256); at least 32 bytes.
	// Instances behind one load balancer must share it. Required.
	Secret []byte
	// BcryptCost is the cost of password hashes. Default:
	// bcrypt.DefaultCost (10).
	BcryptCost int
	// HealthToken guards POST /api/health/database {"action":"cleanup"}
	// on the admin router. Default: "" (cleanup disabled).
	HealthToken string
	// Logger receives request errors. Default: slog.Default().
	Logger *slog.Logger
}

// server is the Conduit API over one pool. Close it to stop the health
// memo.
type server struct {
	p      *pool.Pool
	mux    *http.ServeMux // public: the API and the probes
	admin  *http.ServeMux // operators only: the health report and metrics
	health *health.Checker
	log    *slog.Logger
	secret []byte
	cost   int
	// dummyHash is what a login compares against when no user has the
	// e-mail, so that it takes as long whether the account exists or not.
	dummyHash func() []byte

	users    *repo.Repository[User]
	articles *repo.Repository[Article]
	tags     *repo.Repository[Tag]
	comments *repo.Repository[Comment]

	// The many2many relations, through their join tables.
	following   *repo.Links // User.Following: follower -> followees
	favorites   *repo.Links // User.Favorites: user -> articles
	favoritedBy *repo.Links // Article.FavoritedBy: article -> users
	articleTags *repo.Links // Article.Tags: article -> tags
}

// newServer builds the routes over p: RealWorld's API under /api,
// /livez and /readyz on the public router; the health report and
// /metrics on the admin router (Admin), for a listener only operators
// reach.
func newServer(p *pool.Pool, cfg serverConfig) (*server, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("conduit: serverConfig.Secret must be at least 32 bytes")
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.DefaultCost
	}
	if cfg.BcryptCost < bcrypt.MinCost || cfg.BcryptCost > bcrypt.MaxCost {
		return nil, errors.New("conduit: serverConfig.BcryptCost out of bcrypt's range")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &server{
		p:      p,
		mux:    http.NewServeMux(),
		admin:  http.NewServeMux(),
		health: health.New(p, health.Config{Token: cfg.HealthToken, Logger: cfg.Logger}),
		log:    cfg.Logger,
		secret: cfg.Secret,
		cost:   cfg.BcryptCost,
		dummyHash: sync.OnceValue(func() []byte {
			h, _ := bcrypt.GenerateFromPassword([]byte("conduit: no such user"), cfg.BcryptCost)
			return h
		}),

		users:    repo.New[User](p),
		articles: repo.New[Article](p),
		tags:     repo.New[Tag](p),
		comments: repo.New[Comment](p),
	}
	s.following = s.users.Links("Following")
	s.favorites = s.users.Links("Favorites")
	s.favoritedBy = s.articles.Links("FavoritedBy")
	s.articleTags = s.articles.Links("Tags")
	// A model or relation repo cannot map is reported here, at start-up.
	for _, err := range []error{s.users.Err(), s.articles.Err(), s.tags.Err(), s.comments.Err(),
		s.following.Err(), s.favorites.Err(), s.favoritedBy.Err(), s.articleTags.Err()} {
		if err != nil {
			s.health.Close()
			return nil, err
		}
	}

	m := s.mux
	m.HandleFunc("POST /api/users/login", s.login)
	m.HandleFunc("POST /api/users", s.register)
	m.HandleFunc("GET /api/user", s.required(s.currentUser))
	m.HandleFunc("PUT /api/user", s.required(s.updateUser))

	m.HandleFunc("GET /api/profiles/{username}", s.optional(s.getProfile))
	m.HandleFunc("POST /api/profiles/{username}/follow", s.required(s.follow))
	m.HandleFunc("DELETE /api/profiles/{username}/follow", s.required(s.unfollow))

	m.HandleFunc("GET /api/articles", s.optional(s.listArticles))
	m.HandleFunc("GET /api/articles/feed", s.required(s.feed))
	m.HandleFunc("POST /api/articles", s.required(s.createArticle))
	m.HandleFunc("GET /api/articles/{slug}", s.optional(s.getArticle))
	m.HandleFunc("PUT /api/articles/{slug}", s.required(s.updateArticle))
	m.HandleFunc("DELETE /api/articles/{slug}", s.required(s.deleteArticle))
	m.HandleFunc("POST /api/articles/{slug}/favorite", s.required(s.favorite))
	m.HandleFunc("DELETE /api/articles/{slug}/favorite", s.required(s.unfavorite))

	m.HandleFunc("GET /api/articles/{slug}/comments", s.optional(s.listComments))
	m.HandleFunc("POST /api/articles/{slug}/comments", s.required(s.addComment))
	m.HandleFunc("DELETE /api/articles/{slug}/comments/{id}", s.required(s.deleteComment))

	m.HandleFunc("GET /api/tags", s.listTags)

	m.Handle("/livez", s.health.LivenessHandler())
	m.Handle("/readyz", s.health.ReadinessHandler())

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(p, "", nil))
	s.admin.Handle("/api/health/database", s.health.Handler())
	s.admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return s, nil
}

// ServeHTTP serves the public router.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Admin returns the admin router: the health report and metrics.
func (s *server) Admin() http.Handler { return s.admin }

// Close stops the health checker's memo.
func (s *server) Close() { s.health.Close() }
