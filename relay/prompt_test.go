package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"oneapi/keys"
	"oneapi/pricing"
	"oneapi/prompt"
	"oneapi/queries"
	"oneapi/relay/oai"
	"oneapi/relay/tokenizer"
	"oneapi/state"
)

// storedPrompt creates a prompt with its versions (JSON content each) and
// labels, owned by owner (nil: shared), and reloads the relay's memory.
func (b *bundle) storedPrompt(name string, owner *queries.User, labels map[string]int32, versions ...string) {
	b.t.Helper()
	ctx := context.Background()
	var ownerID *int64
	if owner != nil {
		ownerID = &owner.ID
	}
	p, err := b.q.PromptCreate(ctx, queries.PromptCreateParams{Name: name, OwnerID: ownerID})
	if err != nil {
		b.t.Fatal(err)
	}
	for i, src := range versions {
		b.promptVersion(p.ID, int32(i+1), src)
	}
	for l, v := range labels {
		if err := b.q.PromptLabelSet(ctx, queries.PromptLabelSetParams{PromptID: p.ID, Label: l, Version: v}); err != nil {
			b.t.Fatal(err)
		}
	}
	b.reload()
}

func (b *bundle) promptVersion(promptID int64, n int32, src string) string {
	b.t.Helper()
	c, err := prompt.Decode([]byte(src))
	if err != nil {
		b.t.Fatalf("version %d: %v", n, err)
	}
	enc := c.Encode()
	if _, err := b.q.PromptVersionCreate(context.Background(), queries.PromptVersionCreateParams{
		PromptID: promptID, Version: n, Content: enc, ContentHash: prompt.Hash(enc)}); err != nil {
		b.t.Fatal(err)
	}
	if err := b.q.PromptSetLatest(context.Background(), queries.PromptSetLatestParams{ID: promptID, LatestVersion: n}); err != nil {
		b.t.Fatal(err)
	}
	return prompt.Hash(enc)
}

// promptToken is a token limited to some prompts and/or to prompts only.
func (b *bundle) promptToken(user *queries.User, prompts string, only bool, quota int64) string {
	b.t.Helper()
	key := keys.NewAPIKey()
	if _, err := b.q.TokenCreate(context.Background(), queries.TokenCreateParams{
		UserID: user.ID, Name: "limited", KeyHash: keys.Hash(key), KeyPrefix: keys.Prefix(key), Status: state.StatusEnabled,
		RemainQuota: quota, UnlimitedQuota: quota == 0, Prompts: prompts, PromptsOnly: only,
	}); err != nil {
		b.t.Fatal(err)
	}
	b.reload()
	return key
}

