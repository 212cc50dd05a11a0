package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"oneapi/keys"
	"oneapi/pricing"
	"oneapi/queries"
	"oneapi/queries/dbtest"
	"oneapi/state"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// bundle is a relay on a fresh database with helpers to make fixtures.
type bundle struct {
	t      *testing.T
	pool   *pgxpool.Pool
	q      *queries.Queries
	st     *state.State
	meter  *Meter
	srv    *httptest.Server
	cipher *keys.Cipher
	root   queries.User
}

func setup(t *testing.T) *bundle {
	t.Helper()
	pool := dbtest.Pool(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cipher, _ := keys.NewCipher(bytes.Repeat([]byte{9}, 32))
	b := &bundle{t: t, pool: pool, q: queries.New(pool), cipher: cipher}
	b.root = b.user("root", state.RoleRoot, 1_000_000_000)
	st, err := state.New(context.Background(), pool, cipher, log)
	if err != nil {
		t.Fatal(err)
	}
	b.st = st
	meter, err := NewMeter(context.Background(), pool, log, "test-node")
	if err != nil {
		t.Fatal(err)
	}
	b.meter = meter
	srv := NewServer(st, b.meter, NewClient(nil), log, Config{MaxBodyBytes: 1 << 20})
	b.srv = httptest.NewServer(srv)
	t.Cleanup(func() {
		b.srv.Close()
		b.meter.Close()
	})
	return b
}

func (b *bundle) user(name string, role int16, quota int64) queries.User {
	b.t.Helper()
	u, err := b.q.UserCreate(context.Background(), queries.UserCreateParams{
		Username: name, Role: role, Status: state.StatusEnabled, GroupName: "default", Quota: quota,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

type tokenOpts struct {
	user      *queries.User
	quota     int64
	unlimited bool
	status    int16
	expires   *time.Time
	models    string
	subnet    string
}

// token creates a token and returns its key.
func (b *bundle) token(o tokenOpts) string {
	b.t.Helper()
	if o.user == nil {
		o.user = &b.root
	}
	if o.status == 0 {
		o.status = state.StatusEnabled
	}
	if o.quota == 0 && !o.unlimited {
		o.unlimited = true
	}
	key := keys.NewAPIKey()
	_, err := b.q.TokenCreate(context.Background(), queries.TokenCreateParams{
		UserID: o.user.ID, Name: "t", KeyHash: keys.Hash(key), KeyPrefix: keys.Prefix(key), Status: o.status,
		ExpiresAt: o.expires, RemainQuota: o.quota, UnlimitedQuota: o.unlimited, Models: o.models, Subnet: o.subnet,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.reload()
	return key
}

type channelOpts struct {
	models, mapping, systemPrompt, groups string
	priority                              int64
	weight                                int32
	typ                                   int32 // 0: OpenAI (1)
}

func (b *bundle) channel(baseURL string, o channelOpts) int64 {
	b.t.Helper()
	if o.models == "" {
		o.models = "gpt-4o-mini"
	}
	if o.groups == "" {
		o.groups = "default"
	}
	if o.typ == 0 {
		o.typ = 1
	}
	ch, err := b.q.ChannelCreate(context.Background(), queries.ChannelCreateParams{
		Type: o.typ, Name: "c", KeyCiphertext: b.cipher.Seal("sk-upstream-secret-key-000"), KeyHint: "…0000",
		BaseURL: baseURL, Models: o.models, ModelMapping: o.mapping, Groups: o.groups,
		Priority: o.priority, Weight: o.weight, Status: state.StatusEnabled, SystemPrompt: o.systemPrompt,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.reload()
	return ch.ID
}

func (b *bundle) reload() {
	b.t.Helper()
	if err := b.st.ReloadAll(context.Background()); err != nil {
		b.t.Fatal(err)
	}
}

// post sends a JSON request to the relay.
func (b *bundle) post(path, key, body string) *http.Response {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	return res
}

// settled waits for the meter to write everything queued.
func (b *bundle) settled(wantLogs int) {
	b.t.Helper()
	b.settledExcept(wantLogs, 0)
}

// settledExcept waits for wantLogs log rows with openRows reservations left open.
func (b *bundle) settledExcept(wantLogs, openRows int) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var logs, res int
		_ = b.pool.QueryRow(context.Background(), "SELECT (SELECT count(*) FROM logs WHERE type = 2), (SELECT count(*) FROM reservations)").Scan(&logs, &res)
		if logs >= wantLogs && res == openRows {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("not settled: %d log rows (want %d), %d reservations open", logs, wantLogs, res)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *bundle) scalar(sql string, args ...any) int64 {
	b.t.Helper()
	var n int64
	if err := b.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		b.t.Fatal(err)
	}
	return n
}

// upstream is an httptest server speaking OpenAI's wire format.
type upstream struct {
	*httptest.Server
	hits     atomic.Int64
	mu       sync.Mutex
	bodies   [][]byte
	paths    []string
	handler  func(w http.ResponseWriter, r *http.Request, body []byte)
	canceled chan struct{}
}

func newUpstream(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *upstream {
	u := &upstream{handler: h, canceled: make(chan struct{}, 16)}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		u.mu.Lock()
		u.bodies = append(u.bodies, body)
		u.paths = append(u.paths, r.URL.Path)
		u.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer sk-upstream-secret-key-000" {
			w.WriteHeader(401)
			return
		}
		u.handler(w, r, body)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) lastBody() map[string]any {
	u.mu.Lock()
	defer u.mu.Unlock()
	var m map[string]any
	_ = json.Unmarshal(u.bodies[len(u.bodies)-1], &m)
	return m
}

const (
	usagePrompt     = 12
	usageCompletion = 20
)

// okChat answers like OpenAI: a completion, or a 20-event stream with usage
// when include_usage was asked.
func okChat(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	_ = json.Unmarshal(body, &req)
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"Hello there!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}}`,
			req.Model, usagePrompt, usageCompletion, usagePrompt+usageCompletion)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	f := w.(http.Flusher)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"w%d \"},\"finish_reason\":null}]}\n\n", req.Model, i)
		f.Flush()
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":%q,\"choices\":[],\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
			req.Model, usagePrompt, usageCompletion, usagePrompt+usageCompletion)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// testCost is what input and output tokens cost at a model and completion ratio.
func testCost(input, output int, model, completion float64) int64 {
	return pricing.Cost(pricing.Price{Model: model, Completion: completion, Group: 1}, pricing.Usage{Input: input, Output: output})
}

// gpt4oMiniQuota is what one okChat answer costs under the default prices.
func gpt4oMiniQuota() int64 {
	return pricing.Cost(pricing.Price{Model: pricing.DefaultModelRatio["gpt-4o-mini"], Completion: pricing.DefaultCompletionRatio["gpt-4o-mini"], Group: 1},
		pricing.Usage{Input: usagePrompt, Output: usageCompletion})
}

const chatBody = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}`

func decodeError(t *testing.T, res *http.Response) (code string) {
	t.Helper()
	defer res.Body.Close()
	var e struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an OpenAI error body (%v): %+v", err, e)
	}
	if strings.Contains(e.Error.Message, "sk-upstream-secret") {
		t.Fatalf("upstream key leaked: %s", e.Error.Message)
	}
	if e.Error.Code == nil {
		return ""
	}
	return *e.Error.Code
}

func TestChatNonStreamIsBilledOnce(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	chID := b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})

	const n = 5
	quotaBefore := testutil.ToFloat64(metricQuota)
	for i := 0; i < n; i++ {
		res := b.post("/v1/chat/completions", key, chatBody)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"Hello there!"`)) {
			t.Fatalf("status %d body %s", res.StatusCode, body)
		}
		if res.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
	}
	b.settled(n)
	want := gpt4oMiniQuota()
	if got := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND quota = $1 AND prompt_tokens = $2 AND completion_tokens = $3 AND channel_id = $4 AND NOT is_stream",
		want, usagePrompt, usageCompletion, chID); got != n {
		t.Errorf("log rows with the right figures = %d, want %d", got, n)
	}
	if got := b.scalar("SELECT request_count FROM users WHERE id = $1", b.root.ID); got != n {
		t.Errorf("request_count = %d, want %d", got, n)
	}
	if got := b.scalar("SELECT used_quota FROM users WHERE id = $1", b.root.ID); got != n*want {
		t.Errorf("used_quota = %d, want %d", got, n*want)
	}
	if got := b.scalar("SELECT quota FROM users WHERE id = $1", b.root.ID); got != 1_000_000_000-n*want {
		t.Errorf("user quota = %d, want %d (reservations refunded to the real cost)", got, 1_000_000_000-n*want)
	}
	if got := b.scalar("SELECT used_quota FROM channels WHERE id = $1", chID); got != n*want {
		t.Errorf("channel used_quota = %d", got)
	}
	if up.hits.Load() != n {
		t.Errorf("upstream hits = %d", up.hits.Load())
	}
	if got := testutil.ToFloat64(metricQuota) - quotaBefore; got != float64(n*want) {
		t.Errorf("quota metric grew by %v, want %d", got, n*want)
	}
}

