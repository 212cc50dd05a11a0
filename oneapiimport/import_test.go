package oneapiimport

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"oneapi/handlers"
	"oneapi/keys"
	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/relay"
	"oneapi/state"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// expected is one-api-mysql.expected.json, the dump's ground truth.
type expected struct {
	MockBaseURL string         `json:"mock_base_url"`
	Counts      map[string]int `json:"counts"`
	Users       []struct {
		ID                 int64
		Username, Password string
		Role, Status       int16
		Group              string
		Quota              int64
		UsedQuota          int64  `json:"used_quota"`
		RequestCount       int64  `json:"request_count"`
		AccessToken        string `json:"access_token"`
		CanSignIn          bool   `json:"can_sign_in"`
		Email              string
		DisplayName        string `json:"display_name"`
		AffCode            string `json:"aff_code"`
	} `json:"users"`
	Tokens []struct {
		ID             int64
		Label, Key     string
		ClientKey      string `json:"client_key"`
		User           string
		RemainQuota    int64 `json:"remain_quota"`
		UsedQuota      int64 `json:"used_quota"`
		UnlimitedQuota bool  `json:"unlimited_quota"`
		Models, Subnet string
	} `json:"tokens"`
	Channels []struct {
		ID           int64
		Type         int32
		Name, Key    string
		Status       int16
		Models       string
		ModelMapping string `json:"model_mapping"`
		Group        string
		Priority     int64
		Weight       int32
		SystemPrompt string `json:"system_prompt"`
		UsedQuota    int64  `json:"used_quota"`
	} `json:"channels"`
	CustomModelRatio      map[string]float64 `json:"custom_model_ratio"`
	CustomCompletionRatio map[string]float64 `json:"custom_completion_ratio"`
	Redemptions           []struct {
		ID     int64
		Key    string
		Status int16
		Quota  int64
	} `json:"redemptions"`
	RelayCases []struct {
		Name, Token, Model, Expect string
		Codes                      []string
		Upstream                   struct {
			Path, Model, Query string
			Header             []string
			BodyContains       string `json:"body_contains"`
		}
	} `json:"relay_cases"`
}

