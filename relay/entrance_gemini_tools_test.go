package relay

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
)

// toolChat answers like OpenAI with a call of get_weather, plain or
// streamed (arguments in two pieces), and embeddings with usage.
func toolChat(w http.ResponseWriter, r *http.Request, body []byte) {
	if strings.HasSuffix(r.URL.Path, "/embeddings") {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,0.25]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":3,"total_tokens":3}}`)
		return
	}
	if !strings.Contains(string(body), `"stream":true`) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":40,"completion_tokens":9,"total_tokens":49}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, c := range []string{
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"get_weather","arguments":"{\"city\""}}]},"finish_reason":null}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":\"Paris\"}"}}]},"finish_reason":"tool_calls"}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":9,"total_tokens":49}}`,
	} {
		fmt.Fprintf(w, "data: %s\n\n", c)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// TestGeminiToolsConvertedToOpenAI: declarations, the model's function
// call and the function's response go to an OpenAI channel as tools, a
// tool call and a tool message; the channel's call comes back as a
// functionCall part, whole, in both reply forms.
func TestGeminiToolsConvertedToOpenAI(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, toolChat)
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,text-embedding-3-small"})
	b.channel(geminiUpstream(t).URL, channelOpts{typ: adaptor.TypeGemini, models: "text-embedding-004"})
	key := b.token(tokenOpts{})
	ask := `{"contents":[{"role":"user","parts":[{"text":"Weather in Paris?"}]},` +
		`{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}]},` +
		`{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":30}}},{"text":"And Paris?"}]}],` +
		`"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}}}}]}],` +
		`"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`

	st, _, raw := b.geminiCall("/v1beta/models/gpt-4o-mini:generateContent", key, ask, false)
	var g geminiReply
	if err := json.Unmarshal(raw, &g); err != nil || st != 200 || len(g.Candidates) != 1 || len(g.Candidates[0].Content.Parts) != 1 {
		t.Fatalf("reply = %d %s", st, raw)
	}
	fc := g.Candidates[0].Content.Parts[0].FunctionCall
	if fc == nil || fc.Name != "get_weather" || fc.Args["city"] != "Paris" || g.Candidates[0].FinishReason != "STOP" || g.UsageMetadata.PromptTokenCount != 40 {
		t.Errorf("function call reply %s", raw)
	}
	sent := up.lastBody()
	msgs, _ := sent["messages"].([]any)
	tools, _ := sent["tools"].([]any)
	if len(msgs) != 4 || sent["tool_choice"] != "required" || len(tools) != 1 {
		t.Fatalf("converted request = %v", sent)
	}
	call := msgs[1].(map[string]any)["tool_calls"].([]any)[0].(map[string]any)
	result := msgs[2].(map[string]any)
	if result["role"] != "tool" || result["tool_call_id"] != call["id"] || result["content"] != `{"temp":30}` {
		t.Errorf("call %v, result %v", call, result)
	}
	params := tools[0].(map[string]any)["function"].(map[string]any)["parameters"].(map[string]any)
	if params["type"] != "object" {
		t.Errorf("schema types not lowered: %v", params)
	}

	st, _, raw = b.geminiCall("/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse", key, ask, false)
	items := sseItems(t, raw)
	if st != 200 || len(items) != 1 || items[0].Candidates[0].Content.Parts[0].FunctionCall == nil ||
		items[0].Candidates[0].Content.Parts[0].FunctionCall.Args["city"] != "Paris" || items[0].UsageMetadata.CandidatesTokenCount != 9 {
		t.Errorf("streamed call = %d %s", st, raw)
	}

	// Embeddings: converted for the OpenAI channel, passed through to Gemini.
	st, _, raw = b.geminiCall("/v1beta/models/text-embedding-3-small:embedContent", key, `{"content":{"parts":[{"text":"hello"}]}}`, false)
	if st != 200 || string(raw) != `{"embedding":{"values":[0.5,0.25]}}` {
		t.Errorf("embedContent = %d %s", st, raw)
	}
	if in := up.lastBody()["input"].([]any); len(in) != 1 || in[0] != "hello" {
		t.Errorf("embeddings request %v", up.lastBody())
	}
	st, _, raw = b.geminiCall("/v1beta/models/text-embedding-004:batchEmbedContents", key, `{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello"}]}}]}`, true)
	if st != 200 || string(raw) != `{"embeddings":[{"values":[0.1,0.2,0.3]}]}` {
		t.Errorf("batchEmbedContents = %d %s", st, raw)
	}

	b.settled(4)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'gpt-4o-mini' AND prompt_tokens = 40 AND completion_tokens = 9 AND quota > 0"); n != 2 {
		t.Errorf("%d chat rows with the upstream's usage, want 2", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'text-embedding-3-small' AND prompt_tokens = 3"); n != 1 {
		t.Errorf("embedContent rows = %d", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'text-embedding-004' AND prompt_tokens > 0"); n != 1 {
		t.Errorf("batchEmbedContents rows = %d (counted by the gateway)", n)
	}
}

// TestGeminiStreamBreakOff: a stream cut after its first event ends with
// Google's error object: as the last SSE event, or as the last element of
// an array that is still valid JSON.
func TestGeminiStreamBreakOff(t *testing.T) {
	b := setup(t)
	b.channel(newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n")
	}).URL, channelOpts{models: "gpt-4o-mini"})
	key := b.token(tokenOpts{})

	st, _, raw := b.geminiCall("/v1beta/models/gpt-4o-mini:streamGenerateContent", key, geminiAsk, false)
	var arr []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil || st != 200 || len(arr) != 2 || arr[1]["error"] == nil {
		t.Errorf("array = %d %v %s", st, err, raw)
	}
	st, _, raw = b.geminiCall("/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse", key, geminiAsk, false)
	s := string(raw)
	if st != 200 || !strings.Contains(s, `"text":"par"`) || !strings.Contains(s, `data: {"error":{"code":500,`) || !strings.Contains(s, `"status":"INTERNAL"`) {
		t.Errorf("sse = %d %s", st, s)
	}
	b.settled(2)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND completion_tokens > 0"); n != 2 {
		t.Errorf("%d rows billed for what was streamed, want 2", n)
	}
}