// readSSE returns the data payloads of a stream.
func readSSE(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

func TestChatStream(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantUsage bool
	}{
		{"client did not ask for usage", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`, false},
		{"client asked for usage", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setup(t)
			up := newUpstream(t, okChat)
			b.channel(up.URL, channelOpts{})
			key := b.token(tokenOpts{})
			res := b.post("/v1/chat/completions", key, tt.body)
			if ct := res.Header.Get("Content-Type"); res.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("status %d content-type %q", res.StatusCode, ct)
			}
			events := readSSE(t, res.Body)
			res.Body.Close()
			if len(events) == 0 || events[len(events)-1] != "[DONE]" {
				t.Fatalf("stream did not end with [DONE]: %v", events)
			}
			hasUsage := strings.Contains(events[len(events)-2], `"usage":{`)
			if hasUsage != tt.wantUsage {
				t.Errorf("usage chunk sent = %v, want %v", hasUsage, tt.wantUsage)
			}
			if n := len(events); n != 21+boolInt(tt.wantUsage) {
				t.Errorf("%d events", n)
			}
			so, _ := up.lastBody()["stream_options"].(map[string]any)
			if so["include_usage"] != true {
				t.Errorf("upstream not asked for usage: %v", up.lastBody())
			}
			b.settled(1)
			if got := b.scalar("SELECT quota FROM logs WHERE type = 2 AND is_stream"); got != gpt4oMiniQuota() {
				t.Errorf("stream billed %d, want %d", got, gpt4oMiniQuota())
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRejections(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,gpt-4o"})
	past := time.Now().Add(-time.Hour)
	disabledUser := b.user("gone", state.RoleUser, 1000)
	if _, err := b.pool.Exec(context.Background(), "UPDATE users SET status = 2 WHERE id = $1", disabledUser.ID); err != nil {
		t.Fatal(err)
	}
	poor := b.user("poor", state.RoleUser, 1)
	plain := b.user("plain", state.RoleUser, 1_000_000)
	chID := b.scalar("SELECT min(id) FROM channels")

	tests := []struct {
		name   string
		key    string
		body   string
		status int
		code   string
	}{
		{"no key", "", chatBody, 401, "missing_api_key"},
		{"wrong key", "sk-not-a-real-key-at-all", chatBody, 401, "invalid_api_key"},
		{"disabled token", b.token(tokenOpts{status: state.StatusDisabled}), chatBody, 401, "token_disabled"},
		{"expired token", b.token(tokenOpts{expires: &past}), chatBody, 401, "token_expired"},
		{"disabled user", b.token(tokenOpts{user: &disabledUser}), chatBody, 403, "user_disabled"},
		{"wrong ip", b.token(tokenOpts{subnet: "10.1.0.0/16"}), chatBody, 403, "ip_not_allowed"},
		{"model not allowed", b.token(tokenOpts{models: "gpt-4o"}), chatBody, 403, "model_not_allowed"},
		{"unknown model", b.token(tokenOpts{}), `{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}`, 404, "model_not_found"},
		{"token quota exhausted", b.token(tokenOpts{quota: 1}), chatBody, 403, "token_quota_exhausted"},
		{"user quota insufficient", b.token(tokenOpts{user: &poor}), chatBody, 403, "insufficient_user_quota"},
		{"channel pin by non-admin", b.token(tokenOpts{user: &plain}) + fmt.Sprintf("-%d", chID), chatBody, 403, "channel_pin_not_allowed"},
		{"bad json", b.token(tokenOpts{}), `{"model":`, 400, "invalid_json"},
		{"empty messages", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","messages":[]}`, 400, "missing_messages"},
		{"no model", b.token(tokenOpts{}), `{"messages":[{"role":"user","content":"x"}]}`, 400, "missing_model"},
		{"wrong type", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","messages":"hi"}`, 400, "invalid_type"},
		{"empty body", b.token(tokenOpts{}), ``, 400, "missing_body"},
		{"oversized body", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 2<<20) + `"}]}`, 413, "request_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refused := metricRefused.WithLabelValues(fmt.Sprint(tt.status))
			before := testutil.ToFloat64(refused)
			res := b.post("/v1/chat/completions", tt.key, tt.body)
			if after := testutil.ToFloat64(refused); after != before+1 {
				t.Errorf("errors metric for %d went %v -> %v", tt.status, before, after)
			}
			if res.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tt.status)
			}
			if code := decodeError(t, res); code != tt.code {
				t.Errorf("code = %q, want %q", code, tt.code)
			}
		})
	}
	if up.hits.Load() != 0 {
		t.Errorf("rejected requests reached upstream %d times", up.hits.Load())
	}
	// After all that, a good request still works, and nothing was billed for the rejections.
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), chatBody)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("good request after bad ones: %d", res.StatusCode)
	}
	b.settled(1)
	if n := b.scalar("SELECT count(*) FROM logs"); n != 1 {
		t.Errorf("log rows = %d, want 1", n)
	}
	if q := b.scalar("SELECT quota FROM users WHERE id = $1", poor.ID); q != 1 {
		t.Errorf("refused user's quota changed to %d", q)
	}
}

