package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// TestTokenFormRateLimits: the console's token form saves the rate limits,
// refuses bad ones with a field error, and shows them when editing.
func TestTokenFormRateLimits(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	c, me := signedIn(t, a, "lena", roleUser)
	form := url.Values{"name": {"limited"}, "remain_quota": {"0"}, "unlimited_quota": {"true"}, "expired_time": {""},
		"rpm_limit": {"600"}, "tpm_limit": {"2000000"}, "model_limits": {`{"gpt-4o": {"rpm": 10}}`}}
	for field, value := range map[string]string{"rpm_limit": "many", "model_limits": "{oops", "max_concurrency": "-2"} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		bad.Set(field, value)
		if rec := c.post("/tokens", bad); rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "error-"+field) != 1 {
			t.Errorf("%s=%q: %d", field, value, rec.Code)
		}
	}
	if rec := c.post("/tokens", form); rec.Code != http.StatusOK {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	var id, rpm, tpm int64
	var models string
	if err := a.pool.QueryRow(context.Background(), "SELECT id, rpm_limit, tpm_limit, model_limits FROM tokens WHERE user_id = $1", me.ID).
		Scan(&id, &rpm, &tpm, &models); err != nil {
		t.Fatal(err)
	}
	if rpm != 600 || tpm != 2_000_000 || !strings.Contains(models, "gpt-4o") {
		t.Fatalf("stored %d %d %q", rpm, tpm, models)
	}
	edit := c.get("/tokens/" + strconv.FormatInt(id, 10) + "/edit").Body.String()
	if !strings.Contains(edit, `value="600"`) || !strings.Contains(edit, `value="2000000"`) {
		t.Fatalf("edit form does not show the limits: %s", edit)
	}
}
