package handlers

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"

	"oneapi/keys"
	"oneapi/queries/dbtest"
	"oneapi/state"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testApp is the real Echo application on a fresh database.
type testApp struct {
	e      *echo.Echo
	pool   *pgxpool.Pool
	state  *state.State
	cipher *keys.Cipher
}

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	pool := dbtest.Pool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cipher, err := keys.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.New(context.Background(), pool, cipher, log)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Deps{Pool: pool, Log: log, Version: "test", State: st, Cipher: cipher})
	if err != nil {
		t.Fatal(err)
	}
	return &testApp{e: e, pool: pool, state: st, cipher: cipher}
}

// do sends a request through the application and returns the recorded reply.
func (a *testApp) do(method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	a.e.ServeHTTP(rec, req)
	return rec
}

func TestHealth(t *testing.T) {
	a := newTestApp(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if rec := a.do(http.MethodGet, path, ""); rec.Code != http.StatusOK {
			t.Errorf("%s = %d, want 200", path, rec.Code)
		}
	}
	a.pool.Close() // database gone: ready must say so, health must not care
	if rec := a.do(http.MethodGet, "/readyz", ""); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz without database = %d, want 503", rec.Code)
	}
	if rec := a.do(http.MethodGet, "/healthz", ""); rec.Code != http.StatusOK {
		t.Errorf("/healthz without database = %d, want 200", rec.Code)
	}
}

func TestSecurityHeadersAndStatic(t *testing.T) {
	a := newTestApp(t)
	rec := a.do(http.MethodGet, "/", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("/ = %d", rec.Code)
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP = %q", csp)
	}
	rec = a.do(http.MethodGet, "/static/htmx.min.js", "")
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") == "" {
		t.Errorf("static = %d cache %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
}
