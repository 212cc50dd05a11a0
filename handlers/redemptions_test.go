package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"oneapi/queries"
)

var codeLine = regexp.MustCompile(`(?m)^[A-Za-z0-9]{32}$`)

func TestRedemptionPages(t *testing.T) {
	t.Parallel()
	a := newAccountApp(t, nil)
	c, _ := signedIn(t, a, "admin", roleAdmin)
	ctx := context.Background()

	if rec := c.get("/redemptions/new"); rec.Code != http.StatusOK || testids(rec.Body.String(), "redemption-form") != 1 {
		t.Fatalf("new = %d", rec.Code)
	}
	for field, f := range map[string]url.Values{
		"name":  {"name": {""}, "quota": {"100"}, "count": {"1"}},
		"quota": {"name": {"n"}, "quota": {"0"}, "count": {"1"}},
		"count": {"name": {"n"}, "quota": {"100"}, "count": {"101"}},
	} {
		if rec := c.post("/redemptions", f); rec.Code != http.StatusUnprocessableEntity || testids(rec.Body.String(), "error-"+field) != 1 {
			t.Errorf("invalid %s = %d", field, rec.Code)
		}
	}
	if rec := c.post("/redemptions", url.Values{"name": {"n"}, "quota": {"many"}, "count": {"x"}}); rec.Code != http.StatusUnprocessableEntity ||
		testids(rec.Body.String(), "error-quota") != 1 || testids(rec.Body.String(), "error-count") != 1 {
		t.Errorf("not numbers = %d", rec.Code)
	}

	rec := c.post("/redemptions", url.Values{"name": {"spring promo"}, "quota": {"250000"}, "count": {"3"}})
	body := rec.Body.String()
	if rec.Code != http.StatusOK || testids(body, "redemptions-created") != 1 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("create = %d: %s", rec.Code, body)
	}
	area := regexpFind(`(?s)data-testid="redemption-codes">(.*?)</textarea>`, body)
	codes := codeLine.FindAllString(area, -1)
	if len(codes) != 3 {
		t.Fatalf("codes shown = %q", area)
	}
	// The same codes as a CSV download, made from this page.
	href := html.UnescapeString(regexpFind(`href="(data:text/csv[^"]*)" download="redemption-codes.csv"`, body))
	csvText, err := url.PathUnescape(strings.TrimPrefix(href, "data:text/csv;charset=utf-8,"))
	if err != nil || href == "" {
		t.Fatalf("no CSV download of the codes: %q %v", href, err)
	}
	recs, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][1] != "code" {
		t.Fatalf("CSV = %q (%v)", csvText, err)
	}
	for i, code := range codes {
		if recs[i+1][0] != "spring promo" || recs[i+1][1] != code || recs[i+1][2] != "250000" {
			t.Errorf("CSV row %d = %v, want code %s", i+1, recs[i+1], code)
		}
	}

	list := c.get("/redemptions")
	lb := list.Body.String()
	if list.Code != http.StatusOK || testids(lb, "redemption-row") != 3 || !strings.Contains(lb, codes[0][:6]+"…") {
		t.Errorf("list = %d: %s", list.Code, lb)
	}
	for _, code := range codes {
		if strings.Contains(lb, code) {
			t.Fatal("the list shows a code")
		}
	}

	// Redeem one; it shows as used and can no longer be disabled.
	user, u := signedIn(t, a, "redeemer", roleUser)
	if rec, res := user.api(http.MethodPost, "/api/user/topup", map[string]string{"key": codes[0]}); rec.Code != http.StatusOK || string(res.Data) != "250000" {
		t.Fatalf("redeem = %d %s", rec.Code, rec.Body)
	}
	var usedID, freeID int64
	rows, _ := queries.New(a.pool).RedemptionList(ctx, queries.RedemptionListParams{Lim: 10})
	for _, r := range rows {
		if r.Status == redemptionUsed {
			usedID = r.ID
		} else {
			freeID = r.ID
		}
	}
	used, free := strconv.FormatInt(usedID, 10), strconv.FormatInt(freeID, 10)
	lb = c.get("/redemptions?q=spring", htmx("redemption-table")...).Body.String()
	if strings.Contains(lb, "<html") || !strings.Contains(lb, ">used<") || !strings.Contains(lb, "by user "+strconv.FormatInt(u.ID, 10)) {
		t.Errorf("used code in the list: %s", lb)
	}
	rec = c.post("/redemptions/"+used+"/disable", nil, htmx("redemption-"+used)...)
	if rec.Code != http.StatusUnprocessableEntity || rec.Header().Get("HX-Retarget") != "#flash" {
		t.Errorf("disable used = %d %s", rec.Code, rec.Body)
	}

	// Disable a free one: it can no longer be redeemed; enable it again.
	rec = c.post("/redemptions/"+free+"/disable", nil, htmx("redemption-"+free)...)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), ">disabled<") || testids(rec.Body.String(), "redemption-enable") != 1 {
		t.Errorf("disable = %d: %s", rec.Code, rec.Body)
	}
	var freeCode string
	for _, code := range codes[1:] {
		if rec, _ := user.api(http.MethodPost, "/api/user/topup", map[string]string{"key": code}); rec.Code == http.StatusOK {
			freeCode = code // the other, still enabled one
		}
	}
	if freeCode == "" {
		t.Error("the enabled code did not redeem")
	}
	rec = c.post("/redemptions/"+free+"/enable", nil, htmx("redemption-"+free)...)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), ">unused<") {
		t.Errorf("enable = %d: %s", rec.Code, rec.Body)
	}
	if rec := c.post("/redemptions/"+free+"/delete", nil); rec.Code != http.StatusSeeOther {
		t.Errorf("plain delete = %d", rec.Code)
	}
	if rec := c.post("/redemptions/"+free+"/delete", nil, htmx("")...); rec.Code != http.StatusNotFound {
		t.Errorf("delete again = %d", rec.Code)
	}
	if rec := c.post("/redemptions/"+used+"/delete", nil, htmx("redemption-"+used)...); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("delete used = %d %q", rec.Code, rec.Body)
	}
}