// send posts body and returns the status and the reply.
func (b *bundle) send(path, key, body string, header ...string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

func errorCode(t *testing.T, reply string) string {
	t.Helper()
	var e oai.ErrorResponse
	if err := json.Unmarshal([]byte(reply), &e); err != nil || e.Error.Message == "" {
		t.Fatalf("not an OpenAI error: %s", reply)
	}
	return string(e.Error.Code)
}

const piratePrompt = `{"messages":[{"role":"system","content":"You are {{persona}}. Answer in {{lang}}."}],
	"variables":[{"name":"persona"},{"name":"lang","default":"English"}],
	"parameters":{"model":"gpt-4o-mini","temperature":0.2,"max_tokens":50}}`

func TestPromptChatCompletions(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	b.storedPrompt("pirate", nil, map[string]int32{"production": 1}, piratePrompt)
	key := b.token(tokenOpts{})

	code, reply := b.send("/v1/chat/completions", key, `{"prompt_id":"pirate","prompt_variables":{"persona":"a pirate {{lang}}"},
		"messages":[{"role":"user","content":"Where is the treasure?"}],"temperature":0.9}`)
	if code != 200 || !strings.Contains(reply, "Hello there!") {
		t.Fatalf("status %d: %s", code, reply)
	}
	got := up.lastBody()
	want := map[string]any{
		"model": "gpt-4o-mini", "temperature": 0.9, "max_tokens": float64(50),
		"messages": []any{
			map[string]any{"role": "system", "content": "You are a pirate {{lang}}. Answer in English."},
			map[string]any{"role": "user", "content": "Where is the treasure?"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstream body (-want +got):\n%s", diff)
	}

	t.Log("the headers name a prompt for clients that cannot change the body")
	code, reply = b.send("/v1/chat/completions", key, `{"model":"","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9}`,
		"X-Prompt-Id", "pirate", "X-Prompt-Version", "production")
	if code != 400 || errorCode(t, reply) != "missing_variable" || !strings.Contains(reply, "`persona`") {
		t.Fatalf("header without variables: %d %s", code, reply)
	}
	b.storedPrompt("plain", nil, nil, `{"messages":[{"role":"system","content":"Be brief."}],"parameters":{"model":"gpt-4o-mini","max_tokens":20}}`)
	code, reply = b.send("/v1/chat/completions", key, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, "X-Prompt-Id", "plain")
	if code != 404 || errorCode(t, reply) != "model_not_found" {
		// gpt-4o is the request's own model (it wins), and no channel serves it.
		t.Fatalf("status %d: %s", code, reply)
	}
	code, reply = b.send("/v1/chat/completions", key, `{"model":"","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":9}`,
		"X-Prompt-Id", "plain")
	if code != 200 {
		t.Fatalf("header prompt: %d %s", code, reply)
	}
	got = up.lastBody()
	if got["model"] != "gpt-4o-mini" || got["max_tokens"] != nil || got["max_completion_tokens"] != float64(9) ||
		len(got["messages"].([]any)) != 2 {
		t.Errorf("an output limit of the request's own keeps the prompt's out: %v", got)
	}

	b.settled(2)
	var name, hash string
	var version int32
	if err := b.pool.QueryRow(context.Background(), "SELECT prompt_name, prompt_version, prompt_hash FROM logs WHERE type = 2 ORDER BY id LIMIT 1").
		Scan(&name, &version, &hash); err != nil {
		t.Fatal(err)
	}
	c, _ := prompt.Decode([]byte(piratePrompt))
	if name != "pirate" || version != 1 || hash != prompt.Hash(c.Encode()) {
		t.Errorf("log row: %q v%d %q", name, version, hash)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_name = 'plain' AND prompt_version = 1"); n != 1 {
		t.Errorf("header-named prompt rows = %d", n)
	}
}

// TestPromptLabelResolution: no version means production (else latest); a
// number, "latest" or a label pick their version; a label moved is served
// at once.
func TestPromptLabelResolution(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	version := func(n int) string {
		return fmt.Sprintf(`{"messages":[{"role":"system","content":"v%d"}],"parameters":{"model":"gpt-4o-mini"}}`, n)
	}
	b.storedPrompt("nolabel", nil, nil, version(1), version(2))
	b.storedPrompt("labelled", nil, map[string]int32{"production": 1, "staging": 2}, version(1), version(2), version(3))
	key := b.token(tokenOpts{})
	served := func(body string) string {
		t.Helper()
		code, reply := b.send("/v1/chat/completions", key, body)
		if code != 200 {
			t.Fatalf("%s: %d %s", body, code, reply)
		}
		return up.lastBody()["messages"].([]any)[0].(map[string]any)["content"].(string)
	}
	for _, tc := range []struct{ body, want string }{
		{`{"prompt_id":"nolabel"}`, "v2"},
		{`{"prompt_id":"labelled"}`, "v1"},
		{`{"prompt_id":"labelled","prompt_version":"latest"}`, "v3"},
		{`{"prompt_id":"labelled","prompt_version":"staging"}`, "v2"},
		{`{"prompt_id":"labelled","prompt_version":2}`, "v2"},
		{`{"prompt_id":"labelled","prompt_version":"3"}`, "v3"},
	} {
		if got := served(tc.body); got != tc.want {
			t.Errorf("%s served %s, want %s", tc.body, got, tc.want)
		}
	}
	for _, body := range []string{`{"prompt_id":"labelled","prompt_version":"canary"}`, `{"prompt_id":"labelled","prompt_version":4}`} {
		if code, reply := b.send("/v1/chat/completions", key, body); code != 404 || errorCode(t, reply) != "prompt_version_not_found" {
			t.Errorf("%s: %d %s", body, code, reply)
		}
	}
	var id int64
	_ = b.pool.QueryRow(context.Background(), "SELECT id FROM prompts WHERE name = 'labelled'").Scan(&id)
	if err := b.q.PromptLabelSet(context.Background(), queries.PromptLabelSetParams{PromptID: id, Label: "production", Version: 3}); err != nil {
		t.Fatal(err)
	}
	if err := b.st.Reload(context.Background(), state.KindPrompts, id); err != nil {
		t.Fatal(err)
	}
	if got := served(`{"prompt_id":"labelled"}`); got != "v3" {
		t.Errorf("after moving production: %s", got)
	}
}

func TestPromptRefusals(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,text-embedding-3-small"})
	alice := b.user("alice", state.RoleUser, 1_000_000_000)
	bob := b.user("bob", state.RoleUser, 1_000_000_000)
	b.storedPrompt("pirate", nil, nil, piratePrompt)
	b.storedPrompt("alice-notes", &alice, nil, `{"messages":[{"role":"system","content":"Alice's secret instructions"}],"parameters":{"model":"gpt-4o-mini"}}`)
	aliceKey := b.token(tokenOpts{user: &alice})
	bobKey := b.token(tokenOpts{user: &bob})
	rootKey := b.token(tokenOpts{})

	for _, tc := range []struct {
		name, key, body string
		status          int
		code, mention   string
	}{
		{"missing required variable", bobKey, `{"prompt_id":"pirate","messages":[]}`, 400, "missing_variable", "`persona`"},
		{"unknown variable", bobKey, `{"prompt_id":"pirate","prompt_variables":{"persona":"x","mood":"y"}}`, 400, "unknown_variable", "`mood`"},
		{"a number for a text variable", bobKey, `{"prompt_id":"pirate","prompt_variables":{"persona":7}}`, 400, "invalid_variable", "`persona`"},
		{"variables not an object", bobKey, `{"prompt_id":"pirate","prompt_variables":["x"]}`, 400, "invalid_prompt", ""},
		{"prompt_id not a string", bobKey, `{"prompt_id":5,"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_prompt", ""},
		{"version without a prompt", bobKey, `{"prompt_version":"2","model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_prompt", ""},
		{"no such prompt", bobKey, `{"prompt_id":"nope"}`, 404, "prompt_not_found", "`nope`"},
		{"another user's private prompt", bobKey, `{"prompt_id":"alice-notes"}`, 404, "prompt_not_found", "`alice-notes`"},
		{"even for an admin's token", rootKey, `{"prompt_id":"alice-notes"}`, 404, "prompt_not_found", ""},
		{"messages not an array", bobKey, `{"prompt_id":"pirate","prompt_variables":{"persona":"x"},"messages":{}}`, 400, "invalid_message", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reply := b.send("/v1/chat/completions", tc.key, tc.body)
			if code != tc.status || errorCode(t, reply) != tc.code || !strings.Contains(reply, tc.mention) {
				t.Errorf("%d %s, want %d %s naming %s", code, reply, tc.status, tc.code, tc.mention)
			}
			if strings.Contains(reply, "secret instructions") {
				t.Error("a refusal shows the prompt's content")
			}
		})
	}
	if code, reply := b.send("/v1/chat/completions", aliceKey, `{"prompt_id":"alice-notes"}`); code != 200 {
		t.Errorf("the owner's own token: %d %s", code, reply)
	}
	if up.hits.Load() != 1 {
		t.Errorf("upstream saw %d requests, want 1 (refusals go nowhere)", up.hits.Load())
	}
}

// TestPromptTokenLimits: a token limited to some prompts may use only
// those; a prompts-only token refuses raw requests on every endpoint.
func TestPromptTokenLimits(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/v1/embeddings" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"object":"list","data":[],"model":"text-embedding-3-small","usage":{"prompt_tokens":1,"total_tokens":1}}`))
			return
		}
		okChat(w, r, body)
	})
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,text-embedding-3-small"})
	b.storedPrompt("pirate", nil, nil, piratePrompt)
	b.storedPrompt("other", nil, nil, `{"messages":[{"role":"system","content":"other"}],"parameters":{"model":"gpt-4o-mini"}}`)
	listed := b.promptToken(&b.root, "pirate", false, 0)
	only := b.promptToken(&b.root, "pirate", true, 0)
	onlyAny := b.promptToken(&b.root, "", true, 0)

	usePirate := `{"prompt_id":"pirate","prompt_variables":{"persona":"x"},"messages":[{"role":"user","content":"hi"}]}`
	raw := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, key, path, body string
		status                int
		code                  string
	}{
		{"listed prompt", listed, "/v1/chat/completions", usePirate, 200, ""},
		{"unlisted prompt", listed, "/v1/chat/completions", `{"prompt_id":"other"}`, 403, "prompt_not_allowed"},
		{"raw request, list only", listed, "/v1/chat/completions", raw, 200, ""},
		{"prompts only, listed prompt", only, "/v1/chat/completions", usePirate, 200, ""},
		{"prompts only, unlisted prompt", only, "/v1/chat/completions", `{"prompt_id":"other"}`, 403, "prompt_not_allowed"},
		{"prompts only, raw chat", only, "/v1/chat/completions", raw, 403, "prompt_required"},
		{"prompts only, marker in text only", onlyAny, "/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"prompt_id"}],"x":{"prompt_id":"other"}}`, 403, "prompt_required"},
		{"prompts only, embeddings", onlyAny, "/v1/embeddings", `{"model":"text-embedding-3-small","input":"hi"}`, 403, "prompt_required"},
		{"prompts only, responses", onlyAny, "/v1/responses", `{"model":"gpt-4o-mini","input":"hi"}`, 403, "prompt_required"},
		{"prompts only, OpenAI's hosted prompt", onlyAny, "/v1/responses", `{"model":"gpt-4o-mini","prompt":{"id":"pmpt_123"}}`, 404, "prompt_not_found"},
		// The Messages entrance applies no stored prompt, so it is raw.
		{"prompts only, anthropic messages", onlyAny, "/v1/messages", `{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, 403, ""},
		{"prompts only, any stored prompt", onlyAny, "/v1/chat/completions", `{"prompt_id":"other"}`, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reply := b.send(tc.path, tc.key, tc.body)
			if code != tc.status || (tc.code != "" && errorCode(t, reply) != tc.code) {
				t.Errorf("%d %s, want %d %s", code, reply, tc.status, tc.code)
			}
		})
	}
}

func TestPromptResponsesAPI(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-4o-mini","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Arr, hello!","annotations":[]}]}],"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":35}}`))
	})
	b.channel(up.URL, channelOpts{})
	b.storedPrompt("pirate", nil, nil, piratePrompt,
		`{"messages":[{"role":"developer","content":"Speak as {{persona}}."},{"role":"user","content":"Here is a picture: {{photo}}"}],
		  "variables":[{"name":"persona"},{"name":"photo","type":"image"}],
		  "parameters":{"model":"gpt-4o-mini","max_tokens":64,"response_format":{"type":"json_object"}}}`)
	key := b.token(tokenOpts{})

	code, reply := b.send("/v1/responses", key, `{"prompt":{"id":"pirate","version":"2","variables":{"persona":"a pirate",
		"photo":{"type":"input_image","image_url":"https://example.com/map.png","detail":"low"}}},"input":"What is this?","store":false}`)
	if code != 200 || !strings.Contains(reply, "Arr, hello!") {
		t.Fatalf("status %d: %s", code, reply)
	}
	want := map[string]any{
		"model": "gpt-4o-mini", "max_output_tokens": float64(64), "store": false,
		"text": map[string]any{"format": map[string]any{"type": "json_object"}},
		"input": []any{
			map[string]any{"role": "developer", "content": "Speak as a pirate."},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "input_text", "text": "Here is a picture: "},
				map[string]any{"type": "input_image", "image_url": "https://example.com/map.png", "detail": "low"},
			}},
			map[string]any{"role": "user", "content": "What is this?"},
		},
	}
	if diff := cmp.Diff(want, up.lastBody()); diff != "" {
		t.Errorf("upstream body (-want +got):\n%s", diff)
	}

	t.Log("OpenAI's own hosted prompts (pmpt_…) pass through untouched")
	hosted := `{"model":"gpt-4o-mini","prompt":{"id":"pmpt_abc","version":"2"},"input":"hi"}`
	if code, reply := b.send("/v1/responses", key, hosted); code != 200 {
		t.Fatalf("hosted prompt: %d %s", code, reply)
	}
	if p, _ := up.lastBody()["prompt"].(map[string]any); p["id"] != "pmpt_abc" {
		t.Errorf("hosted prompt not passed on: %v", up.lastBody())
	}
	b.settled(2)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_name = 'pirate' AND prompt_version = 2"); n != 1 {
		t.Errorf("prompt log rows = %d", n)
	}
}