// TestGeminiPassthroughChannelSettings: on passthrough the channel's
// system prompt replaces the client's systemInstruction and its model
// mapping goes in the path; an upstream's refusal reaches the client in
// Google's shape with Gemini's status; a stream that ends without a
// finishReason is not a clean end.
func TestGeminiPassthroughChannelSettings(t *testing.T) {
	b := setup(t)
	var got []string
	up := newGeminiRecorder(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		got = append(got, r.URL.Path+" "+string(body))
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.Contains(string(body), "too much"):
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`)
		case strings.Contains(r.URL.Path, "stream"):
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"cut\"}]},\"index\":0}]}\r\n\r\n")
		default:
			fmt.Fprint(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1,"totalTokenCount":6}}`)
		}
	})
	b.channel(up.URL, channelOpts{typ: adaptor.TypeGemini, models: "gemini-pro-latest", mapping: `{"gemini-pro-latest":"gemini-2.5-pro"}`, systemPrompt: "Operator rules."})
	key := b.token(tokenOpts{})

	st, _, raw := b.geminiCall("/v1beta/models/gemini-pro-latest:generateContent", key, geminiAsk, false)
	if st != 200 || string(raw) != `{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":1,"totalTokenCount":6}}` {
		t.Errorf("reply = %d %s", st, raw)
	}
	if len(got) != 1 || !strings.HasPrefix(got[0], "/v1beta/models/gemini-2.5-pro:generateContent ") || !strings.Contains(got[0], `"systemInstruction":{"parts":[{"text":"Operator rules."}]}`) ||
		strings.Contains(got[0], "Answer briefly.") || !strings.Contains(got[0], `"temperature":0.2`) {
		t.Errorf("upstream got %v", got)
	}

	st, _, raw = b.geminiCall("/v1beta/models/gemini-pro-latest:generateContent", key, `{"contents":[{"parts":[{"text":"too much"}]}]}`, false)
	if st != 429 || !strings.Contains(string(raw), `"status":"RESOURCE_EXHAUSTED"`) || !strings.Contains(string(raw), `"code":429`) {
		t.Errorf("upstream 429 = %d %s", st, raw)
	}

	st, _, raw = b.geminiCall("/v1beta/models/gemini-pro-latest:streamGenerateContent?alt=sse", key, geminiAsk, false)
	if st != 200 || !strings.Contains(string(raw), `"text":"cut"`) || !strings.Contains(string(raw), `"status":"INTERNAL"`) {
		t.Errorf("stream without finishReason = %d %s", st, raw)
	}
	b.settled(2)
}