func TestAdminPinsChannel(t *testing.T) {
	b := setup(t)
	a := newUpstream(t, okChat)
	c := newUpstream(t, okChat)
	b.channel(a.URL, channelOpts{priority: 10})
	pinned := b.channel(c.URL, channelOpts{priority: 0})
	key := b.token(tokenOpts{})
	for i := 0; i < 3; i++ {
		res := b.post("/v1/chat/completions", fmt.Sprintf("%s-%d", key, pinned), chatBody)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("status %d", res.StatusCode)
		}
	}
	if a.hits.Load() != 0 || c.hits.Load() != 3 {
		t.Errorf("hits: high-priority %d, pinned %d", a.hits.Load(), c.hits.Load())
	}
}

func TestRetryOnAnotherChannel(t *testing.T) {
	for _, status := range []int{500, 503, 429} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			b := setup(t)
			bad := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				fmt.Fprint(w, `{"error":{"message":"overloaded","type":"server_error","code":null}}`)
			})
			good := newUpstream(t, okChat)
			b.channel(bad.URL, channelOpts{priority: 10})
			goodID := b.channel(good.URL, channelOpts{priority: 0})
			res := b.post("/v1/chat/completions", b.token(tokenOpts{}), chatBody)
			res.Body.Close()
			if res.StatusCode != 200 || bad.hits.Load() != 1 || good.hits.Load() != 1 {
				t.Fatalf("status %d, bad hits %d, good hits %d", res.StatusCode, bad.hits.Load(), good.hits.Load())
			}
			b.settled(1)
			if ch := b.scalar("SELECT channel_id FROM logs WHERE type = 2"); ch != goodID {
				t.Errorf("logged channel %d, want %d", ch, goodID)
			}
		})
	}
}

