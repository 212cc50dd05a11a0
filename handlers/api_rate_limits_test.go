package handlers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestAPIRateLimitFields: tokens and users carry rpm_limit, rpd_limit,
// tpm_limit, max_concurrency and model_limits; a PUT that leaves them out
// keeps them; bad values are refused and change nothing; the relay's state
// has them at once.
func TestAPIRateLimitFields(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	ctx := context.Background()
	_, user := apiTestUser(t, a, "rita", roleUser)
	_, admin := apiTestUser(t, a, "adam", roleAdmin)
	var tok apiToken
	mustAPI(t, a, http.MethodPost, "/api/token/", `{"name":"lim","rpm_limit":600,"tpm_limit":2000000,
		"max_concurrency":4,"model_limits":"{\"gpt-4o\":{\"rpm\":10}}"}`, user, &tok)
	if tok.RPMLimit != 600 || tok.TPMLimit != 2_000_000 || tok.MaxConcurrency != 4 || tok.RPDLimit != 0 ||
		!strings.Contains(tok.ModelLimits, "gpt-4o") {
		t.Fatalf("created = %+v", tok.limitFields)
	}
	mustAPI(t, a, http.MethodPut, "/api/token/", fmt.Sprintf(`{"id":%d,"name":"renamed","rpd_limit":5000}`, tok.ID), user, &tok)
	if tok.Name != "renamed" || tok.RPMLimit != 600 || tok.RPDLimit != 5000 {
		t.Fatalf("after a partial PUT = %+v", tok)
	}
	st, err := a.state.TokenByID(ctx, tok.ID)
	if err != nil || st.Limits.RPM != 600 || st.Limits.RPD != 5000 || st.Limits.Model("gpt-4o").RPM != 10 {
		t.Fatalf("state token limits = %+v, %v", st.Limits, err)
	}
	for _, body := range []string{
		fmt.Sprintf(`{"id":%d,"rpm_limit":-1}`, tok.ID),
		fmt.Sprintf(`{"id":%d,"model_limits":"not json"}`, tok.ID),
		fmt.Sprintf(`{"id":%d,"model_limits":"{\"gpt-4o\":{\"tpm\":-5}}"}`, tok.ID),
	} {
		if code, r, _ := apiCall(t, a, http.MethodPut, "/api/token/", body, user); code != http.StatusUnprocessableEntity || r.Success {
			t.Errorf("PUT %s = %d %+v, want 422", body, code, r)
		}
	}
	mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/token/%d", tok.ID), "", user, &tok)
	if tok.RPMLimit != 600 || !strings.Contains(tok.ModelLimits, "gpt-4o") {
		t.Fatalf("refused PUTs changed the token: %+v", tok.limitFields)
	}

	var u apiUser
	mustAPI(t, a, http.MethodPost, "/api/user/", `{"username":"limited","password":"a-long-password-1","rpm_limit":60,"max_concurrency":2}`, admin, &u)
	if u.RPMLimit != 60 || u.MaxConcurrency != 2 {
		t.Fatalf("created user = %+v", u.limitFields)
	}
	mustAPI(t, a, http.MethodPut, "/api/user/", fmt.Sprintf(`{"id":%d,"username":"limited","tpm_limit":1000}`, u.ID), admin, &u)
	if u.RPMLimit != 60 || u.TPMLimit != 1000 {
		t.Fatalf("updated user = %+v", u.limitFields)
	}
	if code, _, _ := apiCall(t, a, http.MethodPut, "/api/user/", fmt.Sprintf(`{"id":%d,"username":"limited","rpm_limit":-4}`, u.ID), admin); code != http.StatusUnprocessableEntity {
		t.Errorf("negative rpm_limit = %d", code)
	}
}