// TestPromptTokensAreBilled: the prompt's messages are counted into the
// estimate that is reserved, and into what is billed when upstream reports
// no usage.
func TestPromptTokensAreBilled(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`))
	})
	b.channel(up.URL, channelOpts{})
	long := strings.Repeat("Always check the manual before you answer. ", 200)
	b.storedPrompt("long", nil, nil, `{"messages":[{"role":"system","content":"`+long+`{{topic}}"}],"parameters":{"model":"gpt-4o-mini"}}`)
	key := b.token(tokenOpts{})

	userMsg := oai.Message{Role: "user", Content: oai.TextContent("hi")}
	merged := &oai.ChatRequest{Model: "gpt-4o-mini", Messages: []oai.Message{{Role: "system", Content: oai.TextContent(long + "boats")}, userMsg}}
	rawReq := &oai.ChatRequest{Model: "gpt-4o-mini", Messages: []oai.Message{userMsg}}
	withPrompt, _ := tokenizer.CountChatRequest(context.Background(), merged)
	without, _ := tokenizer.CountChatRequest(context.Background(), rawReq)
	if withPrompt < without+1000 {
		t.Fatalf("test prompt too short: %d vs %d tokens", withPrompt, without)
	}
	body := `{"prompt_id":"long","prompt_variables":{"topic":"boats"},"messages":[{"role":"user","content":"hi"}],"max_tokens":1}`
	if code, reply := b.send("/v1/chat/completions", key, body); code != 200 {
		t.Fatalf("%d %s", code, reply)
	}
	b.settled(1)
	ratio := pricing.DefaultModelRatio["gpt-4o-mini"]
	wantQuota := testCost(withPrompt, 1, ratio, pricing.DefaultCompletionRatio["gpt-4o-mini"])
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_tokens = $1 AND quota = $2 AND prompt_name = 'long'", withPrompt, wantQuota); n != 1 {
		t.Errorf("no log row billing the %d prompt tokens at %d quota", withPrompt, wantQuota)
	}

	t.Log("a token that can afford the raw request but not the prompt is refused before upstream")
	rawEstimate := testCost(without, 1, ratio, pricing.DefaultCompletionRatio["gpt-4o-mini"])
	promptEstimate := testCost(withPrompt, 1, ratio, pricing.DefaultCompletionRatio["gpt-4o-mini"])
	poor := b.promptToken(&b.root, "", false, (rawEstimate+promptEstimate)/2)
	hits := up.hits.Load()
	if code, reply := b.send("/v1/chat/completions", poor, body); code != 403 || errorCode(t, reply) != "token_quota_exhausted" {
		t.Errorf("with the prompt: %d %s", code, reply)
	}
	if code, reply := b.send("/v1/chat/completions", poor, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"max_tokens":1}`); code != 200 {
		t.Errorf("without: %d %s", code, reply)
	}
	if up.hits.Load() != hits+1 {
		t.Error("the refused request reached upstream")
	}
}