func TestClientErrorIsNotRetried(t *testing.T) {
	b := setup(t)
	bad := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		fmt.Fprint(w, `{"error":{"message":"temperature must be <= 2","type":"invalid_request_error","param":"temperature","code":null}}`)
	})
	other := newUpstream(t, okChat)
	b.channel(bad.URL, channelOpts{priority: 10})
	b.channel(other.URL, channelOpts{})
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), chatBody)
	if res.StatusCode != 400 {
		t.Errorf("status %d, want the upstream's 400", res.StatusCode)
	}
	decodeError(t, res)
	if other.hits.Load() != 0 {
		t.Error("a client error was retried on another channel")
	}
	b.settled(0)
	if q := b.scalar("SELECT quota FROM users WHERE id = $1", b.root.ID); q != 1_000_000_000 {
		t.Errorf("failed request cost %d", 1_000_000_000-q)
	}
}

func TestDeadKeyDisablesChannel(t *testing.T) {
	b := setup(t)
	dead := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		fmt.Fprint(w, `{"error":{"message":"Incorrect API key provided: sk-upstr***000.","type":"invalid_request_error","code":"invalid_api_key"}}`)
	})
	good := newUpstream(t, okChat)
	deadID := b.channel(dead.URL, channelOpts{priority: 10})
	b.channel(good.URL, channelOpts{})
	key := b.token(tokenOpts{})
	res := b.post("/v1/chat/completions", key, chatBody)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	if s := b.scalar("SELECT status FROM channels WHERE id = $1", deadID); s != state.StatusAutoDisabled {
		t.Fatalf("dead channel status = %d, want auto-disabled", s)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 4 AND channel_id = $1", deadID); n != 1 {
		t.Errorf("system log rows = %d", n)
	}
	res = b.post("/v1/chat/completions", key, chatBody)
	res.Body.Close()
	if dead.hits.Load() != 1 {
		t.Errorf("disabled channel still gets traffic: %d hits", dead.hits.Load())
	}
}

