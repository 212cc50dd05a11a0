package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestBranding: root sets the brand and content through /api/option/ as One
// API's scripts do; the header, title, footer, home page, /about, the
// dashboard notice and the public /api endpoints show it, Markdown
// sanitised, and the CSP widens only for the logo and frame origins.
func TestBranding(t *testing.T) {
	a := newTestApp(t)
	root, _ := signedIn(t, a, "brand-root", roleRoot)
	for k, v := range map[string]string{
		"SystemName":      "云雀 API",
		"Logo":            "https://cdn.example.com/logo.png",
		"Footer":          "© **Lark Ltd** <script>alert(1)</script>",
		"Notice":          "Prices change on *1 Jan*.",
		"HomePageContent": "# Welcome to Lark\n\nCheap models.",
		"About":           "https://about.example.org/page",
	} {
		rec, res := root.api(http.MethodPut, "/api/option/", map[string]string{"key": k, "value": v})
		if rec.Code != http.StatusOK || !res.Success {
			t.Fatalf("PUT option %s: %d %s", k, rec.Code, rec.Body)
		}
	}
	if rec, _ := root.api(http.MethodPut, "/api/option/", map[string]string{"key": "Logo", "value": "javascript:alert(1)"}); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("a javascript: logo was accepted: %d", rec.Code)
	}

	home := a.do(http.MethodGet, "/", "")
	body := home.Body.String()
	for _, want := range []string{"<title>Home · 云雀 API</title>", `src="https://cdn.example.com/logo.png"`, "<h1>Welcome to Lark</h1>",
		"<strong>Lark Ltd</strong>", `href="/login"`, `href="/register"`} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("the footer's script survived sanitising")
	}
	if csp := home.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.example.com") || strings.Contains(csp, "frame-src") {
		t.Errorf("home CSP: %s", csp)
	}
	about := a.do(http.MethodGet, "/about", "")
	if !strings.Contains(about.Body.String(), `<iframe src="https://about.example.org/page"`) ||
		!strings.Contains(about.Header().Get("Content-Security-Policy"), "frame-src https://about.example.org") {
		t.Errorf("about: %s\n%s", about.Header().Get("Content-Security-Policy"), about.Body)
	}
	if dash := root.get("/").Body.String(); !strings.Contains(dash, "Prices change on <em>1 Jan</em>.") || !strings.Contains(dash, "data-testid=\"notice\"") {
		t.Error("the dashboard shows no notice")
	}

	var st struct {
		Data struct {
			SystemName string `json:"system_name"`
			Logo       string `json:"logo"`
			FooterHTML string `json:"footer_html"`
		} `json:"data"`
	}
	if err := json.Unmarshal(a.do(http.MethodGet, "/api/status", "").Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Data.SystemName != "云雀 API" || st.Data.Logo != "https://cdn.example.com/logo.png" || !strings.Contains(st.Data.FooterHTML, "<strong>Lark Ltd</strong>") {
		t.Errorf("/api/status: %+v", st.Data)
	}
	for path, want := range map[string]string{"/api/notice": "Prices change on *1 Jan*.", "/api/about": "https://about.example.org/page", "/api/home_page_content": "# Welcome to Lark\n\nCheap models."} {
		var r struct {
			Success bool   `json:"success"`
			Data    string `json:"data"`
		}
		json.Unmarshal(a.do(http.MethodGet, path, "").Body.Bytes(), &r)
		if !r.Success || r.Data != want {
			t.Errorf("%s = %+v", path, r)
		}
	}
}
