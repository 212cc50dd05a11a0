package handlers

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestRateLimitPerIP(t *testing.T) {
	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	e.Use(rateLimit(3, 2))
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	e.GET("/api/status", ok)
	e.GET("/login", ok)
	e.GET("/healthz", ok)
	get := func(path, ip string) int {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = ip + ":1234"
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code
	}
	for i := 0; i < 3; i++ {
		if code := get("/api/status", "10.0.0.1"); code != 200 {
			t.Fatalf("api request %d = %d", i, code)
		}
	}
	if code := get("/api/status", "10.0.0.1"); code != http.StatusTooManyRequests {
		t.Errorf("4th api request = %d, want 429", code)
	}
	if code := get("/api/status", "10.0.0.2"); code != 200 {
		t.Errorf("another address is limited too: %d", code)
	}
	if get("/login", "10.0.0.1") != 200 || get("/login", "10.0.0.1") != 200 || get("/login", "10.0.0.1") != http.StatusTooManyRequests {
		t.Error("web limit of 2 not applied separately")
	}
	for i := 0; i < 10; i++ {
		if code := get("/healthz", "10.0.0.1"); code != 200 {
			t.Fatalf("health probe limited: %d", code)
		}
	}
}
