package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"oneapi/pricing"
	"oneapi/queries"
	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/state"
)

// Bedrock and Vertex AI channels end to end: OpenAI's Go SDK in front, an
// upstream that speaks the cloud's wire format and checks its
// authentication (SigV4 recomputed; an OAuth token from the test's token
// endpoint) behind, billing from the usage the cloud reports.

// cloudChannel adds an enabled channel of type typ with key and config.
func (b *bundle) cloudChannel(typ int32, baseURL, models, key string, config map[string]string) int64 {
	b.t.Helper()
	cfg, _ := json.Marshal(config)
	ch, err := b.q.ChannelCreate(context.Background(), queries.ChannelCreateParams{
		Type: typ, Name: "cloud", KeyCiphertext: b.cipher.Seal(key), KeyHint: "…", BaseURL: baseURL, Models: models,
		Groups: "default", Status: state.StatusEnabled, Config: string(cfg),
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.reload()
	return ch.ID
}

const (
	bedrockModel  = "anthropic.claude-3-5-haiku-20241022-v1:0"
	bedrockAK     = "AKIAGATEWAYTEST00001"
	bedrockSK     = "gateway/test/secret/key/0000000000000000"
	bedrockRegion = "eu-west-1"
)

// bedrockUpstream speaks Bedrock Runtime for requests signed with the
// channel's secret for bedrockRegion: Converse (a tool call when tools are
// offered and no result came back yet, text otherwise), ConverseStream
// (event-stream frames), InvokeModel for Cohere embeddings. The model
// "anthropic.cut" streams a frame cut in half; "anthropic.bad" is refused
// with a ValidationException.
func bedrockUpstream(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, region, service, err := adaptortest.VerifySigV4(r, body, bedrockSK, time.Now()); err != nil || region != bedrockRegion || service != "bedrock" {
			w.Header().Set("X-Amzn-ErrorType", "InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"The request signature we calculated does not match the signature you provided."}`)
			return
		}
		w.Header().Set("X-Amzn-Requestid", "req-1")
		var req struct {
			Messages []struct {
				Content []map[string]json.RawMessage `json:"content"`
			} `json:"messages"`
			ToolConfig *struct{} `json:"toolConfig"`
		}
		_ = json.Unmarshal(body, &req)
		wantsTool := req.ToolConfig != nil
		for _, m := range req.Messages {
			for _, c := range m.Content {
				if _, ok := c["toolResult"]; ok {
					wantsTool = false
				}
			}
		}
		usage := `{"inputTokens":12,"outputTokens":20,"totalTokens":182,"cacheReadInputTokens":100,"cacheWriteInputTokens":50}`
		path := r.URL.EscapedPath()
		switch {
		case strings.HasPrefix(path, "/model/anthropic.bad/"):
			w.Header().Set("X-Amzn-ErrorType", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"message":"Malformed input request: #: extraneous key [credit] is not permitted, please reformat your input and try again."}`)
		case path == "/model/anthropic.cut/converse-stream":
			w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
			frame := adaptortest.EncodeFrame(adaptortest.Frame{EventType: "messageStart", Payload: []byte(`{"role":"assistant"}`)})
			w.Write(frame[:len(frame)/2])
		case path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse":
			w.Header().Set("Content-Type", "application/json")
			if wantsTool {
				fmt.Fprintf(w, `{"output":{"message":{"role":"assistant","content":[{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Paris"}}}]}},"stopReason":"tool_use","usage":%s}`, usage)
				return
			}
			fmt.Fprintf(w, `{"output":{"message":{"role":"assistant","content":[{"text":"Hello there!"}]}},"stopReason":"end_turn","usage":%s}`, usage)
		case path == "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream":
			w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
			frames := []adaptortest.Frame{{EventType: "messageStart", Payload: []byte(`{"role":"assistant","p":"abcdef"}`)}}
			if wantsTool {
				frames = append(frames,
					adaptortest.Frame{EventType: "contentBlockStart", Payload: []byte(`{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"tooluse_2","name":"get_weather"}}}`)},
					adaptortest.Frame{EventType: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"city\":"}}}`)},
					adaptortest.Frame{EventType: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":0,"delta":{"toolUse":{"input":"\"Paris\"}"}}}`)},
					adaptortest.Frame{EventType: "contentBlockStop", Payload: []byte(`{"contentBlockIndex":0}`)},
					adaptortest.Frame{EventType: "messageStop", Payload: []byte(`{"stopReason":"tool_use"}`)})
			} else {
				for i := range 5 {
					frames = append(frames, adaptortest.Frame{EventType: "contentBlockDelta", Payload: []byte(fmt.Sprintf(`{"contentBlockIndex":0,"delta":{"text":"w%d "}}`, i))})
				}
				frames = append(frames, adaptortest.Frame{EventType: "messageStop", Payload: []byte(`{"stopReason":"end_turn"}`)})
			}
			frames = append(frames, adaptortest.Frame{EventType: "metadata", Payload: []byte(`{"usage":` + usage + `,"metrics":{"latencyMs":100}}`)})
			for _, fr := range frames {
				w.Write(adaptortest.EncodeFrame(fr))
				w.(http.Flusher).Flush()
			}
		case path == "/model/cohere.embed-english-v3/invoke":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", "3")
			fmt.Fprint(w, `{"embeddings":[[0.5,0.25]],"id":"e1","response_type":"embeddings_floats","texts":["hello"]}`)
		default:
			w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"message":"no route %s"}`, path)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// weatherTool is the tool the SDK offers.
var weatherTool = openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
	Name:       "get_weather",
	Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
})

// sdkChecks runs chat, stream and tool calls (plain and streamed, and the
// turn after the tool result) through the SDK against model, and returns
// how many billed requests it made.
func sdkChecks(t *testing.T, client openai.Client, model string, wantPrompt, wantCompletion int64, streamed string) int {
	t.Helper()
	ctx := context.Background()
	hello := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")}

	chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: hello})
	if err != nil || chat.Choices[0].Message.Content != "Hello there!" || chat.Choices[0].FinishReason != "stop" ||
		chat.Usage.PromptTokens != wantPrompt || chat.Usage.CompletionTokens != wantCompletion {
		t.Fatalf("%s chat: %v %+v", model, err, chat)
	}

	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model, Messages: hello,
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("%s stream: %v", model, err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != streamed || acc.Choices[0].FinishReason != "stop" ||
		acc.Usage.PromptTokens != wantPrompt || acc.Usage.CompletionTokens != wantCompletion {
		t.Errorf("%s stream: %+v usage %+v", model, acc.Choices, acc.Usage)
	}

	weather := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")}
	tools := []openai.ChatCompletionToolUnionParam{weatherTool}
	call, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Messages: weather, Tools: tools})
	if err != nil || call.Choices[0].FinishReason != "tool_calls" || len(call.Choices[0].Message.ToolCalls) != 1 ||
		call.Choices[0].Message.ToolCalls[0].Function.Name != "get_weather" || call.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("%s tool call: %v %+v", model, err, call)
	}

	stream = client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: model, Messages: weather, Tools: tools})
	acc = openai.ChatCompletionAccumulator{}
	var finished *openai.FinishedChatCompletionToolCall
	for stream.Next() {
		acc.AddChunk(stream.Current())
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = &tc
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("%s streamed tool call: %v", model, err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].FinishReason != "tool_calls" || len(acc.Choices[0].Message.ToolCalls) != 1 ||
		acc.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` || finished == nil || finished.Name != "get_weather" {
		t.Errorf("%s streamed tool call: %+v (finished %+v)", model, acc.Choices, finished)
	}

	// The turn after: the call and its result go back upstream.
	answer, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: model, Tools: tools, Messages: append(weather,
		call.Choices[0].Message.ToParam(), openai.ToolMessage("18C, cloudy", call.Choices[0].Message.ToolCalls[0].ID))})
	if err != nil || answer.Choices[0].Message.Content != "Hello there!" {
		t.Fatalf("%s after the tool result: %v %+v", model, err, answer)
	}
	return 5
}

func TestBedrockChannel(t *testing.T) {
	b := setup(t)
	up := bedrockUpstream(t)
	// The key as One API's console writes it; the region also in config, as One API keeps it.
	chID := b.cloudChannel(adaptor.TypeAwsClaude, up.URL, bedrockModel+",cohere.embed-english-v3,anthropic.bad,anthropic.cut",
		bedrockAK+"|"+bedrockSK+"|"+bedrockRegion, map[string]string{"region": bedrockRegion, "ak": bedrockAK, "sk": bedrockSK})
	key := b.token(tokenOpts{})
	client := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))

	n := sdkChecks(t, client, bedrockModel, 162, 20, "w0 w1 w2 w3 w4 ")

	emb, err := client.Embeddings.New(context.Background(), openai.EmbeddingNewParams{Model: "cohere.embed-english-v3",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}})
	if err != nil || len(emb.Data) != 1 || emb.Data[0].Embedding[1] != 0.25 || emb.Usage.PromptTokens != 3 {
		t.Fatalf("embeddings: %v %+v", err, emb)
	}

	// The client's mistake is answered as a 400 and blames nobody.
	res := b.post("/v1/chat/completions", key, `{"model":"anthropic.bad","messages":[{"role":"user","content":"hi"}]}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(raw), "ValidationException") {
		t.Errorf("validation error = %d %s", res.StatusCode, raw)
	}
	// A stream cut inside its first frame is a clear 502, and not the channel's death.
	res = b.post("/v1/chat/completions", key, `{"model":"anthropic.cut","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 502 || !strings.Contains(string(raw), `"error"`) {
		t.Errorf("cut stream = %d %s", res.StatusCode, raw)
	}
	// The channel test works through the same adaptor.
	if _, err := Probe(context.Background(), NewClient(nil), b.st.Routes().Channel(chID), bedrockModel); err != nil {
		t.Errorf("probe: %v", err)
	}
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", chID); st != state.StatusEnabled {
		t.Errorf("channel status %d after client errors, want enabled", st)
	}

	b.settled(n + 1)
	opts := b.st.Options()
	price, priced := opts.Price(bedrockModel, "default", adaptor.TypeAwsClaude)
	want := pricing.Cost(price, pricing.Usage{Input: 162, CacheRead: 100, CacheWrite: 50, Output: 20})
	if !priced || want >= testCost(162, 20, price.Model, price.Completion) {
		t.Fatalf("%s: price %+v (priced %v) bills cached tokens at the full input price", bedrockModel, price, priced)
	}
	if got := b.scalar(`SELECT count(*) FROM logs WHERE type = 2 AND model_name = $1 AND prompt_tokens = 162 AND completion_tokens = 20
		AND cache_read_tokens = 100 AND cache_write_tokens = 50 AND quota = $2`, bedrockModel, want); got != int64(n) {
		t.Errorf("%d chat log rows billed %d with Bedrock's counts, want %d", got, want, n)
	}
	if got := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'cohere.embed-english-v3' AND prompt_tokens = 3"); got != 1 {
		t.Errorf("embeddings log rows with Bedrock's count = %d", got)
	}

	// A wrong secret: AWS refuses the signature, the channel is disabled
	// and the client told 502, not blamed.
	bad := b.cloudChannel(adaptor.TypeAwsClaude, up.URL, "anthropic.claude-3-haiku-20240307-v1:0", bedrockAK+"|wrong-secret|"+bedrockRegion, nil)
	res = b.post("/v1/chat/completions", key, `{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]}`)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("wrong secret: status %d, want 502", res.StatusCode)
	}
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", bad); st != state.StatusAutoDisabled {
		t.Errorf("channel with a wrong secret: status %d, want auto-disabled", st)
	}
}

