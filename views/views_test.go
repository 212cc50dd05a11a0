package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestFormatQuota(t *testing.T) {
	for q, want := range map[int64]string{0: "$0.00 (0)", 500000: "$1.00 (500 000)", 1234567: "$2.47 (1 234 567)", -1500: "$-0.00 (-1 500)"} {
		if got := FormatQuota(q); got != want {
			t.Errorf("FormatQuota(%d) = %q, want %q", q, got, want)
		}
	}
}

func TestRoleAndStatusNames(t *testing.T) {
	for role, want := range map[int16]string{0: "guest", 1: "user", 10: "admin", 100: "root"} {
		if got := RoleName(role); got != want {
			t.Errorf("RoleName(%d) = %q", role, got)
		}
	}
	if StatusName(1) != "enabled" || StatusName(2) != "disabled" {
		t.Error("StatusName")
	}
}

// TestUserRowEscapes: names and emails are text, never markup.
func TestUserRowEscapes(t *testing.T) {
	var buf bytes.Buffer
	u := UserView{ID: 42, Username: "u<b>", DisplayName: `"><script>alert(1)</script>`, Email: "<img src=x onerror=alert(2)>@x.io", Status: 1, Manageable: true}
	if err := UserRow(u, `tok"en`).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, bad := range []string{"<script>", "<img", "u<b>", `tok"en`} {
		if strings.Contains(html, bad) {
			t.Errorf("row contains %q unescaped: %s", bad, html)
		}
	}
	for _, want := range []string{`id="user-42"`, `hx-target="#user-42"`, `data-testid="user-disable"`} {
		if !strings.Contains(html, want) {
			t.Errorf("row lacks %s", want)
		}
	}
}

func TestLayoutHasCSRFAndNoInlineScript(t *testing.T) {
	var buf bytes.Buffer
	if err := HomePage(HomeView{Layout: LayoutView{Title: "x", CSRFToken: "abc"}}).Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	if !strings.Contains(html, `hx-headers="{&#34;X-CSRF-Token&#34;:&#34;abc&#34;}"`) {
		t.Errorf("no CSRF header on body: %s", html)
	}
	if strings.Contains(html, "<script>") || strings.Contains(html, "style=") || strings.Contains(html, "hx-on") {
		t.Error("inline script, style or hx-on in the layout")
	}
}