func TestNoRetryAfterStreamBegan(t *testing.T) {
	b := setup(t)
	breaking := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"part%d \"}}]}\n\n", i)
		}
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack() // the upstream dies mid-stream
		conn.Close()
	})
	other := newUpstream(t, okChat)
	b.channel(breaking.URL, channelOpts{priority: 10})
	b.channel(other.URL, channelOpts{})
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	events := readSSE(t, res.Body)
	res.Body.Close()
	if len(events) != 4 {
		t.Fatalf("events = %v", events)
	}
	last := events[len(events)-1]
	if last == "[DONE]" || !strings.Contains(last, `"error"`) {
		t.Errorf("broken stream ended with %q, want an error event and no [DONE]", last)
	}
	if other.hits.Load() != 0 {
		t.Error("retried after the stream began")
	}
	b.settled(1)
	// Billed for the three parts the client got, counted by the gateway.
	if c := b.scalar("SELECT completion_tokens FROM logs WHERE type = 2"); c < 3 {
		t.Errorf("completion tokens billed = %d", c)
	}
}

func TestClientDisconnectMidStream(t *testing.T) {
	b := setup(t)
	upstreamGone := make(chan struct{})
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			_, err := fmt.Fprintf(w, "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d \"}}]}\n\n", i)
			w.(http.Flusher).Flush()
			if err != nil {
				break
			}
			select {
			case <-r.Context().Done():
				close(upstreamGone)
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	b.channel(slow.URL, channelOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+b.token(tokenOpts{}))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(res.Body)
	for i := 0; i < 5; i++ { // read a few events, then hang up
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	res.Body.Close()
	select {
	case <-upstreamGone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream call was not cancelled when the client left")
	}
	b.settled(1)
	if c := b.scalar("SELECT completion_tokens FROM logs WHERE type = 2"); c < 2 {
		t.Errorf("completion tokens billed = %d, want what was streamed", c)
	}
}

// TestConcurrentSmallQuota: many requests at once against a token that can
// afford only a few never spend more than the token had.
func TestConcurrentSmallQuota(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	// Each reservation is prompt + 20 completion tokens (max_tokens), each answer costs gpt4oMiniQuota().
	body := `{"model":"gpt-4o-mini","max_tokens":20,"messages":[{"role":"user","content":"Say hello"}]}`
	const quota = 40
	key := b.token(tokenOpts{quota: quota})
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := b.post("/v1/chat/completions", key, body)
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			switch res.StatusCode {
			case 200:
				ok.Add(1)
			case 403:
				refused.Add(1)
			default:
				t.Errorf("status %d", res.StatusCode)
			}
		}()
	}
	wg.Wait()
	b.settled(int(ok.Load()))
	used := b.scalar("SELECT used_quota FROM tokens WHERE key_hash = $1", keys.Hash(key))
	remain := b.scalar("SELECT remain_quota FROM tokens WHERE key_hash = $1", keys.Hash(key))
	if used > quota || remain < 0 || used+remain != quota {
		t.Errorf("spent %d of %d (remain %d) with %d served, %d refused", used, quota, remain, ok.Load(), refused.Load())
	}
	if ok.Load() == 0 || refused.Load() == 0 || int64(up.hits.Load()) != ok.Load() {
		t.Errorf("served %d, refused %d, upstream hits %d", ok.Load(), refused.Load(), up.hits.Load())
	}
	if used != ok.Load()*gpt4oMiniQuota() {
		t.Errorf("used %d for %d requests, want %d each", used, ok.Load(), gpt4oMiniQuota())
	}
}

func TestModelMappingAndSystemPrompt(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini", mapping: `{"gpt-4o-mini":"vendor-small"}`, systemPrompt: "You are terse."})
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be chatty"},{"role":"user","content":"hi"}],"temperature":0.5,"x_vendor_field":1}`)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	got := up.lastBody()
	msgs, _ := got["messages"].([]any)
	first, _ := msgs[0].(map[string]any)
	if got["model"] != "vendor-small" || first["content"] != "You are terse." || len(msgs) != 2 || got["x_vendor_field"] == nil || got["temperature"] != 0.5 {
		t.Errorf("upstream body = %v", got)
	}
	b.settled(1)
	if m := b.scalar("SELECT count(*) FROM logs WHERE model_name = 'gpt-4o-mini'"); m != 1 {
		t.Error("log should name the requested model")
	}
}