// TestPromptOfficialSDK: OpenAI's Go SDK calls a stored prompt through
// responses.create with prompt, and through chat with extra body fields.
func TestPromptOfficialSDK(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if r.URL.Path == "/v1/responses" {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"gpt-4o-mini","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Arr!","annotations":[]}]}],"usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":35}}`))
			return
		}
		okChat(w, r, body)
	})
	b.channel(up.URL, channelOpts{})
	b.storedPrompt("pirate", nil, map[string]int32{"production": 1}, piratePrompt,
		`{"messages":[{"role":"system","content":"v2: {{persona}}"}],"parameters":{"model":"gpt-4o-mini"}}`)
	client := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey(b.token(tokenOpts{})), option.WithMaxRetries(0))
	ctx := context.Background()

	resp, err := client.Responses.New(ctx, responses.ResponseNewParams{
		Prompt: responses.ResponsePromptParam{
			ID:        "pirate",
			Variables: map[string]responses.ResponsePromptVariableUnionParam{"persona": {OfString: openai.String("a pirate")}},
		},
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Ahoy?")},
	})
	if err != nil || resp.OutputText() != "Arr!" {
		t.Fatalf("responses.create: %v %+v", err, resp)
	}
	if got := up.lastBody()["input"].([]any)[0].(map[string]any)["content"]; got != "You are a pirate. Answer in English." {
		t.Errorf("production (v1) not served: %v", got)
	}

	params := openai.ChatCompletionNewParams{Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Ahoy?")}}
	params.SetExtraFields(map[string]any{
		"prompt_id": "pirate", "prompt_version": "2", "prompt_variables": map[string]string{"persona": "a parrot"},
	})
	chat, err := client.Chat.Completions.New(ctx, params)
	if err != nil || chat.Choices[0].Message.Content != "Hello there!" {
		t.Fatalf("chat with extra fields: %v %+v", err, chat)
	}
	got := up.lastBody()
	if got["model"] != "gpt-4o-mini" || got["messages"].([]any)[0].(map[string]any)["content"] != "v2: a parrot" || got["prompt_id"] != nil {
		t.Errorf("upstream body: %v", got)
	}

	_, err = client.Responses.New(ctx, responses.ResponseNewParams{Prompt: responses.ResponsePromptParam{ID: "pirate"}})
	var apiErr *openai.Error
	if !asOpenAIError(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != "missing_variable" {
		t.Errorf("a missing variable through the SDK: %v", err)
	}
	b.settled(2)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_name = 'pirate'"); n != 2 {
		t.Errorf("log rows naming the prompt = %d", n)
	}
}