func TestAPIRedemptions(t *testing.T) {
	t.Parallel()
	a := newTestApp(t)
	_, admin := apiTestUser(t, a, "admin", roleAdmin)
	_, user := apiTestUser(t, a, "user", roleUser)

	var codes []string
	rec := a.do(http.MethodPost, "/api/redemption/", `{"name":"batch","quota":1000,"count":12}`, "Content-Type", "application/json", "Authorization", admin)
	var r apiTestReply
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != http.StatusOK || json.Unmarshal(r.Data, &codes) != nil || len(codes) != 12 {
		t.Fatalf("create = %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("codes reply may be cached")
	}
	for _, tt := range []struct{ body, want string }{
		{`{"name":"","quota":1,"count":1}`, "name"},
		{`{"name":"123456789012345678901","quota":1,"count":1}`, "name"},
		{`{"name":"x","quota":0,"count":1}`, "quota"},
		{`{"name":"x","quota":1,"count":0}`, "count"},
		{`{"name":"x","quota":1,"count":101}`, "count"},
		{`{"name":"x","quota":"lots","count":1}`, "quota"},
	} {
		code, res, _ := apiCall(t, a, http.MethodPost, "/api/redemption/", tt.body, admin)
		if code/100 != 4 || !strings.Contains(res.Message, tt.want) {
			t.Errorf("%s = %d %q", tt.body, code, res.Message)
		}
	}

	var list []apiRedemption
	raw := mustAPI(t, a, http.MethodGet, "/api/redemption/?p=0", "", admin, &list)
	if len(list) != 10 || list[0].Name != "batch" || list[0].Quota != 1000 || list[0].Status != 1 || list[0].CreatedTime == 0 {
		t.Errorf("page 0 = %+v", list)
	}
	raws := []string{raw}
	raws = append(raws, mustAPI(t, a, http.MethodGet, "/api/redemption?p=1", "", admin, &list))
	if len(list) != 2 {
		t.Errorf("page 1 = %d", len(list))
	}
	id := list[0].ID
	raws = append(raws, mustAPI(t, a, http.MethodGet, "/api/redemption/search?keyword=BAT", "", admin, &list))
	if len(list) != 12 {
		t.Errorf("search = %d", len(list))
	}
	raws = append(raws, mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/redemption/search?keyword=%d", id), "", admin, &list))
	if len(list) != 1 || list[0].ID != id {
		t.Errorf("search by id = %+v", list)
	}
	var one apiRedemption
	raws = append(raws, mustAPI(t, a, http.MethodGet, fmt.Sprintf("/api/redemption/%d", id), "", admin, &one))
	if one.ID != id || !strings.HasSuffix(one.Key, "…") || len([]rune(one.Key)) != 7 {
		t.Errorf("get = %+v", one)
	}
	for _, raw := range raws {
		for _, code := range codes {
			if strings.Contains(raw, code) {
				t.Fatalf("a listing shows a code: %s", raw)
			}
		}
	}

	// Status only; then name and quota.
	mustAPI(t, a, http.MethodPut, "/api/redemption/?status_only=true", fmt.Sprintf(`{"id":%d,"status":2}`, id), admin, &one)
	if one.Status != 2 {
		t.Errorf("status_only = %+v", one)
	}
	if code, _, _ := apiCall(t, a, http.MethodPut, "/api/redemption/?status_only=1", fmt.Sprintf(`{"id":%d,"status":3}`, id), admin); code != http.StatusUnprocessableEntity {
		t.Errorf("status 3 = %d", code)
	}
	mustAPI(t, a, http.MethodPut, "/api/redemption/", fmt.Sprintf(`{"id":%d,"name":"renamed","quota":5000,"status":1}`, id), admin, &one)
	if one.Name != "renamed" || one.Quota != 5000 || one.Status != 2 {
		t.Errorf("update = %+v (status must not change without status_only)", one)
	}
	if code, _, _ := apiCall(t, a, http.MethodPut, "/api/redemption/", `{"name":"x","quota":1}`, admin); code != http.StatusUnprocessableEntity {
		t.Errorf("update without id = %d", code)
	}
	if code, _, _ := apiCall(t, a, http.MethodPut, "/api/redemption/", `{"id":999999,"name":"x","quota":1}`, admin); code != http.StatusNotFound {
		t.Errorf("update missing = %d", code)
	}

	// A redeemed code is history.
	var added int64
	mustAPI(t, a, http.MethodPost, "/api/user/topup", fmt.Sprintf(`{"key":%q}`, codes[0]), user, &added)
	if added != 1000 {
		t.Errorf("redeemed %d", added)
	}
	var usedID int64
	if err := a.pool.QueryRow(context.Background(), "SELECT id FROM redemptions WHERE status = 3").Scan(&usedID); err != nil {
		t.Fatal(err)
	}
	if code, r, _ := apiCall(t, a, http.MethodPut, "/api/redemption/", fmt.Sprintf(`{"id":%d,"name":"x","quota":1}`, usedID), admin); code != http.StatusUnprocessableEntity || !strings.Contains(r.Message, "redeemed") {
		t.Errorf("update used = %d %q", code, r.Message)
	}
	if code, _, _ := apiCall(t, a, http.MethodPut, "/api/redemption/?status_only=true", fmt.Sprintf(`{"id":%d,"status":1}`, usedID), admin); code != http.StatusUnprocessableEntity {
		t.Errorf("re-enable used = %d", code)
	}

	mustAPI(t, a, http.MethodDelete, fmt.Sprintf("/api/redemption/%d", id), "", admin, nil)
	if code, _, _ := apiCall(t, a, http.MethodDelete, fmt.Sprintf("/api/redemption/%d", id), "", admin); code != http.StatusNotFound {
		t.Errorf("delete again = %d", code)
	}
	if code, _, _ := apiCall(t, a, http.MethodGet, "/api/redemption/abc", "", admin); code != http.StatusNotFound {
		t.Errorf("get abc = %d", code)
	}
	if code, _, _ := apiCall(t, a, http.MethodPost, "/api/redemption/", `{"name":"x","quota":1,"count":1}`, user); code != http.StatusForbidden {
		t.Errorf("user create = %d", code)
	}
}
