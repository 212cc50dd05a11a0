package relay

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
)

// Channels of the providers with their own wire format, end to end: an
// OpenAI client in front, the provider's format behind, billing from the
// usage the provider reports.

const claudeModel = "claude-sonnet-4-5"

// anthropicUpstream speaks the Messages API: a reply or a stream of events
// with usage input 12 / output 20, for the channel key only.
func anthropicUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/messages" || r.Header.Get("x-api-key") != "sk-upstream-secret-key-000" || r.Header.Get("anthropic-version") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`)
			return
		}
		var req struct {
			Model     string `json:"model"`
			Stream    bool   `json:"stream"`
			System    string `json:"system"`
			MaxTokens int    `json:"max_tokens"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil || req.MaxTokens == 0 || req.System != "You are terse." {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"type":"error","error":{"type":"invalid_request_error","message":"bad request: %s"}}`, body)
			return
		}
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"Hello there!"}],"stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":20}}`, req.Model)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		event := func(name, data string) {
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
			f.Flush()
		}
		event("message_start", fmt.Sprintf(`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":%q,"content":[],"usage":{"input_tokens":12,"output_tokens":1}}}`, req.Model))
		event("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		for i := 0; i < 5; i++ {
			event("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"w%d "}}`, i))
		}
		event("content_block_stop", `{"type":"content_block_stop","index":0}`)
		event("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":20}}`)
		event("message_stop", `{"type":"message_stop"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAnthropicChannel(t *testing.T) {
	b := setup(t)
	up := anthropicUpstream(t)
	b.channel(up.URL, channelOpts{typ: adaptor.TypeAnthropic, models: claudeModel, systemPrompt: "You are terse."})
	key := b.token(tokenOpts{})
	want := testCost(12, 20, pricing.DefaultModelRatio[claudeModel], pricing.DefaultCompletionRatio[claudeModel])

	res := b.post("/v1/chat/completions", key, `{"model":"`+claudeModel+`","messages":[{"role":"user","content":"hi"}]}`)
	var reply struct {
		Object  string `json:"object"`
		Choices []struct {
			Message      struct{ Content string } `json:"message"`
			FinishReason string                   `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if err := json.Unmarshal(raw, &reply); err != nil || res.StatusCode != 200 || reply.Object != "chat.completion" || len(reply.Choices) != 1 ||
		reply.Choices[0].Message.Content != "Hello there!" || reply.Choices[0].FinishReason != "stop" || reply.Usage.PromptTokens != 12 || reply.Usage.CompletionTokens != 20 {
		t.Fatalf("chat = %d %s", res.StatusCode, raw)
	}

	res = b.post("/v1/chat/completions", key, `{"model":"`+claudeModel+`","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	s := string(raw)
	if res.StatusCode != 200 || strings.Count(s, `"content":"w`) != 5 || !strings.Contains(s, `"prompt_tokens":12`) || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("stream = %d %s", res.StatusCode, s)
	}

	b.settled(2)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND quota = $1 AND prompt_tokens = 12 AND completion_tokens = 20", want); n != 2 {
		t.Errorf("%d log rows billed %d each, want 2", n, want)
	}
}

const geminiModel = "gemini-2.0-flash"

// geminiUpstream speaks the Generative Language API: generateContent,
// streamGenerateContent?alt=sse and batchEmbedContents, key in the header.
func geminiUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-goog-api-key") != "sk-upstream-secret-key-000" || r.URL.Query().Has("key") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		usage := `"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":20,"totalTokenCount":32}`
		switch r.URL.Path {
		case "/v1beta/models/" + geminiModel + ":generateContent":
			fmt.Fprint(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello there!"}]},"finishReason":"STOP","index":0}],`+usage+`}`)
		case "/v1beta/models/" + geminiModel + ":streamGenerateContent":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := 0; i < 4; i++ {
				fmt.Fprintf(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"w%d \"}]},\"index\":0}]}\r\n\r\n", i)
			}
			fmt.Fprint(w, "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"end\"}]},\"finishReason\":\"STOP\",\"index\":0}],"+usage+"}\r\n\r\n")
		case "/v1beta/models/text-embedding-004:batchEmbedContents":
			fmt.Fprint(w, `{"embeddings":[{"values":[0.1,0.2,0.3]}]}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"code":404,"message":"no route %s","status":"NOT_FOUND"}}`, r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestGeminiChannel(t *testing.T) {
	b := setup(t)
	up := geminiUpstream(t)
	b.channel(up.URL, channelOpts{typ: adaptor.TypeGemini, models: geminiModel + ",text-embedding-004"})
	key := b.token(tokenOpts{})
	want := testCost(12, 20, pricing.DefaultModelRatio[geminiModel], pricing.DefaultCompletionRatio[geminiModel])

	res := b.post("/v1/chat/completions", key, `{"model":"`+geminiModel+`","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(raw), `"content":"Hello there!"`) || !strings.Contains(string(raw), `"completion_tokens":20`) {
		t.Fatalf("chat = %d %s", res.StatusCode, raw)
	}

	res = b.post("/v1/chat/completions", key, `{"model":"`+geminiModel+`","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	s := string(raw)
	if res.StatusCode != 200 || strings.Count(s, `"content":"w`) != 4 || strings.Contains(s, `"usage"`) || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("stream (no usage asked) = %d %s", res.StatusCode, s)
	}

	res = b.post("/v1/embeddings", key, `{"model":"text-embedding-004","input":"hello"}`)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(raw), `"embedding":[0.1,0.2,0.3]`) {
		t.Fatalf("embeddings = %d %s", res.StatusCode, raw)
	}

	// An image by URL is the client's to fix: 400 at once, nothing upstream.
	res = b.post("/v1/chat/completions", key, `{"model":"`+geminiModel+`","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"http://169.254.169.254/latest"}}]}]}`)
	if res.StatusCode != 400 {
		raw, _ = io.ReadAll(res.Body)
		t.Errorf("image URL = %d %s", res.StatusCode, raw)
	}
	res.Body.Close()

	b.settled(3)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = $1 AND quota = $2", geminiModel, want); n != 2 {
		t.Errorf("%d chat log rows billed %d, want 2", n, want)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'text-embedding-004' AND prompt_tokens > 0"); n != 1 {
		t.Errorf("embeddings log rows = %d (counted by the gateway)", n)
	}
}

// TestProviderKeyFailureIsTheGateways: a provider that rejects the channel's
// key (Gemini answers 400) disables the channel and tells the client 502,
// not a 400 that blames the client's own key.
func TestProviderKeyFailureIsTheGateways(t *testing.T) {
	b := setup(t)
	up := geminiUpstream(t)
	chID := b.channel(up.URL, channelOpts{typ: adaptor.TypeGemini, models: geminiModel})
	if _, err := b.pool.Exec(t.Context(), "UPDATE channels SET key_ciphertext = $1 WHERE id = $2", b.cipher.Seal("wrong-key"), chID); err != nil {
		t.Fatal(err)
	}
	b.reload()
	res := b.post("/v1/chat/completions", b.token(tokenOpts{}), `{"model":"`+geminiModel+`","messages":[{"role":"user","content":"hi"}]}`)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
	decodeError(t, res)
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", chID); st != 3 {
		t.Errorf("channel status %d, want 3 (disabled automatically)", st)
	}
}
