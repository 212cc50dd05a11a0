package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
)

// The Messages entrance driven by Anthropic's own Go SDK, against an
// OpenAI, an Anthropic and a Gemini channel: replies, streams (which the
// SDK's accumulator rebuilds, usage included), count_tokens, the model
// list, and every request billed once with the usage upstream reported.

func anthropicClient(b *bundle, key string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(b.srv.URL+"/"), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func messagesParams(model string) anthropic.MessageNewParams {
	return anthropic.MessageNewParams{
		Model:     anthropic.Model(model),
		MaxTokens: 256,
		System:    []anthropic.TextBlockParam{{Text: "Answer briefly."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello"))},
	}
}

func TestMessagesEntranceWithAnthropicSDK(t *testing.T) {
	b := setup(t)
	openaiUp := newUpstream(t, okChat)
	b.channel(openaiUp.URL, channelOpts{models: "gpt-4o-mini"})
	b.channel(anthropicUpstream(t).URL, channelOpts{typ: adaptor.TypeAnthropic, models: claudeModel, systemPrompt: "You are terse."})
	b.channel(geminiUpstream(t).URL, channelOpts{typ: adaptor.TypeGemini, models: geminiModel})
	client := anthropicClient(b, b.token(tokenOpts{}))
	ctx := context.Background()

	for _, tc := range []struct{ model, text, streamed string }{
		{"gpt-4o-mini", "Hello there!", "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 "},
		{claudeModel, "Hello there!", "w0 w1 w2 w3 w4 "},
		{geminiModel, "Hello there!", "w0 w1 w2 w3 end"},
	} {
		msg, err := client.Messages.New(ctx, messagesParams(tc.model))
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != tc.text || msg.StopReason != anthropic.StopReasonEndTurn ||
			msg.Usage.InputTokens != 12 || msg.Usage.OutputTokens != 20 || msg.Role != "assistant" {
			t.Errorf("%s reply: %+v", tc.model, msg)
		}

		stream := client.Messages.NewStreaming(ctx, messagesParams(tc.model))
		var acc anthropic.Message
		var names []string
		for stream.Next() {
			ev := stream.Current()
			names = append(names, ev.Type)
			if err := acc.Accumulate(ev); err != nil {
				t.Fatalf("%s accumulate: %v", tc.model, err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s stream: %v", tc.model, err)
		}
		if len(acc.Content) != 1 || acc.Content[0].Text != tc.streamed || acc.StopReason != anthropic.StopReasonEndTurn || acc.Usage.OutputTokens != 20 {
			t.Errorf("%s stream: %+v usage %+v", tc.model, acc.Content, acc.Usage)
		}
		if names[0] != "message_start" || names[len(names)-1] != "message_stop" || names[len(names)-2] != "message_delta" {
			t.Errorf("%s events %v", tc.model, names)
		}
		if acc.Usage.InputTokens != 12 {
			t.Errorf("%s: input usage %d", tc.model, acc.Usage.InputTokens)
		}

		n, err := client.Messages.CountTokens(ctx, anthropic.MessageCountTokensParams{
			Model:    anthropic.Model(tc.model),
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Say hello"))},
		})
		if err != nil || n.InputTokens <= 0 {
			t.Errorf("%s count_tokens: %v %+v", tc.model, err, n)
		}
	}

	// The OpenAI channel got the canonical chat request.
	got := openaiUp.lastBody()
	msgs, _ := got["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || got["max_tokens"] != float64(256) {
		t.Errorf("converted request = %v", got)
	}

	page, err := client.Models.List(ctx, anthropic.ModelListParams{})
	if err != nil || len(page.Data) != 3 || page.Data[0].Type != "model" {
		t.Errorf("models: %v %+v", err, page)
	}

	b.settled(6)
	for _, m := range []string{"gpt-4o-mini", claudeModel, geminiModel} {
		want := testCost(12, 20, pricing.DefaultModelRatio[m], pricing.DefaultCompletionRatio[m])
		if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = $1 AND quota = $2 AND prompt_tokens = 12 AND completion_tokens = 20", m, want); n != 2 {
			t.Errorf("%s: %d log rows billed %d, want 2", m, n, want)
		}
	}
	if n := b.scalar("SELECT count(*) FROM logs"); n != 6 {
		t.Errorf("%d log rows, want 6 (count_tokens is not billed)", n)
	}
}

// TestMessagesErrorsInAnthropicShape: every refusal is an *anthropic.Error
// with Anthropic's type.
func TestMessagesErrorsInAnthropicShape(t *testing.T) {
	b := setup(t)
	b.channel(newUpstream(t, okChat).URL, channelOpts{models: "gpt-4o-mini"})
	ctx := context.Background()
	poor := b.user("poor", 1, 0)
	for _, tc := range []struct {
		name, key, model string
		status           int
		typ              string
	}{
		{"bad key", "sk-wrong", "gpt-4o-mini", 401, "authentication_error"},
		{"unknown model", b.token(tokenOpts{}), "no-such-model", 404, "not_found_error"},
		{"quota", b.token(tokenOpts{user: &poor}), "gpt-4o-mini", 403, "billing_error"},
	} {
		client := anthropicClient(b, tc.key)
		_, err := client.Messages.New(ctx, messagesParams(tc.model))
		var ae *anthropic.Error
		if !asAnthropicError(err, &ae) || ae.StatusCode != tc.status || !strings.Contains(ae.RawJSON(), `"type":"`+tc.typ+`"`) ||
			!strings.Contains(ae.RawJSON(), `"type":"error"`) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// A body that is not a Messages request.
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/messages", strings.NewReader(`{"model":"gpt-4o-mini","messages":[]}`))
	req.Header.Set("x-api-key", b.token(tokenOpts{}))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(raw), `"type":"invalid_request_error"`) {
		t.Errorf("empty messages = %d %s", res.StatusCode, raw)
	}
}

func asAnthropicError(err error, target **anthropic.Error) bool {
	e, ok := err.(*anthropic.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestMessagesPassthroughToAnthropic: an Anthropic channel gets the
// client's bytes and headers (thinking, cache_control, anthropic-beta)
// and the client gets Anthropic's reply and events as they were, billed
// from their usage (cache reads included).
func TestMessagesPassthroughToAnthropic(t *testing.T) {
	b := setup(t)
	var mu sync.Mutex
	var bodies []string
	var betas []string
	up := anthropicMessagesUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(body))
		betas = append(betas, r.Header.Get("anthropic-beta")+"|"+r.Header.Get("anthropic-version"))
		mu.Unlock()
		if !strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"msg_up","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"thinking","thinking":"hmm","signature":"sig1"},{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":100,"output_tokens":7}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range []string{
			`message_start`, `{"type":"message_start","message":{"id":"msg_up","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"usage":{"input_tokens":10,"cache_read_input_tokens":100,"output_tokens":1}}}`,
			`content_block_start`, `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
			`content_block_delta`, `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`,
			`content_block_delta`, `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig1"}}`,
			`content_block_stop`, `{"type":"content_block_stop","index":0}`,
			`content_block_start`, `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
			`content_block_delta`, `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hi"}}`,
			`content_block_stop`, `{"type":"content_block_stop","index":1}`,
			`message_delta`, `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`,
			`message_stop`, `{"type":"message_stop"}`,
		} {
			if strings.HasPrefix(e, "{") {
				fmt.Fprintf(w, "data: %s\n\n", e)
			} else {
				fmt.Fprintf(w, "event: %s\n", e)
			}
		}
	})
	b.channel(up.URL, channelOpts{typ: adaptor.TypeAnthropic, models: claudeModel})
	client := anthropicClient(b, b.token(tokenOpts{}))
	ctx := context.Background()
	params := anthropic.MessageNewParams{
		Model: claudeModel, MaxTokens: 2048,
		Thinking: anthropic.ThinkingConfigParamOfEnabled(1024),
		System:   []anthropic.TextBlockParam{{Text: "Long system prompt", CacheControl: anthropic.NewCacheControlEphemeralParam()}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	}
	beta := option.WithHeader("anthropic-beta", "interleaved-thinking-2025-05-14")
	session := option.WithHeader("X-Claude-Code-Session-Id", "5f0c1d2e-sess")
	msg, err := client.Messages.New(ctx, params, beta, session)
	if err != nil || len(msg.Content) != 2 || msg.Content[0].Signature != "sig1" || msg.Usage.CacheReadInputTokens != 100 {
		t.Fatalf("reply: %v %+v", err, msg)
	}
	stream := client.Messages.NewStreaming(ctx, params, beta)
	var acc anthropic.Message
	for stream.Next() {
		_ = acc.Accumulate(stream.Current())
	}
	if err := stream.Err(); err != nil || len(acc.Content) != 2 || acc.Content[0].Signature != "sig1" || acc.Content[1].Text != "Hi" {
		t.Fatalf("stream: %v %+v", err, acc.Content)
	}
	mu.Lock()
	for i, body := range bodies {
		if !strings.Contains(body, `"cache_control":{"type":"ephemeral"}`) || !strings.Contains(body, `"budget_tokens":1024`) {
			t.Errorf("request %d not passed through: %s", i, body)
		}
		if betas[i] != "interleaved-thinking-2025-05-14|2026-10-21" { // the SDK's version, not the adaptor's
			t.Errorf("request %d headers: %s", i, betas[i])
		}
	}
	mu.Unlock()
	b.settled(2)
	m := claudeModel
	// Claude's cache reads cost a tenth of input in the default prices.
	price := pricing.Price{Model: pricing.DefaultModelRatio[m], Completion: pricing.DefaultCompletionRatio[m], CacheRead: 0.1, Group: 1}
	want := pricing.Cost(price, pricing.Usage{Input: 110, CacheRead: 100, Output: 7})
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND quota = $1 AND prompt_tokens = 110 AND completion_tokens = 7 AND cache_read_tokens = 100", want); n != 2 {
		var rows string
		_ = b.pool.QueryRow(context.Background(), "SELECT string_agg(concat_ws(' ', quota, prompt_tokens, completion_tokens, cache_read_tokens, content), '; ') FROM logs").Scan(&rows)
		t.Errorf("log rows billed %s, want 2 of %d", rows, want)
	}
	if n := b.scalar("SELECT count(*) FROM logs WHERE content LIKE '%claude-code session 5f0c1d2e-sess%'"); n != 1 {
		t.Errorf("%d log rows name the Claude Code session, want 1", n)
	}
}

// TestMessagesToolsConverted: tools, tool_choice, a tool call and its
// result cross an OpenAI channel in both directions, streamed too.
func TestMessagesToolsConverted(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		if strings.Contains(string(body), `"role":"tool"`) {
			okChat(w, r, body)
			return
		}
		if strings.Contains(string(body), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`+"\n\n")
			fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`+"\n\n")
			fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":"tool_calls"}]}`+"\n\n")
			fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}`+"\n\ndata: [DONE]\n\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"completion_tokens":9,"total_tokens":39}}`)
	})
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini"})
	client := anthropicClient(b, b.token(tokenOpts{}))
	ctx := context.Background()
	tool := anthropic.ToolUnionParamOfTool(anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}, "get_weather")
	params := anthropic.MessageNewParams{
		Model: "gpt-4o-mini", MaxTokens: 100, Tools: []anthropic.ToolUnionParam{tool},
		ToolChoice: anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}},
		Messages:   []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Weather in Paris?"))},
	}
	msg, err := client.Messages.New(ctx, params)
	if err != nil || len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" || msg.Content[0].Name != "get_weather" ||
		string(msg.Content[0].Input) != `{"city":"Paris"}` || msg.StopReason != anthropic.StopReasonToolUse {
		t.Fatalf("tool reply: %v %+v", err, msg)
	}
	got := up.lastBody()
	if got["tool_choice"] != "required" || len(got["tools"].([]any)) != 1 {
		t.Errorf("converted tools: %v", got)
	}

	stream := client.Messages.NewStreaming(ctx, params)
	var acc anthropic.Message
	for stream.Next() {
		if err := acc.Accumulate(stream.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := stream.Err(); err != nil || len(acc.Content) != 1 || acc.Content[0].ID != "call_1" || string(acc.Content[0].Input) != `{"city":"Paris"}` ||
		acc.StopReason != anthropic.StopReasonToolUse || acc.Usage.OutputTokens != 9 {
		t.Fatalf("tool stream: %v %+v %+v", err, acc.Content, acc.Usage)
	}

	params.Messages = append(params.Messages, acc.ToParam(),
		anthropic.NewUserMessage(anthropic.NewToolResultBlock("call_1", "18°C and sunny", false)))
	msg, err = client.Messages.New(ctx, params)
	if err != nil || msg.Content[0].Text != "Hello there!" {
		t.Fatalf("after tool result: %v %+v", err, msg)
	}
	got = up.lastBody()
	msgs := got["messages"].([]any)
	last := msgs[len(msgs)-1].(map[string]any)
	call := msgs[len(msgs)-2].(map[string]any)
	if last["role"] != "tool" || last["tool_call_id"] != "call_1" || last["content"] != "18°C and sunny" || call["tool_calls"] == nil {
		t.Errorf("tool result converted to %v", msgs)
	}
	b.settled(3)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_tokens = 30 AND completion_tokens = 9"); n != 2 {
		t.Errorf("%d tool calls billed at their usage, want 2", n)
	}
}

// TestMessagesStreamErrorIsAnAnthropicEvent: an upstream that breaks off
// mid-stream ends the client's stream with Anthropic's error event.
func TestMessagesStreamErrorIsAnAnthropicEvent(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}`+"\n\n")
	})
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini"})
	req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/messages", strings.NewReader(`{"model":"gpt-4o-mini","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("x-api-key", b.token(tokenOpts{}))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	s := string(raw)
	if !strings.HasPrefix(s, "event: message_start\n") || !strings.Contains(s, "event: ping\n") || !strings.Contains(s, "event: content_block_delta") || !strings.Contains(s, "event: error\ndata: {\"error\":{\"message\":") ||
		strings.Contains(s, "message_stop") || strings.Contains(s, "[DONE]") {
		t.Fatalf("stream = %s", s)
	}
	var ev struct{ Type string }
	line := s[strings.LastIndex(s, "data: ")+6:]
	if json.Unmarshal([]byte(strings.TrimSpace(line)), &ev) != nil || ev.Type != "error" {
		t.Errorf("last event %q", line)
	}
	b.settled(1)
}
