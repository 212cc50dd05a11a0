package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"oneapi/queries"
	"oneapi/relay/adaptor"
	"oneapi/state"
)

// Channels of the self-hosted and native providers (Hugging Face TGI/TEI,
// Ollama, Cohere) end to end: an OpenAI client in front, the provider's wire
// format behind (httptest servers speaking it), billing from the counts the
// provider reports, never from the gateway's tokenizer.

const upstreamKey = "sk-upstream-secret-key-000"

// nativeChannel creates a channel of type typ with config and key.
func (b *bundle) nativeChannel(typ int, baseURL, models, config, key string) int64 {
	b.t.Helper()
	if key == "" {
		key = upstreamKey
	}
	ch, err := b.q.ChannelCreate(context.Background(), queries.ChannelCreateParams{
		Type: int32(typ), Name: "native", KeyCiphertext: b.cipher.Seal(key), KeyHint: "…",
		BaseURL: baseURL, Models: models, Groups: "default", Status: state.StatusEnabled, Config: config,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.reload()
	return ch.ID
}

// The provider's own counts, which differ from what the gateway would count.
const (
	nativePrompt     = 9
	nativeCompletion = 20
)

// tgiServer is an httptest TGI (version says whether it has the Messages
// API) or TEI server. A prompt saying "refuse me" gets TGI's validation
// error; one saying "garble" a 200 that is not TGI's JSON.
type tgiServer struct {
	*httptest.Server
	generates atomic.Int64 // native and Messages API calls
}

func newTGI(t *testing.T, version string) *tgiServer {
	s := &tgiServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"Authorization header is correct, but the token seems invalid"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/info" {
			fmt.Fprintf(w, `{"model_id":"meta-llama/Llama-3.1-8B-Instruct","version":%q,"max_input_tokens":4000,"max_total_tokens":4096}`, version)
			return
		}
		s.generates.Add(1)
		switch {
		case strings.Contains(string(body), "refuse me"):
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"error":"Input validation error: `+"`temperature`"+` must be strictly positive","error_type":"validation"}`)
			return
		case strings.Contains(string(body), "garble"):
			fmt.Fprint(w, `{"generated_text": "Hel`)
			return
		}
		switch r.URL.Path {
		case "/generate":
			w.Header().Set("X-Prompt-Tokens", fmt.Sprint(nativePrompt))
			w.Header().Set("X-Generated-Tokens", fmt.Sprint(nativeCompletion))
			fmt.Fprintf(w, `{"generated_text":"Hello there!","details":{"finish_reason":"eos_token","generated_tokens":%d,"seed":null,"prefill":[],"tokens":[]}}`, nativeCompletion)
		case "/generate_stream":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 5; i++ {
				fmt.Fprintf(w, "data:{\"index\":%d,\"token\":{\"id\":%d,\"text\":\"w%d \",\"logprob\":-0.1,\"special\":false},\"generated_text\":null,\"details\":null}\n\n", i+1, i, i)
				w.(http.Flusher).Flush()
			}
			fmt.Fprintf(w, "data:{\"index\":6,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.1,\"special\":true},\"generated_text\":\"w0 w1 w2 w3 w4 \",\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":%d,\"seed\":null,\"input_length\":%d}}\n\n", nativeCompletion, nativePrompt)
		case "/v1/chat/completions":
			openAIStyleChat(w, body)
		case "/embed":
			w.Header().Set("X-Compute-Tokens", "4")
			fmt.Fprint(w, `[[0.25,0.5],[1,0]]`)
		case "/rerank":
			w.Header().Set("X-Compute-Tokens", "17")
			fmt.Fprint(w, `[{"index":1,"score":0.9},{"index":0,"score":0.1}]`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// openAIStyleChat answers as TGI's Messages API does: text, or a tool call
// when tools were sent; a stream with the usage chunk when asked.
func openAIStyleChat(w http.ResponseWriter, body []byte) {
	var req struct {
		Model         string            `json:"model"`
		Stream        bool              `json:"stream"`
		Tools         []json.RawMessage `json:"tools"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	_ = json.Unmarshal(body, &req)
	usage := fmt.Sprintf(`{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d}`, nativePrompt, nativeCompletion, nativePrompt+nativeCompletion)
	tool := len(req.Tools) > 0
	if !req.Stream {
		if tool {
			fmt.Fprintf(w, `{"id":"","object":"chat.completion","created":1,"model":"tgi","system_fingerprint":"2.4.0-native","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":%s}`, usage)
			return
		}
		fmt.Fprintf(w, `{"id":"","object":"chat.completion","created":1,"model":"tgi","system_fingerprint":"2.4.0-native","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there!"},"finish_reason":"stop"}],"usage":%s}`, usage)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	chunk := func(delta, finish string) {
		fmt.Fprintf(w, "data: {\"id\":\"\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"tgi\",\"choices\":[{\"index\":0,\"delta\":%s,\"finish_reason\":%s}]}\n\n", delta, finish)
		w.(http.Flusher).Flush()
	}
	if tool {
		chunk(`{"role":"assistant","tool_calls":[{"index":0,"id":"0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]}`, "null")
		chunk(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`, "null")
		chunk(`{}`, `"tool_calls"`)
	} else {
		for i := 0; i < 5; i++ {
			chunk(fmt.Sprintf(`{"role":"assistant","content":"w%d "}`, i), "null")
		}
		chunk(`{}`, `"stop"`)
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		fmt.Fprintf(w, "data: {\"id\":\"\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"tgi\",\"choices\":[],\"usage\":%s}\n\n", usage)
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}

// ollamaUpstream speaks Ollama's native API: /api/chat (a tool call when
// tools were sent), NDJSON streams, /api/embed and /api/tags.
func ollamaUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string            `json:"model"`
			Stream   bool              `json:"stream"`
			Tools    []json.RawMessage `json:"tools"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		counts := fmt.Sprintf(`"prompt_eval_count":%d,"eval_count":%d`, nativePrompt, nativeCompletion)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch r.URL.Path {
		case "/api/chat":
			if req.Model == "not-pulled" {
				w.WriteHeader(http.StatusNotFound)
				fmt.Fprint(w, `{"error":"model \"not-pulled\" not found, try pulling it first"}`)
				return
			}
			if len(req.Tools) > 0 {
				fmt.Fprintf(w, `{"model":%q,"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},"done_reason":"stop","done":true,%s}`+"\n", req.Model, counts)
				return
			}
			if !req.Stream {
				fmt.Fprintf(w, `{"model":%q,"message":{"role":"assistant","content":"Hello there!"},"done_reason":"stop","done":true,%s}`, req.Model, counts)
				return
			}
			w.Header().Set("Content-Type", "application/x-ndjson")
			for i := 0; i < 5; i++ {
				fmt.Fprintf(w, `{"model":%q,"message":{"role":"assistant","content":"w%d "},"done":false}`+"\n", req.Model, i)
				w.(http.Flusher).Flush()
			}
			fmt.Fprintf(w, `{"model":%q,"message":{"role":"assistant","content":""},"done_reason":"stop","done":true,%s}`+"\n", req.Model, counts)
		case "/api/embed":
			fmt.Fprint(w, `{"model":"nomic-embed-text","embeddings":[[0.5,0.25]],"prompt_eval_count":3}`)
		case "/api/tags":
			fmt.Fprint(w, `{"models":[{"name":"llama3.2:latest"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// cohereUpstream speaks Cohere's v2 chat (its stream events, tool calls),
// embed and rerank, for the channel key only.
func cohereUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"id":"x","message":"invalid api token"}`)
			return
		}
		var req struct {
			Stream bool              `json:"stream"`
			Tools  []json.RawMessage `json:"tools"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &req)
		usage := fmt.Sprintf(`{"billed_units":{"input_tokens":%d,"output_tokens":%d},"tokens":{"input_tokens":300,"output_tokens":%d}}`, nativePrompt, nativeCompletion, nativeCompletion)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v2/chat":
			tool := len(req.Tools) > 0
			if !req.Stream {
				if tool {
					fmt.Fprintf(w, `{"id":"c1","finish_reason":"TOOL_CALL","message":{"role":"assistant","tool_plan":"I will check.","tool_calls":[{"id":"get_weather_abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"usage":%s}`, usage)
					return
				}
				fmt.Fprintf(w, `{"id":"c1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hello there!"}]},"usage":%s}`, usage)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			ev := func(typ, data string) {
				fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
				w.(http.Flusher).Flush()
			}
			ev("message-start", `{"id":"c2","type":"message-start","delta":{"message":{"role":"assistant","content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}`)
			finish := "COMPLETE"
			if tool {
				ev("tool-plan-delta", `{"type":"tool-plan-delta","delta":{"message":{"tool_plan":"I will check."}}}`)
				ev("tool-call-start", `{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"get_weather_abc","type":"function","function":{"name":"get_weather","arguments":""}}}}}`)
				ev("tool-call-delta", `{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\"city\":\"Paris\"}"}}}}}`)
				ev("tool-call-end", `{"type":"tool-call-end","index":0}`)
				finish = "TOOL_CALL"
			} else {
				ev("content-start", `{"type":"content-start","index":0,"delta":{"message":{"content":{"type":"text","text":""}}}}`)
				for i := 0; i < 5; i++ {
					ev("content-delta", fmt.Sprintf(`{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"w%d "}}}}`, i))
				}
				ev("content-end", `{"type":"content-end","index":0}`)
			}
			ev("message-end", fmt.Sprintf(`{"type":"message-end","delta":{"finish_reason":%q,"usage":%s}}`, finish, usage))
		case "/v2/embed":
			fmt.Fprint(w, `{"id":"e","embeddings":{"float":[[0.5,0.25]]},"texts":["hello"],"meta":{"billed_units":{"input_tokens":3}}}`)
		case "/v2/rerank":
			fmt.Fprint(w, `{"id":"r","results":[{"index":1,"relevance_score":0.9},{"index":0,"relevance_score":0.1}],"meta":{"billed_units":{"search_units":1}}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestOfficialGoSDKNativeProviders: OpenAI's Go SDK gets chat, a stream its
// accumulator rebuilds and tool calls (plain and streamed) from a TGI with
// the Messages API, an Ollama and a Cohere channel, and chat and a stream
// from a TGI without it (native /generate); every request is billed with
// the provider's counts.
func TestOfficialGoSDKNativeProviders(t *testing.T) {
	b := setup(t)
	b.nativeChannel(adaptor.TypeHuggingFace, newTGI(t, "2.4.1").URL+"/v1", "tgi-chat", "", "")
	b.nativeChannel(adaptor.TypeHuggingFace, newTGI(t, "1.3.4").URL, "tgi-native", "", "")
	b.nativeChannel(adaptor.TypeOllama, ollamaUpstream(t).URL, "llama3.2", "", "")
	b.nativeChannel(adaptor.TypeCohere, cohereUpstream(t).URL, "command-a-03-2025", "", "")
	client := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey(b.token(tokenOpts{})), option.WithMaxRetries(0))
	ctx := context.Background()
	weather := openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
		Name:       "get_weather",
		Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	})
	requests := 0
	for _, tc := range []struct {
		model string
		tools bool
	}{{"tgi-chat", true}, {"tgi-native", false}, {"llama3.2", true}, {"command-a-03-2025", true}} {
		chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    tc.model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
		})
		if err != nil || chat.Choices[0].Message.Content != "Hello there!" || chat.Choices[0].FinishReason != "stop" ||
			chat.Usage.PromptTokens != nativePrompt || chat.Usage.CompletionTokens != nativeCompletion {
			t.Fatalf("%s chat: %v %+v", tc.model, err, chat)
		}
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         tc.model,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s stream: %v", tc.model, err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "w0 w1 w2 w3 w4 " || acc.Choices[0].FinishReason != "stop" ||
			acc.Usage.PromptTokens != nativePrompt || acc.Usage.CompletionTokens != nativeCompletion {
			t.Errorf("%s stream: %+v usage %+v", tc.model, acc.Choices, acc.Usage)
		}
		requests += 2
		if !tc.tools {
			continue
		}
		params := openai.ChatCompletionNewParams{
			Model:    tc.model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
			Tools:    []openai.ChatCompletionToolUnionParam{weather},
		}
		tcr, err := client.Chat.Completions.New(ctx, params)
		if err != nil || len(tcr.Choices) != 1 || tcr.Choices[0].FinishReason != "tool_calls" || len(tcr.Choices[0].Message.ToolCalls) != 1 ||
			tcr.Choices[0].Message.ToolCalls[0].Function.Name != "get_weather" || tcr.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
			t.Fatalf("%s tool call: %v %+v", tc.model, err, tcr)
		}
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		ts := client.Chat.Completions.NewStreaming(ctx, params)
		var tacc openai.ChatCompletionAccumulator
		for ts.Next() {
			tacc.AddChunk(ts.Current())
		}
		if err := ts.Err(); err != nil {
			t.Fatalf("%s tool stream: %v", tc.model, err)
		}
		if len(tacc.Choices) != 1 || len(tacc.Choices[0].Message.ToolCalls) != 1 || tacc.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
			tacc.Choices[0].FinishReason != "tool_calls" {
			t.Errorf("%s tool stream: %+v", tc.model, tacc.Choices)
		}
		requests += 2
	}
	b.settled(requests)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_tokens = $1 AND completion_tokens = $2 AND quota > 0 AND NOT usage_counted",
		nativePrompt, nativeCompletion); n != int64(requests) {
		t.Errorf("%d of %d log rows billed with the provider's counts", n, requests)
	}
}

// TestTGIChannel: completions, embeddings and rerank on TGI/TEI, the
// server's limits refusing an oversize prompt before it is sent, its
// validation error the client's (no other channel tried, none disabled),
// and malformed replies a clear 502 that another channel serves.
func TestTGIChannel(t *testing.T) {
	b := setup(t)
	tgi := newTGI(t, "1.3.4")
	chID := b.nativeChannel(adaptor.TypeHuggingFace, tgi.URL, "tgi,bge,bge-reranker", "", "")
	key := b.token(tokenOpts{})
	post := func(path, body string) (int, string) {
		res := b.post(path, key, body)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(raw)
	}

	if code, raw := post("/v1/completions", `{"model":"tgi","prompt":"Say","max_tokens":30}`); code != 200 || !strings.Contains(raw, `"text":"Hello there!"`) ||
		!strings.Contains(raw, fmt.Sprintf(`"prompt_tokens":%d`, nativePrompt)) {
		t.Fatalf("completion = %d %s", code, raw)
	}
	if code, raw := post("/v1/completions", `{"model":"tgi","prompt":"Say","stream":true}`); code != 200 || strings.Count(raw, `"text":"w`) != 5 || !strings.HasSuffix(raw, "data: [DONE]\n\n") {
		t.Fatalf("completion stream = %d %s", code, raw)
	}
	if code, raw := post("/v1/embeddings", `{"model":"bge","input":["a","b"]}`); code != 200 || !strings.Contains(raw, `"embedding":[0.25,0.5]`) {
		t.Fatalf("embeddings = %d %s", code, raw)
	}
	if code, raw := post("/v1/rerank", `{"model":"bge-reranker","query":"q","documents":["x","y"],"top_n":1}`); code != 200 || !strings.Contains(raw, `"results":[{"index":1,"relevance_score":0.9}]`) {
		t.Fatalf("rerank = %d %s", code, raw)
	}
	b.settled(4)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'bge' AND prompt_tokens = 4 AND NOT usage_counted"); n != 1 {
		t.Errorf("embeddings not billed by x-compute-tokens (%d rows)", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'bge-reranker' AND prompt_tokens = 17"); n != 1 {
		t.Errorf("rerank not billed by x-compute-tokens (%d rows)", n)
	}

	// Over max_input_tokens (4000): a 400 that says so; nothing generated.
	before := tgi.generates.Load()
	big := strings.Repeat("word ", 4500)
	code, raw := post("/v1/chat/completions", `{"model":"tgi","messages":[{"role":"user","content":"`+big+`"}]}`)
	if code != http.StatusBadRequest || !strings.Contains(raw, "max_input_tokens") || !strings.Contains(raw, "context_length_exceeded") {
		t.Errorf("oversize prompt = %d %.300s", code, raw)
	}
	if tgi.generates.Load() != before {
		t.Error("the oversize prompt was sent to the server")
	}

	// A second channel, to see what fails over.
	other := newUpstream(t, okChat)
	b.channel(other.URL, channelOpts{models: "tgi", priority: -1})

	// The server's validation error is the client's: 422, no failover, no disabling.
	code, raw = post("/v1/chat/completions", `{"model":"tgi","messages":[{"role":"user","content":"refuse me"}]}`)
	if code != http.StatusUnprocessableEntity || !strings.Contains(raw, "strictly positive") || other.hits.Load() != 0 {
		t.Errorf("validation error = %d %s (other channel hit %d times)", code, raw, other.hits.Load())
	}
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", chID); st != state.StatusEnabled {
		t.Errorf("channel status %d after a client error", st)
	}

	// A malformed 200 is the channel's: the other channel answers.
	code, raw = post("/v1/chat/completions", `{"model":"tgi","messages":[{"role":"user","content":"garble"}]}`)
	if code != 200 || other.hits.Load() != 1 {
		t.Errorf("malformed reply: %d %s, other channel hit %d times", code, raw, other.hits.Load())
	}
	// With no other channel, the client gets a clear 502.
	if _, err := b.pool.Exec(context.Background(), "UPDATE channels SET status = 2 WHERE id <> $1", chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	res := b.post("/v1/chat/completions", key, `{"model":"tgi","messages":[{"role":"user","content":"garble"}]}`)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("malformed reply alone = %d", res.StatusCode)
	}
	if code := decodeError(t, res); code != "bad_upstream_response" {
		t.Errorf("malformed reply code = %q", code)
	}
}

// TestNativeProviderStreamsCutShort: a stream that breaks off after its
// first events is billed as streamed and ends with an error event; one
// that fails before any event is served by another channel.
func TestNativeProviderStreamsCutShort(t *testing.T) {
	b := setup(t)
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/info" {
			fmt.Fprint(w, `{"model_id":"m","version":"1.0.0"}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "overload") {
			fmt.Fprint(w, "data:{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}\n\n")
			return
		}
		fmt.Fprint(w, "data:{\"index\":1,\"token\":{\"id\":1,\"text\":\"Hel\",\"special\":false},\"generated_text\":null,\"details\":null}\n\n")
	}))
	t.Cleanup(cut.Close)
	b.nativeChannel(adaptor.TypeHuggingFace, cut.URL, "tgi", "", "")
	key := b.token(tokenOpts{})

	res := b.post("/v1/chat/completions", key, `{"model":"tgi","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(raw), `"content":"Hel"`) || !strings.Contains(string(raw), "stream_interrupted") || strings.Contains(string(raw), "[DONE]") {
		t.Errorf("cut stream = %d %s", res.StatusCode, raw)
	}

	other := newUpstream(t, okChat)
	b.channel(other.URL, channelOpts{models: "tgi", priority: -1})
	res = b.post("/v1/chat/completions", key, `{"model":"tgi","stream":true,"messages":[{"role":"user","content":"overload"}]}`)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || other.hits.Load() != 1 || !strings.HasSuffix(string(raw), "data: [DONE]\n\n") {
		t.Errorf("overloaded first event: %d %s, other hit %d", res.StatusCode, raw, other.hits.Load())
	}
	b.settled(2)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND usage_counted AND completion_tokens > 0"); n != 1 {
		t.Errorf("cut stream not billed as streamed (%d rows)", n)
	}
}

// TestOllamaAndCohereChannels: embeddings and rerank billed by the
// provider's counts (Cohere's rerank by the gateway's, its search units not
// being tokens); Ollama's missing model goes to another channel; a Cohere
// key it refuses disables the channel and tells the client 502.
func TestOllamaAndCohereChannels(t *testing.T) {
	b := setup(t)
	b.nativeChannel(adaptor.TypeOllama, ollamaUpstream(t).URL, "nomic-embed-text,not-pulled", "", "")
	co := cohereUpstream(t)
	b.nativeChannel(adaptor.TypeCohere, co.URL, "embed-v4.0,rerank-v3.5", "", "")
	key := b.token(tokenOpts{})
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/embeddings", `{"model":"nomic-embed-text","input":"hello"}`, `"embedding":[0.5,0.25]`},
		{"/v1/embeddings", `{"model":"embed-v4.0","input":"hello"}`, `"prompt_tokens":3`},
		{"/v1/rerank", `{"model":"rerank-v3.5","query":"q","documents":["a","b"],"return_documents":true}`, `{"index":1,"relevance_score":0.9,"document":{"text":"b"}}`},
	} {
		res := b.post(tc.path, key, tc.body)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(raw), tc.want) {
			t.Errorf("%s %s = %d %s", tc.path, tc.body, res.StatusCode, raw)
		}
	}
	b.settled(3)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_tokens = 3 AND NOT usage_counted"); n != 2 {
		t.Errorf("%d embeddings rows billed by the provider's counts, want 2", n)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'rerank-v3.5' AND usage_counted AND prompt_tokens > 0"); n != 1 {
		t.Errorf("rerank rows counted by the gateway: %d", n)
	}

	other := newUpstream(t, okChat)
	b.channel(other.URL, channelOpts{models: "not-pulled", priority: -1})
	res := b.post("/v1/chat/completions", key, `{"model":"not-pulled","messages":[{"role":"user","content":"hi"}]}`)
	res.Body.Close()
	if res.StatusCode != 200 || other.hits.Load() != 1 {
		t.Errorf("model not pulled: %d, other channel hit %d times", res.StatusCode, other.hits.Load())
	}

	bad := b.nativeChannel(adaptor.TypeCohere, co.URL, "command-r", "", "co-wrong-key-0123456789")
	res = b.post("/v1/chat/completions", key, `{"model":"command-r","messages":[{"role":"user","content":"hi"}]}`)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("refused key = %d, want 502", res.StatusCode)
	}
	decodeError(t, res)
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", bad); st != state.StatusAutoDisabled {
		t.Errorf("channel with a refused key: status %d", st)
	}
}
