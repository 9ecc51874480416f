// Package httpserve runs the examples' HTTP listeners (the public API and
// the private admin listener) and shuts them down in the order a service
// behind a connection budget needs: stop accepting, let in-flight requests
// finish, and only then close the database.
package httpserve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// ShutdownTimeout bounds the drain: in-flight requests, then closeDB.
const ShutdownTimeout = 20 * time.Second

// Site is one listener and the handler it serves.
type Site struct {
	Listener net.Listener
	Handler  http.Handler
}

// Run answers on every site until ctx ends or one of them fails, then
// shuts down in order: stop accepting and wait for in-flight requests on
// every site (http.Server.Shutdown), then closeDB (for example the fleet
// membership, then the pool, which drains). name prefixes its log line.
func Run(ctx context.Context, name string, log *slog.Logger, closeDB func(context.Context) error, sites ...Site) error {
	servers := make([]*http.Server, len(sites))
	errc := make(chan error, len(sites))
	for i, st := range sites {
		hs := &http.Server{
			Handler:           st.Handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		servers[i] = hs
		go func() { errc <- hs.Serve(st.Listener) }()
	}

	var serveErr error
	pending := len(sites) // Serve calls not yet returned
	select {
	case <-ctx.Done():
		log.Info(name + ": shutting down")
	case serveErr = <-errc:
		pending--
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	shutErrs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, hs := range servers {
		wg.Go(func() { shutErrs[i] = hs.Shutdown(sctx) })
	}
	wg.Wait()
	for range pending {
		if e := <-errc; !errors.Is(e, http.ErrServerClosed) {
			serveErr = errors.Join(serveErr, e)
		}
	}
	// Only now, with no request left in flight, is the database closed.
	return errors.Join(serveErr, errors.Join(shutErrs...), closeDB(sctx))
}
