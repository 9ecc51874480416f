package health_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tollgate-db/tollgate/health"
)

// The configured token is trimmed like the request's: one read from a
// file with its newline matches.
func TestTokenTrimmed(t *testing.T) {
	const tok = "0123456789abcdef-token"
	for _, configured := range []string{tok, tok + "\n", "  " + tok + "\r\n"} {
		hc, err := health.NewChecker(newFake(), health.Config{Token: configured})
		if err != nil {
			t.Fatal(err)
		}
		for _, sent := range []string{tok, tok + " "} {
			req := httptest.NewRequest("POST", "/", strings.NewReader(`{"action":"cleanup"}`))
			req.Header.Set("Authorization", "Bearer "+sent)
			rec := httptest.NewRecorder()
			hc.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Errorf("token %q, sent %q: %d %s", configured, sent, rec.Code, rec.Body)
			}
		}
		hc.Close()
	}
}

// A token shorter than 16 bytes: NewChecker refuses it; New disables
// cleanup, says why in the 403, logs it at Error and warns in the report.
func TestTokenTooShort(t *testing.T) {
	for _, tok := range []string{"x", "s3cret", "fifteen-bytes!!", " fifteen-bytes!! \n"} {
		hc, err := health.NewChecker(newFake(), health.Config{Token: tok})
		if hc != nil || !errors.Is(err, health.ErrInvalidConfig) || !strings.Contains(err.Error(), "at least 16") {
			t.Fatalf("NewChecker(%q) = %v, %v; want ErrInvalidConfig naming the minimum", tok, hc, err)
		}
		if len(strings.TrimSpace(tok)) > 3 && strings.Contains(err.Error(), strings.TrimSpace(tok)) {
			t.Fatalf("error shows the token: %v", err)
		}
		var logs bytes.Buffer
		hc = health.New(newFake(), health.Config{Token: tok, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		req := httptest.NewRequest("POST", "/", strings.NewReader(`{"action":"cleanup"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		hc.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "at least 16") {
			t.Errorf("New with token %q: POST = %d %s, want 403 naming the minimum", tok, rec.Code, rec.Body)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "at least 16") {
			t.Errorf("New with token %q logged %q, want the error at ERROR", tok, logs.String())
		}
		rep := hc.Check(context.Background())
		if len(rep.Warnings) == 0 || rep.Warnings[len(rep.Warnings)-1].Code != health.WarnConfigInvalid {
			t.Errorf("report warnings = %+v, want config_invalid", rep.Warnings)
		}
		hc.Close()
	}
}

// Printing or logging a health.Config does not show the token.
func TestConfigHidesToken(t *testing.T) {
	const tok = "0123456789abcdef-token"
	cfg := health.Config{Token: tok}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "cfg", cfg)
	if out := fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, logs.String()); strings.Contains(out, tok) {
		t.Fatalf("printing shows the token: %s", out)
	}
}