func loadExpected(t *testing.T) *expected {
	t.Helper()
	b, err := os.ReadFile("testdata/one-api-mysql.expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

var testCipher, _ = keys.NewCipher(bytes.Repeat([]byte{5}, 32))

func importInto(t *testing.T, pool *pgxpool.Pool, o Options) (*Report, error) {
	t.Helper()
	o.Cipher = testCipher
	return Run(context.Background(), pool, o)
}

// mock is the upstream of every imported channel: OpenAI, Azure and
// Anthropic wire formats, each checking its own key header.
type mock struct {
	*httptest.Server
	mu   sync.Mutex
	last *seen
}

type seen struct {
	path, query, model string
	header             http.Header
	body               string
}

const mockPrompt, mockCompletion = 10, 5

func newMock(t *testing.T) *mock {
	m := &mock{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(body, &req)
		m.mu.Lock()
		m.last = &seen{path: r.URL.Path, query: r.URL.RawQuery, model: req.Model, header: r.Header.Clone(), body: string(body)}
		m.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/messages" {
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"Hi!"}],"stop_reason":"end_turn","usage":{"input_tokens":%d,"output_tokens":%d}}`, req.Model, mockPrompt, mockCompletion)
			return
		}
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hi!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			req.Model, mockPrompt, mockCompletion, mockPrompt+mockCompletion)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *mock) take() *seen {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.last
	m.last = nil
	return s
}

// gateway is the real relay and management API on the imported database.
type gateway struct {
	pool  *pgxpool.Pool
	st    *state.State
	relay *httptest.Server
	app   http.Handler
	meter *relay.Meter
}

func newGateway(t *testing.T, pool *pgxpool.Pool) *gateway {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := state.New(ctx, pool, testCipher, log)
	if err != nil {
		t.Fatal(err)
	}
	meter, err := relay.NewMeter(ctx, pool, log, "import-test")
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{pool: pool, st: st, meter: meter}
	g.relay = httptest.NewServer(relay.NewServer(st, meter, relay.NewClient(nil), log, relay.Config{}))
	app, err := handlers.New(handlers.Deps{Pool: pool, Log: log, Version: "test", State: st, Cipher: testCipher})
	if err != nil {
		t.Fatal(err)
	}
	g.app = app
	t.Cleanup(func() { g.relay.Close(); meter.Close() })
	return g
}

func (g *gateway) chat(t *testing.T, key, model string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.relay.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"Say hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func (g *gateway) api(method, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	g.app.ServeHTTP(rec, req)
	return rec
}

func scalar(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestImportOneAPIDump is the end-to-end move: One API's MySQL dump, loaded
// into One API's SQLite schema, imported with its logs; then every old
// password signs in, every key does what the ground truth says through the
// real relay, quotas match, and a second import changes nothing.
func TestImportOneAPIDump(t *testing.T) {
	exp := loadExpected(t)
	up := newMock(t)
	src := sqliteFromDump(t, func(s string) string { return strings.ReplaceAll(s, exp.MockBaseURL, up.URL) })
	pool := dbtest.Pool(t)
	ctx := context.Background()

	rep, err := importInto(t, pool, Options{From: "sqlite://" + src, Logs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.String())
	for table, n := range exp.Counts {
		if table == "abilities" {
			continue // derived from channels here
		}
		c := rep.count(table)
		if c.Read != n {
			t.Errorf("%s: report read %d, One API has %d", table, c.Read, n)
		}
		if table != "options" && c.Imported != n {
			t.Errorf("%s: imported %d of %d", table, c.Imported, n)
		}
	}
	for table, want := range map[string]int{"users": 4, "tokens": 12, "channels": 4, "redemptions": 5} {
		if got := scalar(t, pool, "SELECT count(*) FROM "+table); got != int64(want) {
			t.Errorf("%s rows = %d, want %d", table, got, want)
		}
	}
	if got := scalar(t, pool, "SELECT count(*) FROM logs WHERE content NOT LIKE 'channel % imported from One API%'"); got != int64(exp.Counts["logs"]) {
		t.Errorf("log rows = %d, want %d", got, exp.Counts["logs"])
	}
	report := rep.String()
	for _, want := range []string{"PreConsumedQuota", "QuotaRemindThreshold", "openrouter/auto"} {
		if !strings.Contains(report, want) {
			t.Errorf("report does not mention %s:\n%s", want, report)
		}
	}
	// Nothing secret in the clear.
	for _, tok := range exp.Tokens {
		if n := scalar(t, pool, "SELECT count(*) FROM tokens WHERE row_to_json(tokens)::text LIKE '%' || $1 || '%'", tok.Key); n != 0 {
			t.Fatalf("token %s stored in the clear", tok.Label)
		}
	}
	if n := scalar(t, pool, "SELECT count(*) FROM channels WHERE row_to_json(channels)::text LIKE '%mock-oi-%'"); n != 0 {
		t.Fatal("channel keys stored in the clear")
	}

	// Quotas, counts and settings match One API's.
	q := queries.New(pool)
	for _, u := range exp.Users {
		got, err := q.UserGetByID(ctx, u.ID)
		if err != nil {
			t.Fatalf("user %s: %v", u.Username, err)
		}
		if got.Username != u.Username || got.Role != u.Role || got.Status != u.Status || got.GroupName != u.Group ||
			got.Quota != u.Quota || got.UsedQuota != u.UsedQuota || got.RequestCount != u.RequestCount ||
			got.Email != u.Email || got.DisplayName != u.DisplayName || got.AffCode.String != u.AffCode {
			t.Errorf("user %s = %+v, want %+v", u.Username, got, u)
		}
		if bcrypt.CompareHashAndPassword([]byte(got.PasswordHash), []byte(u.Password)) != nil {
			t.Errorf("user %s: old password does not verify", u.Username)
		}
	}
	for _, tok := range exp.Tokens {
		got, err := q.TokenGetByID(ctx, tok.ID)
		if err != nil {
			t.Fatalf("token %s: %v", tok.Label, err)
		}
		if got.RemainQuota != tok.RemainQuota || got.UsedQuota != tok.UsedQuota || got.UnlimitedQuota != tok.UnlimitedQuota ||
			got.Models != tok.Models || got.Subnet != tok.Subnet {
			t.Errorf("token %s = %+v, want %+v", tok.Label, got, tok)
		}
	}
	for _, ch := range exp.Channels {
		r := g(t, pool).st.Routes().Channel(ch.ID)
		if r == nil {
			t.Fatalf("channel %s not in the routing state", ch.Name)
		}
		if r.Key != ch.Key || r.Type != int(ch.Type) || r.Status != ch.Status || strings.Join(r.Models, ",") != ch.Models ||
			strings.Join(r.Groups, ",") != ch.Group || r.Priority != ch.Priority || int32(r.Weight) != ch.Weight || r.SystemPrompt != ch.SystemPrompt {
			t.Errorf("channel %s = %+v, want %+v", ch.Name, r, ch)
		}
		if used := scalar(t, pool, "SELECT used_quota FROM channels WHERE id = $1", ch.ID); used != ch.UsedQuota {
			t.Errorf("channel %s used_quota = %d, want %d", ch.Name, used, ch.UsedQuota)
		}
	}

	gw := newGateway(t, pool)
	opts := gw.st.Options()
	for m, r := range exp.CustomModelRatio {
		if opts.ModelRatio[m] != r {
			t.Errorf("ModelRatio[%s] = %v, want %v", m, opts.ModelRatio[m], r)
		}
	}
	for m, r := range exp.CustomCompletionRatio {
		if opts.CompletionRatio[m] != r {
			t.Errorf("CompletionRatio[%s] = %v, want %v", m, opts.CompletionRatio[m], r)
		}
	}
	if opts.GroupRatio["vip"] != 0.8 || opts.GroupRatio["svip"] != 1.5 || opts.RetryTimes != 2 {
		t.Errorf("GroupRatio %v RetryTimes %d", opts.GroupRatio, opts.RetryTimes)
	}
	if _, bad := opts.ModelRatio["openrouter/auto"]; bad && opts.ModelRatio["openrouter/auto"] < 0 {
		t.Error("a negative ratio was carried over")
	}
	if rec := gw.api(http.MethodGet, "/api/status", ""); !strings.Contains(rec.Body.String(), `"system_name":"Acme AI Gateway"`) ||
		!strings.Contains(rec.Body.String(), `"server_address":"https://ai.acme.example"`) {
		t.Errorf("/api/status after import: %s", rec.Body)
	}

	// Every old password signs in through the real handlers; the disabled
	// user is refused; old access tokens still open the management API.
	for _, u := range exp.Users {
		rec := gw.api(http.MethodPost, "/api/user/login", fmt.Sprintf(`{"username":%q,"password":%q}`, u.Username, u.Password))
		var reply struct {
			Success bool `json:"success"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &reply)
		if reply.Success != u.CanSignIn {
			t.Errorf("sign-in of %s = %d %s, want success %v", u.Username, rec.Code, rec.Body, u.CanSignIn)
		}
		if wrong := gw.api(http.MethodPost, "/api/user/login", fmt.Sprintf(`{"username":%q,"password":"wrong-password"}`, u.Username)); wrong.Code == http.StatusOK {
			t.Errorf("%s signs in with a wrong password", u.Username)
		}
		self := gw.api(http.MethodGet, "/api/user/self", "", "Authorization", u.AccessToken)
		if u.Status == statusEnabled && !strings.Contains(self.Body.String(), fmt.Sprintf(`"username":%q`, u.Username)) {
			t.Errorf("access token of %s: %d %s", u.Username, self.Code, self.Body)
		}
	}

	// Every key does what the ground truth says, through the real relay.
	keyOf := map[string]string{}
	for _, tok := range exp.Tokens {
		keyOf[tok.Label] = tok.ClientKey
	}
	for _, rc := range exp.RelayCases {
		t.Run(rc.Name, func(t *testing.T) {
			code, body := gw.chat(t, keyOf[rc.Token], rc.Model)
			got := up.take()
			if rc.Expect == "refused" {
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				_ = json.Unmarshal([]byte(body), &e)
				if code < 400 || !contains(rc.Codes, e.Error.Code) {
					t.Errorf("= %d %s, want refused with one of %v", code, body, rc.Codes)
				}
				if got != nil {
					t.Errorf("a refused request reached the upstream: %s", got.path)
				}
				return
			}
			if code != http.StatusOK || got == nil {
				t.Fatalf("= %d %s", code, body)
			}
			if got.path != rc.Upstream.Path || got.model != rc.Upstream.Model && rc.Upstream.Path != "/openai/deployments/azure-gpt-4o-mini/chat/completions" {
				t.Errorf("upstream saw %s model %q, want %s %q", got.path, got.model, rc.Upstream.Path, rc.Upstream.Model)
			}
			if rc.Upstream.Query != "" && got.query != rc.Upstream.Query {
				t.Errorf("query %q, want %q", got.query, rc.Upstream.Query)
			}
			if h := rc.Upstream.Header; len(h) == 2 && got.header.Get(h[0]) != h[1] {
				t.Errorf("header %s = %q, want %q", h[0], got.header.Get(h[0]), h[1])
			}
			if rc.Upstream.BodyContains != "" && !strings.Contains(got.body, rc.Upstream.BodyContains) {
				t.Errorf("upstream body lacks %q: %s", rc.Upstream.BodyContains, got.body)
			}
		})
	}

	// Every form One API accepted: sk-KEY, KEY, and sk-KEY-CHANNELID for
	// admins (root-ops is root's; alice-models is a user's).
	rootOps, aliceModels := keyOf["root-ops"], keyOf["alice-models"]
	if code, body := gw.chat(t, strings.TrimPrefix(rootOps, "sk-"), "gpt-4o-mini"); code != http.StatusOK {
		t.Errorf("KEY without sk-: %d %s", code, body)
	}
	up.take()
	if code, body := gw.chat(t, rootOps+"-2", "azure-gpt-4o-mini"); code != http.StatusOK || up.take().path != "/openai/deployments/azure-gpt-4o-mini/chat/completions" {
		t.Errorf("sk-KEY-2 (admin pins the Azure channel): %d %s", code, body)
	}
	if code, _ := gw.chat(t, aliceModels+"-1", "gpt-4o-mini"); code != http.StatusForbidden {
		t.Errorf("a user pinning a channel = %d, want 403 as in One API", code)
	}

	// Limits intact, and billed as One API bills: quota = ceil((prompt +
	// completion × completion ratio) × model ratio × group ratio).
	waitSettled(t, pool)
	before := scalar(t, pool, "SELECT remain_quota FROM tokens WHERE id = 6") // admin-limited, opsadmin in vip
	if code, body := gw.chat(t, keyOf["admin-limited"], "gpt-4o-mini"); code != http.StatusOK {
		t.Fatalf("admin-limited: %d %s", code, body)
	}
	up.take()
	waitSettled(t, pool)
	want := int64(math.Ceil((mockPrompt + mockCompletion*opts.CompletionRatio["gpt-4o-mini"]) * 0.1 * 0.8))
	if after := scalar(t, pool, "SELECT remain_quota FROM tokens WHERE id = 6"); before-after != want {
		t.Errorf("admin-limited paid %d, One API's formula says %d", before-after, want)
	}

	// Redemption codes: an unused one redeems once; used and disabled ones never.
	codes := map[int64]string{}
	for _, r := range exp.Redemptions {
		codes[r.ID] = r.Key
	}
	session := login(t, gw, "alice", "Alice-Pass-0002")
	topUp := func(code string) bool {
		rec := gw.api(http.MethodPost, "/api/user/topup", fmt.Sprintf(`{"key":%q}`, code), "Cookie", session)
		return strings.Contains(rec.Body.String(), `"success":true`)
	}
	aliceBefore := scalar(t, pool, "SELECT quota FROM users WHERE id = 3")
	if !topUp(codes[2]) {
		t.Error("unused code 2 does not redeem")
	}
	if topUp(codes[2]) || topUp(codes[1]) || topUp(codes[3]) {
		t.Error("a used or disabled code redeemed")
	}
	if got := scalar(t, pool, "SELECT quota FROM users WHERE id = 3") - aliceBefore; got != 50000 {
		t.Errorf("alice got %d from redemptions, want 50000", got)
	}

	// A second import is a no-op with --merge, refused without.
	counts := func() string {
		var s string
		_ = pool.QueryRow(ctx, `SELECT concat_ws(',', (SELECT count(*) FROM users), (SELECT count(*) FROM tokens), (SELECT count(*) FROM channels),
			(SELECT count(*) FROM redemptions), (SELECT count(*) FROM options), (SELECT count(*) FROM logs), (SELECT sum(quota) FROM users))`).Scan(&s)
		return s
	}
	was := counts()
	if _, err := importInto(t, pool, Options{From: "sqlite://" + src, Logs: true}); !errors.Is(err, ErrTargetNotEmpty) || !strings.Contains(err.Error(), "--merge") {
		t.Errorf("second import without --merge: %v", err)
	}
	rep2, err := importInto(t, pool, Options{From: "sqlite://" + src, Logs: true, Merge: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep2.Tables {
		if c.Imported != 0 {
			t.Errorf("second import wrote %d %s", c.Imported, c.Table)
		}
	}
	if now := counts(); now != was {
		t.Errorf("second import changed the target: %s -> %s", was, now)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// g reloads a routing state for checks that need decrypted channels.
func g(t *testing.T, pool *pgxpool.Pool) *gateway {
	t.Helper()
	st, err := state.New(context.Background(), pool, testCipher, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &gateway{pool: pool, st: st}
}

func login(t *testing.T, gw *gateway, user, password string) string {
	t.Helper()
	rec := gw.api(http.MethodPost, "/api/user/login", fmt.Sprintf(`{"username":%q,"password":%q}`, user, password))
	for _, c := range rec.Result().Cookies() {
		if c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("sign-in of %s gave no session: %d %s", user, rec.Code, rec.Body)
	return ""
}

func waitSettled(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if scalar(t, pool, "SELECT count(*) FROM reservations") == 0 && scalar(t, pool, "SELECT count(*) FROM quota_leases") == 0 {
			return
		}
		sleep()
	}
	t.Fatal("requests not settled")
}

// targetIsEmpty says nothing was written by a failed import.
func targetIsEmpty(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if n := scalar(t, pool, `SELECT (SELECT count(*) FROM tokens) + (SELECT count(*) FROM channels) + (SELECT count(*) FROM redemptions)
		+ (SELECT count(*) FROM options) + (SELECT count(*) FROM logs) + (SELECT count(*) FROM oneapi_imported_rows) + (SELECT count(*) FROM oneapi_imports)`); n != 0 {
		t.Errorf("%d rows written by a failed import", n)
	}
}

func TestImportRefusesBadSources(t *testing.T) {
	pool := dbtest.Pool(t)
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("not a database "), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other.db")
	db := openSQLite(t, other)
	if _, err := db.Exec("CREATE TABLE notes (id integer, body text); INSERT INTO notes VALUES (1, 'x')"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A One API database cut short: the tokens table lacks its key column.
	half := filepath.Join(dir, "half.db")
	db = openSQLite(t, half)
	if _, err := db.Exec("CREATE TABLE users (id integer, username text, password text); CREATE TABLE tokens (id integer, user_id integer);" +
		"CREATE TABLE channels (id integer, type integer, key text); CREATE TABLE options (key text, value text); INSERT INTO users VALUES (1, 'root', '')"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, tc := range []struct{ name, from, want string }{
		{"missing file", "sqlite://" + filepath.Join(dir, "nope.db"), "no such file"},
		{"corrupt file", "sqlite://" + corrupt, "not a database"},
		{"not One API", "sqlite://" + other, "is not a One API database: table users, tokens, channels, options not found"},
		{"half a schema", "sqlite://" + half, "table tokens has no column key"},
		{"unknown scheme", "oracle://db/x", "unknown scheme"},
		{"no scheme", "one-api.db", "want sqlite:///path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importInto(t, pool, Options{From: tc.from, Logs: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			targetIsEmpty(t, pool)
		})
	}
}

// TestImportFailsWhole: one bad row, found while logs stream after every
// other table was written in the transaction, writes nothing and names the
// row; so does a target that holds rows in the way.
func TestImportFailsWhole(t *testing.T) {
	pool := dbtest.Pool(t)
	bad := sqliteFromDump(t, func(s string) string {
		return strings.Replace(s, "(12,2,1796165180,2,'倍率：0.10 × 0.80 × 4.00','opsadmin','admin-limited','gpt-4o-mini',4,", "(12,2,1796165180,2,'倍率：0.10 × 0.80 × 4.00','opsadmin','admin-limited','gpt-4o-mini','four',", 1)
	})
	_, err := importInto(t, pool, Options{From: "sqlite://" + bad, Logs: true})
	if err == nil || !strings.Contains(err.Error(), "logs row id=12: column quota") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("err = %v", err)
	}
	targetIsEmpty(t, pool)
	if n := scalar(t, pool, "SELECT count(*) FROM users"); n != 0 {
		t.Errorf("%d users written", n)
	}
	// Without --logs the bad log row is not read, and the rest imports.
	if _, err := importInto(t, pool, Options{From: "sqlite://" + bad, DryRun: true}); err != nil {
		t.Errorf("dry run without logs: %v", err)
	}
	targetIsEmpty(t, pool)

	// A target with a user of its own where One API's user 2 goes.
	good := sqliteFromDump(t, nil)
	half := dbtest.Pool(t)
	q := queries.New(half)
	for _, name := range []string{"admin", "someone"} {
		if _, err := q.UserCreate(context.Background(), queries.UserCreateParams{Username: name, Role: 1, Status: 1, GroupName: "default"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := importInto(t, half, Options{From: "sqlite://" + good}); !errors.Is(err, ErrTargetNotEmpty) {
		t.Fatalf("non-empty target without --merge: %v", err)
	}
	_, err = importInto(t, half, Options{From: "sqlite://" + good, Merge: true})
	if err == nil || !strings.Contains(err.Error(), "users row id=1: id 1 is already used in the target by user \"admin\"") {
		t.Fatalf("merge into a target in the way: %v", err)
	}
	targetIsEmpty(t, half)
	if n := scalar(t, half, "SELECT count(*) FROM users"); n != 2 {
		t.Errorf("users = %d, want the target's 2 untouched", n)
	}
}

// TestImportReplacesFirstStartRoot: a gateway started once has a root with
// the default password and nothing else; One API's root takes its place.
// A dry run beforehand writes nothing.
func TestImportReplacesFirstStartRoot(t *testing.T) {
	pool := dbtest.Pool(t)
	ctx := context.Background()
	hash, _ := bcrypt.GenerateFromPassword([]byte("123456"), bcrypt.MinCost)
	if _, err := queries.New(pool).UserCreate(ctx, queries.UserCreateParams{Username: "root", PasswordHash: string(hash), MustChangePassword: true,
		Role: 100, Status: 1, GroupName: "default", Quota: 1}); err != nil {
		t.Fatal(err)
	}
	src := sqliteFromDump(t, nil)
	rep, err := importInto(t, pool, Options{From: "sqlite://" + src, DryRun: true, Logs: true})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.count("tokens"); c.Imported != 12 || !strings.Contains(rep.String(), "dry run, nothing was written") {
		t.Errorf("dry run report:\n%s", rep)
	}
	targetIsEmpty(t, pool)
	if _, err := importInto(t, pool, Options{From: "sqlite://" + src}); err != nil {
		t.Fatal(err)
	}
	root, err := queries.New(pool).UserGetByUsername(ctx, "root")
	if err != nil {
		t.Fatal(err)
	}
	if root.ID != 1 || root.MustChangePassword || bcrypt.CompareHashAndPassword([]byte(root.PasswordHash), []byte("Root-Pass-2025")) != nil || root.Quota != 499999999999943 {
		t.Errorf("root after import = %+v", root)
	}
	// New rows here get ids after the imported ones.
	u, err := queries.New(pool).UserCreate(ctx, queries.UserCreateParams{Username: "newcomer", Role: 1, Status: 1, GroupName: "default"})
	if err != nil || u.ID != 5 {
		t.Errorf("next user id = %d (%v), want 5", u.ID, err)
	}
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func sleep() { time.Sleep(20 * time.Millisecond) }