func TestUnpricedModel(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{models: "house-model"})
	key := b.token(tokenOpts{})
	body := `{"model":"house-model","messages":[{"role":"user","content":"hi"}]}`
	res := b.post("/v1/chat/completions", key, body)
	res.Body.Close()
	b.settled(1)
	var content string
	var quota int64
	if err := b.pool.QueryRow(context.Background(), "SELECT content, quota FROM logs WHERE type = 2").Scan(&content, &quota); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(content, "no price") || quota != testCost(usagePrompt, usageCompletion, pricing.DefaultUnpricedRatio, 1) {
		t.Errorf("log content %q quota %d", content, quota)
	}
	if _, err := b.pool.Exec(context.Background(), "INSERT INTO options (key, value) VALUES ('RefuseUnpricedModels', 'true')"); err != nil {
		t.Fatal(err)
	}
	b.reload()
	res = b.post("/v1/chat/completions", key, body)
	if res.StatusCode != 403 || decodeError(t, res) != "model_price_not_set" {
		t.Errorf("unpriced model with refusal on: %d", res.StatusCode)
	}
}

func TestOtherEndpoints(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			okChat(w, r, body)
		case "/v1/embeddings":
			fmt.Fprint(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}`)
		case "/v1/images/generations":
			fmt.Fprint(w, `{"created":1,"data":[{"url":"https://example.com/a.png"}]}`)
		case "/v1/audio/speech":
			w.Header().Set("Content-Type", "audio/mpeg")
			w.Write([]byte("ID3fakeaudio"))
		case "/v1/audio/transcriptions", "/v1/audio/translations":
			if err := r.ParseMultipartForm(1 << 20); err != nil || r.FormValue("model") != "whisper-1" {
				w.WriteHeader(400)
				return
			}
			fmt.Fprint(w, `{"text":"hello from the audio"}`)
		case "/v1/moderations":
			fmt.Fprint(w, `{"id":"modr-1","model":"omni-moderation-latest","results":[{"flagged":false}]}`)
		case "/v1/completions":
			fmt.Fprint(w, `{"id":"cmpl-1","object":"text_completion","choices":[{"text":"done","index":0}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
		case "/v1/responses":
			fmt.Fprint(w, `{"id":"resp_1","object":"response","status":"completed","output":[],"usage":{"input_tokens":7,"output_tokens":9,"total_tokens":16}}`)
		default:
			w.WriteHeader(404)
		}
	})
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,text-embedding-3-small,dall-e-3,tts-1,whisper-1,omni-moderation-latest,gpt-3.5-turbo-instruct,gpt-4.1"})
	key := b.token(tokenOpts{})

	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	mw.WriteField("model", "whisper-1")
	fw, _ := mw.CreateFormFile("file", "a.mp3")
	fw.Write([]byte("fake mp3 bytes"))
	mw.Close()

	tests := []struct {
		path, body, contentType, want string
	}{
		{"/v1/embeddings", `{"model":"text-embedding-3-small","input":"hello world"}`, "", `"embedding"`},
		{"/v1/images/generations", `{"model":"dall-e-3","prompt":"a cat","size":"1024x1024"}`, "", `a.png`},
		{"/v1/audio/speech", `{"model":"tts-1","input":"Hello","voice":"alloy"}`, "", "ID3fakeaudio"},
		{"/v1/audio/transcriptions", form.String(), mw.FormDataContentType(), "hello from the audio"},
		{"/v1/audio/translations", form.String(), mw.FormDataContentType(), "hello from the audio"},
		{"/v1/moderations", `{"input":"is this ok"}`, "", `"flagged":false`},
		{"/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"Say"}`, "", `"done"`},
		{"/v1/responses", `{"model":"gpt-4.1","input":"hi"}`, "", `"resp_1"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, b.srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !strings.Contains(string(body), tt.want) {
				t.Fatalf("status %d body %s", res.StatusCode, body)
			}
		})
	}
	b.settled(len(tests))
	// Spot-check billing: embeddings use upstream usage, responses map input/output tokens.
	if p := b.scalar("SELECT prompt_tokens FROM logs WHERE model_name = 'text-embedding-3-small'"); p != 5 {
		t.Errorf("embedding prompt tokens %d", p)
	}
	if c := b.scalar("SELECT completion_tokens FROM logs WHERE model_name = 'gpt-4.1'"); c != 9 {
		t.Errorf("responses completion tokens %d", c)
	}
	if q := b.scalar("SELECT quota FROM logs WHERE model_name = 'dall-e-3'"); q != int64(pricing.DefaultModelRatio["dall-e-3"]*1000) {
		t.Errorf("image quota %d", q)
	}
}

func TestModels(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,gpt-4o"})
	b.channel(up.URL, channelOpts{models: "vip-only", groups: "vip"})
	all := b.token(tokenOpts{})
	limited := b.token(tokenOpts{models: "gpt-4o"})
	get := func(path, key string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := get("/v1/models", all); code != 200 || !strings.Contains(body, `"gpt-4o-mini"`) || strings.Contains(body, "vip-only") {
		t.Errorf("models (all) %d %s", code, body)
	}
	if code, body := get("/v1/models", limited); code != 200 || strings.Contains(body, `"gpt-4o-mini"`) || !strings.Contains(body, `"gpt-4o"`) {
		t.Errorf("models (limited) %d %s", code, body)
	}
	if code, body := get("/v1/models/gpt-4o", all); code != 200 || !strings.Contains(body, `"object":"model"`) {
		t.Errorf("model %d %s", code, body)
	}
	if code, _ := get("/v1/models/vip-only", all); code != 404 {
		t.Errorf("other group's model: %d", code)
	}
	if code, _ := get("/v1/models", "sk-wrong"); code != 401 {
		t.Errorf("models without a valid key: %d", code)
	}
}

func TestUnknownURL(t *testing.T) {
	b := setup(t)
	res := b.post("/v1/nonsense", b.token(tokenOpts{}), `{}`)
	if res.StatusCode != 404 || decodeError(t, res) != "unknown_url" {
		t.Errorf("status %d", res.StatusCode)
	}
}

func TestSweeperSettlesAbandonedReservations(t *testing.T) {
	b := setup(t)
	key := b.token(tokenOpts{})
	tok, _ := b.st.Token(context.Background(), [32]byte(keys.Hash(key)))
	ticket, err := b.meter.Reserve(context.Background(), Reservation{UserID: b.root.ID, TokenID: tok.ID, Model: "gpt-4o", Quota: 500, RequestID: "lost-1"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.meter.SweepStale(context.Background(), time.Hour); err != nil || n != 0 {
		t.Fatalf("young reservation swept: %d %v", n, err)
	}
	if n, err := b.meter.SweepStale(context.Background(), -time.Second); err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	// A late settlement of the swept reservation must not bill again.
	b.meter.Settle(Settlement{Ticket: ticket, Reserved: 500, Quota: 100, UserID: b.root.ID, TokenID: tok.ID, Served: true, RequestID: "lost-1"})
	// A settlement whose reservation vanished unswept (its asynchronous commit
	// died with a database crash) is billed in full rather than served free.
	b.meter.Settle(Settlement{Ticket: Ticket{ReservationID: ticket.ReservationID + 1000}, Reserved: 300, Quota: 70, UserID: b.root.ID, TokenID: tok.ID, Served: true, RequestID: "crash-1"})
	time.Sleep(4 * settleEvery)
	if n := b.scalar("SELECT count(*) FROM logs WHERE request_id = 'crash-1' AND quota = 70"); n != 1 {
		t.Errorf("log rows for the request whose reservation was lost = %d", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE request_id = 'lost-1'"); n != 1 {
		t.Errorf("log rows for the swept request = %d", n)
	}
	if used := b.scalar("SELECT used_quota FROM users WHERE id = $1", b.root.ID); used != 570 {
		t.Errorf("used = %d, want the estimate 500 billed once plus 70", used)
	}
	if q := b.scalar("SELECT quota FROM users WHERE id = $1", b.root.ID); q != 1_000_000_000-570 {
		t.Errorf("quota = %d, want %d", q, 1_000_000_000-570)
	}
}

func TestCORSPreflight(t *testing.T) {
	b := setup(t)
	req, _ := http.NewRequest(http.MethodOptions, b.srv.URL+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "https://chat.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.StatusCode, res.Header)
	}
}
