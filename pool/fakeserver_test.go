package pool_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// refusingServer is a loopback listener that answers every startup message
// with the ErrorResponse pe, as a pooler without a free slot does. It
// reproduces PgBouncer's and Supavisor's refusals at the protocol level;
// real PostgreSQL refusals are tested against the real server. It returns
// the server's address.
func refusingServer(t *testing.T, pe *pgconn.PgError) string {
	t.Helper()
	return fakeServer(t, func(c net.Conn) {
		be := pgproto3.NewBackend(c, c)
		if _, err := be.ReceiveStartupMessage(); err != nil {
			return
		}
		be.Send(&pgproto3.ErrorResponse{Severity: pe.Severity, SeverityUnlocalized: pe.Severity, Code: pe.Code, Message: pe.Message})
		be.Flush()
	})
}

// silentServer accepts connections and never answers: a connect to it
// ends only by connect_timeout or ctx. It counts the connections it got.
func silentServer(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	addr = fakeServer(t, func(c net.Conn) {
		mu.Lock()
		n++
		mu.Unlock()
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	return addr, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func fakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				serve(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// fakeServerConnect connects pgconn to a server refusing with pe and
// returns the error.
func fakeServerConnect(t *testing.T, pe *pgconn.PgError) error {
	t.Helper()
	addr := refusingServer(t, pe)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := pgconn.Connect(ctx, "postgres://u@"+addr+"/db?sslmode=disable")
	if err == nil {
		c.Close(ctx)
		t.Fatal("connected to a refusing server")
	}
	return err
}