const (
	vertexProject = "gw-test-project"
	vertexRegion  = "us-east5"
	vertexGemini  = "gemini-2.5-flash"
	vertexClaude  = "claude-sonnet-4-5@20250929"
)

// vertexUpstream speaks Vertex AI for vertexProject in vertexRegion, for
// the tokens the token server issued: Gemini (generateContent,
// streamGenerateContent?alt=sse) and Claude (rawPredict, streamRawPredict),
// a function call when tools are offered and no result came back yet.
func vertexUpstream(t *testing.T, ts *adaptortest.TokenServer) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		valid := false
		for n := int64(1); n <= ts.Exchanges.Load(); n++ {
			valid = valid || r.Header.Get("Authorization") == "Bearer "+adaptortest.Token(n)
		}
		w.Header().Set("Content-Type", "application/json")
		if !valid {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		s := string(body)
		wantsTool := (strings.Contains(s, `"tools"`)) && !strings.Contains(s, "functionResponse") && !strings.Contains(s, "tool_result")
		prefix := "/v1/projects/" + vertexProject + "/locations/" + vertexRegion + "/publishers/"
		gemUsage := `"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":20,"totalTokenCount":32}`
		sse := func(lines ...string) {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, l := range lines {
				fmt.Fprint(w, l)
				w.(http.Flusher).Flush()
			}
		}
		switch r.URL.Path {
		case prefix + "google/models/" + vertexGemini + ":generateContent":
			part := `{"text":"Hello there!"}`
			if wantsTool {
				part = `{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}`
			}
			fmt.Fprintf(w, `{"candidates":[{"content":{"role":"model","parts":[%s]},"finishReason":"STOP"}],%s,"responseId":"r1"}`, part, gemUsage)
		case prefix + "google/models/" + vertexGemini + ":streamGenerateContent":
			if wantsTool {
				sse(`data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP"}],` + gemUsage + "}\r\n\r\n")
				return
			}
			sse(`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"w0 "}]}}]}`+"\r\n\r\n",
				`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"end"}]},"finishReason":"STOP"}],`+gemUsage+"}\r\n\r\n")
		case prefix + "anthropic/models/" + vertexClaude + ":rawPredict":
			if !strings.Contains(s, `"anthropic_version":"vertex-2023-10-16"`) {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"type":"error","error":{"type":"invalid_request_error","message":"anthropic_version is required"}}`)
				return
			}
			block := `{"type":"text","text":"Hello there!"}`
			stop := "end_turn"
			if wantsTool {
				block, stop = `{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}`, "tool_use"
			}
			fmt.Fprintf(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[%s],"stop_reason":%q,"usage":{"input_tokens":12,"output_tokens":20}}`, block, stop)
		case prefix + "anthropic/models/" + vertexClaude + ":streamRawPredict":
			ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
			lines := []string{ev("message_start", `{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"usage":{"input_tokens":12,"output_tokens":1}}}`)}
			stop := "end_turn"
			if wantsTool {
				stop = "tool_use"
				lines = append(lines, ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{}}}`),
					ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\"}"}}`))
			} else {
				lines = append(lines, ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
					ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"w0 "}}`),
					ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"end"}}`))
			}
			lines = append(lines, ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
				ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`+stop+`"},"usage":{"output_tokens":20}}`),
				ev("message_stop", `{"type":"message_stop"}`))
			sse(lines...)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":{"code":404,"message":"no route %s","status":"NOT_FOUND"}}`, r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestVertexChannel(t *testing.T) {
	b := setup(t)
	ts := adaptortest.NewTokenServer(t)
	sa := adaptortest.NewServiceAccount(t, vertexProject, ts.URL+"/token")
	ts.Trust(sa)
	up := vertexUpstream(t, ts)
	// One API's shape: everything in config (the key is what One API's
	// console wrote from it).
	chID := b.cloudChannel(adaptor.TypeVertexAI, up.URL, vertexGemini+","+vertexClaude,
		vertexRegion+"|"+vertexProject+"|"+string(sa.JSON),
		map[string]string{"region": vertexRegion, "vertex_ai_project_id": vertexProject, "vertex_ai_adc": string(sa.JSON)})
	key := b.token(tokenOpts{})
	client := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))

	n := sdkChecks(t, client, vertexGemini, 12, 20, "w0 end")
	n += sdkChecks(t, client, vertexClaude, 12, 20, "w0 end")
	if _, err := Probe(context.Background(), NewClient(nil), b.st.Routes().Channel(chID), vertexClaude); err != nil {
		t.Errorf("probe: %v", err)
	}
	if got := ts.Exchanges.Load(); got != 1 {
		t.Errorf("%d token exchanges for %d requests, want 1", got, n+1)
	}

	b.settled(n)
	for _, model := range []string{vertexGemini, vertexClaude} {
		price, _ := b.st.Options().Price(model, "default", adaptor.TypeVertexAI)
		want := pricing.Cost(price, pricing.Usage{Input: 12, Output: 20})
		if got := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = $1 AND prompt_tokens = 12 AND completion_tokens = 20 AND quota = $2", model, want); got != 5 {
			t.Errorf("%s: %d log rows billed %d with Vertex's counts, want 5", model, got, want)
		}
	}

	// The token endpoint refusing the account disables the channel; the
	// client is told 502.
	ts.Refuse.Store(true)
	sa2 := adaptortest.NewServiceAccount(t, vertexProject, ts.URL+"/token")
	bad := b.cloudChannel(adaptor.TypeVertexAI, up.URL, "gemini-2.0-flash", string(sa2.JSON), map[string]string{"region": vertexRegion})
	res := b.post("/v1/chat/completions", key, `{"model":"gemini-2.0-flash","messages":[{"role":"user","content":"hi"}]}`)
	res.Body.Close()
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("refused account: status %d, want 502", res.StatusCode)
	}
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", bad); st != state.StatusAutoDisabled {
		t.Errorf("channel with a refused account: status %d, want auto-disabled", st)
	}
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", chID); st != state.StatusEnabled {
		t.Errorf("working channel: status %d", st)
	}
}
