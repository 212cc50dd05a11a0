package relay

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
)

// The Gemini entrance, in Gemini's exact wire shape (google.golang.org/genai
// is not available here), against an OpenAI, an Anthropic and a Gemini
// channel: replies, both stream forms, errors, countTokens, embeddings,
// and every request billed once with the usage upstream reported.

// geminiCall posts a Gemini request with the key in x-goog-api-key
// or in ?key=.
func (b *bundle) geminiCall(path, key, body string, inQuery bool) (int, http.Header, []byte) {
	b.t.Helper()
	u := b.srv.URL + path
	if inQuery {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		u += sep + "key=" + key
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if !inQuery && key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, raw
}

type geminiReply struct {
	Candidates []struct {
		Content struct {
			Role  string `json:"role"`
			Parts []struct {
				Text         string `json:"text"`
				Thought      bool   `json:"thought"`
				FunctionCall *struct {
					Name string         `json:"name"`
					Args map[string]any `json:"args"`
				} `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount        int `json:"promptTokenCount"`
		CandidatesTokenCount    int `json:"candidatesTokenCount"`
		TotalTokenCount         int `json:"totalTokenCount"`
		CachedContentTokenCount int `json:"cachedContentTokenCount"`
		ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	} `json:"usageMetadata"`
}

func (g *geminiReply) text() string {
	var s strings.Builder
	for _, c := range g.Candidates {
		for _, p := range c.Content.Parts {
			if !p.Thought {
				s.WriteString(p.Text)
			}
		}
	}
	return s.String()
}

// sseItems reads the data events of an alt=sse stream.
func sseItems(t *testing.T, raw []byte) []geminiReply {
	t.Helper()
	var out []geminiReply
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		d, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var g geminiReply
		if err := json.Unmarshal([]byte(d), &g); err != nil {
			t.Fatalf("event %q: %v", d, err)
		}
		out = append(out, g)
	}
	return out
}

const geminiAsk = `{"systemInstruction":{"parts":[{"text":"Answer briefly."}]},"contents":[{"role":"user","parts":[{"text":"Say hello"}]}],"generationConfig":{"maxOutputTokens":256,"temperature":0.2}}`

func TestGeminiEntranceOnEveryChannelKind(t *testing.T) {
	b := setup(t)
	openaiUp := newUpstream(t, okChat)
	b.channel(openaiUp.URL, channelOpts{models: "gpt-4o-mini"})
	b.channel(anthropicUpstream(t).URL, channelOpts{typ: adaptor.TypeAnthropic, models: claudeModel, systemPrompt: "You are terse."})
	b.channel(geminiUpstream(t).URL, channelOpts{typ: adaptor.TypeGemini, models: geminiModel})
	key := b.token(tokenOpts{})

	for _, tc := range []struct{ model, streamed string }{
		{"gpt-4o-mini", "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 "},
		{claudeModel, "w0 w1 w2 w3 w4 "},
		{geminiModel, "w0 w1 w2 w3 end"},
	} {
		base := "/v1beta/models/" + tc.model
		st, _, raw := b.geminiCall(base+":generateContent", key, geminiAsk, false)
		var g geminiReply
		if err := json.Unmarshal(raw, &g); err != nil || st != 200 || g.text() != "Hello there!" || g.Candidates[0].FinishReason != "STOP" ||
			g.Candidates[0].Content.Role != "model" || g.UsageMetadata == nil || g.UsageMetadata.PromptTokenCount != 12 ||
			g.UsageMetadata.CandidatesTokenCount != 20 || g.UsageMetadata.TotalTokenCount != 32 {
			t.Errorf("%s generateContent = %d %s", tc.model, st, raw)
		}

		// alt=sse, the key in the URL as some clients send it.
		st, h, raw := b.geminiCall(base+":streamGenerateContent?alt=sse", key, geminiAsk, true)
		items := sseItems(t, raw)
		var text strings.Builder
		for _, it := range items {
			text.WriteString(it.text())
		}
		if st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") || text.String() != tc.streamed || len(items) == 0 {
			t.Fatalf("%s sse = %d %s", tc.model, st, raw)
		}
		last := items[len(items)-1]
		if last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata == nil || last.UsageMetadata.CandidatesTokenCount != 20 || last.UsageMetadata.PromptTokenCount != 12 {
			t.Errorf("%s last sse item %s", tc.model, raw)
		}

		// Without alt=sse: one JSON array.
		st, h, raw = b.geminiCall(base+":streamGenerateContent", key, geminiAsk, false)
		var arr []geminiReply
		if err := json.Unmarshal(raw, &arr); err != nil || st != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || len(arr) == 0 {
			t.Fatalf("%s array = %d %v %s", tc.model, st, err, raw)
		}
		text.Reset()
		for _, it := range arr {
			text.WriteString(it.text())
		}
		if text.String() != tc.streamed || arr[len(arr)-1].UsageMetadata == nil || arr[len(arr)-1].UsageMetadata.TotalTokenCount != 32 {
			t.Errorf("%s array stream %s", tc.model, raw)
		}

		st, _, raw = b.geminiCall(base+":countTokens", key, `{"contents":[{"role":"user","parts":[{"text":"Say hello"}]}]}`, false)
		var n struct{ TotalTokens int }
		if err := json.Unmarshal(raw, &n); err != nil || st != 200 || n.TotalTokens <= 0 {
			t.Errorf("%s countTokens = %d %s", tc.model, st, raw)
		}
	}

	// The OpenAI channel got the canonical chat request.
	got := openaiUp.lastBody()
	msgs, _ := got["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || got["max_tokens"] != float64(256) || got["temperature"] != 0.2 {
		t.Errorf("converted request = %v", got)
	}

	b.settled(9)
	for _, m := range []string{"gpt-4o-mini", claudeModel, geminiModel} {
		want := testCost(12, 20, pricing.DefaultModelRatio[m], pricing.DefaultCompletionRatio[m])
		if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = $1 AND quota = $2 AND prompt_tokens = 12 AND completion_tokens = 20", m, want); n != 3 {
			t.Errorf("%s: %d log rows billed %d, want 3", m, n, want)
		}
	}
	if n := b.scalar("SELECT count(*) FROM logs"); n != 9 {
		t.Errorf("%d log rows, want 9 (countTokens is not billed)", n)
	}
}

// TestGeminiErrorsInGoogleShape: every refusal is {"error":{"code",
// "message","status"}} with Gemini's status.
func TestGeminiErrorsInGoogleShape(t *testing.T) {
	b := setup(t)
	b.channel(newUpstream(t, okChat).URL, channelOpts{models: "gpt-4o-mini"})
	poor := b.user("poor", 1, 0)
	good := b.token(tokenOpts{})
	for _, tc := range []struct {
		name, key, path, body string
		status                int
		googleStatus          string
	}{
		{"bad key", "sk-wrong", "/v1beta/models/gpt-4o-mini:generateContent", geminiAsk, 400, "INVALID_ARGUMENT"},
		{"no key", "", "/v1beta/models/gpt-4o-mini:generateContent", geminiAsk, 401, "UNAUTHENTICATED"},
		{"unknown model", good, "/v1beta/models/no-such-model:generateContent", geminiAsk, 404, "NOT_FOUND"},
		{"unknown model count", good, "/v1beta/models/no-such-model:countTokens", geminiAsk, 404, "NOT_FOUND"},
		{"quota", b.token(tokenOpts{user: &poor}), "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse", geminiAsk, 429, "RESOURCE_EXHAUSTED"},
		{"no contents", good, "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[]}`, 400, "INVALID_ARGUMENT"},
		{"not JSON", good, "/v1beta/models/gpt-4o-mini:generateContent", `{`, 400, "INVALID_ARGUMENT"},
		{"bad role", good, "/v1beta/models/gpt-4o-mini:generateContent", `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, 400, "INVALID_ARGUMENT"},
	} {
		st, h, raw := b.geminiCall(tc.path, tc.key, tc.body, false)
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || st != tc.status || e.Error.Code != tc.status || e.Error.Status != tc.googleStatus ||
			e.Error.Message == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s = %d %s", tc.name, st, raw)
		}
		if tc.key != "" && strings.Contains(string(raw), tc.key) {
			t.Errorf("%s: the key is echoed: %s", tc.name, raw)
		}
	}
	if n := b.scalar("SELECT count(*) FROM logs"); n != 0 {
		t.Errorf("%d log rows for refusals", n)
	}
}

// TestGeminiPassthroughToGemini: a Gemini channel gets the client's body
// byte for byte (safety settings, thinking config, Google's tools), the
// channel's key in x-goog-api-key and never the client's, and the client
// gets Gemini's reply and items as they were, billed from their usage
// (thoughts and cached content included).
func TestGeminiPassthroughToGemini(t *testing.T) {
	b := setup(t)
	var mu sync.Mutex
	var bodies, urls, keys []string
	up := newGeminiRecorder(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		mu.Lock()
		bodies, urls, keys = append(bodies, string(body)), append(urls, r.URL.String()), append(keys, r.Header.Get("x-goog-api-key"))
		mu.Unlock()
		usage := `"usageMetadata":{"promptTokenCount":100,"cachedContentTokenCount":60,"candidatesTokenCount":7,"thoughtsTokenCount":5,"totalTokenCount":112}`
		if !strings.Contains(r.URL.Path, "stream") {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"hmm","thought":true},{"text":"Hi","thoughtSignature":"sig1"}]},"finishReason":"STOP","index":0}],`+usage+`,"modelVersion":"gemini-2.5-pro"}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"hmm\",\"thought\":true}]},\"index\":0}]}\r\n\r\n")
		fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\",\"thoughtSignature\":\"sig1\"}]},\"finishReason\":\"STOP\",\"index\":0}],"+usage+"}\r\n\r\n")
	})
	b.channel(up.URL, channelOpts{typ: adaptor.TypeGemini, models: "gemini-2.5-pro"})
	key := b.token(tokenOpts{})
	ask := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}],"generationConfig":{"maxOutputTokens":100,"thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}},"tools":[{"googleSearch":{}}]}`

	st, _, raw := b.geminiCall("/v1beta/models/gemini-2.5-pro:generateContent", key, ask, true)
	if st != 200 || !strings.Contains(string(raw), `"thoughtSignature":"sig1"`) || !strings.Contains(string(raw), `"modelVersion":"gemini-2.5-pro"`) {
		t.Errorf("reply = %d %s", st, raw)
	}
	st, _, raw = b.geminiCall("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", key, ask, false)
	if st != 200 || strings.Count(string(raw), "data: ") != 2 || !strings.Contains(string(raw), `"thoughtSignature":"sig1"`) {
		t.Errorf("sse = %d %s", st, raw)
	}
	st, _, raw = b.geminiCall("/v1beta/models/gemini-2.5-pro:streamGenerateContent", key, ask, false)
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || st != 200 || len(arr) != 2 {
		t.Errorf("array = %d %v %s", st, err, raw)
	}

	mu.Lock()
	for i := range bodies {
		if bodies[i] != ask {
			t.Errorf("upstream body %d = %s, want the client's", i, bodies[i])
		}
		if keys[i] != "sk-upstream-secret-key-000" || strings.Contains(urls[i], "key=") || strings.Contains(urls[i], key) {
			t.Errorf("upstream %d got key %q at %s", i, keys[i], urls[i])
		}
	}
	if len(urls) != 3 || !strings.HasSuffix(urls[1], ":streamGenerateContent?alt=sse") || !strings.HasSuffix(urls[2], ":streamGenerateContent?alt=sse") {
		t.Errorf("upstream URLs %v", urls)
	}
	mu.Unlock()

	b.settled(3)
	price := pricing.Price{Model: pricing.DefaultModelRatio["gemini-2.5-pro"], Completion: pricing.DefaultCompletionRatio["gemini-2.5-pro"], Group: 1}
	if e, ok := pricing.Lookup("gemini-2.5-pro"); ok && e.CacheRead > 0 {
		price.CacheRead = e.CacheRead / e.Input // cached content at Google's cache price
	}
	want := pricing.Cost(price, pricing.Usage{Input: 100, CacheRead: 60, Output: 12, Reasoning: 5})
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND quota = $1 AND prompt_tokens = 100 AND completion_tokens = 12", want); n != 3 {
		t.Errorf("%d log rows billed %d, want 3", n, want)
	}
}

// newGeminiRecorder is a Gemini-format upstream whose handler sees the body.
func newGeminiRecorder(t *testing.T, h func(w http.ResponseWriter, r *http.Request, body []byte)) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h(w, r, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}
