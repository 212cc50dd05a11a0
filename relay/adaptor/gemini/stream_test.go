package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/oai"
)

// TestDecodeStreamGolden replays recorded streams (testdata/stream/*.sse)
// and compares what reaches send, the usage and the error with
// testdata/stream/*.golden.
func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		wantTruncated bool
	}{
		{name: "text"},
		{name: "function_call"},
		{name: "blocked"},
		{name: "safety_finish"},
		{name: "two_candidates"},
		{name: "multiline_event"},
		{name: "truncated", wantTruncated: true},
		{name: "cut_line", wantTruncated: true},
		{name: "one_candidate_unfinished", wantTruncated: true},
		{name: "error_event", wantTruncated: true},
		{name: "json_instead_of_sse", wantTruncated: true},
		{name: "malformed_event", wantTruncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := adaptortest.ReplayStream(t, New(), streamRequest(), filepath.Join("testdata", "stream", tt.name+".sse"), func(data []byte) {
				if !json.Valid(data) {
					t.Errorf("send got invalid JSON: %s", data)
				}
			})
			if got := errors.Is(err, adaptor.ErrStreamTruncated); got != tt.wantTruncated {
				t.Errorf("errors.Is(err, ErrStreamTruncated) = %v, want %v (err: %v)", got, tt.wantTruncated, err)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream", tt.name+".golden"), normalize(out))
		})
	}
}

func streamRequest() *adaptor.Request {
	return &adaptor.Request{Mode: adaptor.ModeChat, Model: "gemini-2.5-flash", Stream: true}
}

// collect replays a recorded stream and decodes every chunk sent.
func collect(t *testing.T, name string) ([]oai.ChatChunk, adaptor.Usage, error) {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", "stream", name+".sse"))
	if err != nil {
		t.Fatal(err)
	}
	var chunks []oai.ChatChunk
	usage, err := New().DecodeStream(streamRequest(), adaptortest.SSEResponse(in), func(ev adaptor.Event) error {
		data := ev.Data
		var c oai.ChatChunk
		if err := json.Unmarshal(data, &c); err != nil {
			t.Fatalf("chunk is not JSON: %v\n%s", err, data)
		}
		chunks = append(chunks, c)
		return nil
	})
	return chunks, usage, err
}

func TestStreamText(t *testing.T) {
	t.Parallel()
	chunks, usage, err := collect(t, "text")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	var finishes []string
	for i, c := range chunks {
		if c.ID != "chatcmpl-resp-1" || c.Object != "chat.completion.chunk" || c.Model != "gemini-2.5-flash" || c.Created == 0 {
			t.Errorf("chunk %d header: %+v", i, c)
		}
		for _, ch := range c.Choices {
			if (i == 0) != (ch.Delta.Role == "assistant") {
				t.Errorf("chunk %d role %q: want assistant on the first chunk only", i, ch.Delta.Role)
			}
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finishes = append(finishes, *ch.FinishReason)
			}
		}
	}
	if text.String() != "Hello world!" {
		t.Errorf("text %q, want %q", text.String(), "Hello world!")
	}
	if len(finishes) != 1 || finishes[0] != "stop" {
		t.Errorf("finish reasons %v, want [stop]", finishes)
	}
	last := chunks[len(chunks)-1]
	if last.Choices == nil || len(last.Choices) != 0 || last.Usage == nil ||
		last.Usage.PromptTokens != 8 || last.Usage.CompletionTokens != 4 || last.Usage.TotalTokens != 12 {
		t.Errorf("last chunk = %+v, want the usage chunk", last)
	}
	if usage != (adaptortest.Usage(8, 4)) {
		t.Errorf("usage = %+v", usage)
	}
}

func TestStreamFunctionCall(t *testing.T) {
	t.Parallel()
	chunks, usage, err := collect(t, "function_call")
	if err != nil {
		t.Fatal(err)
	}
	var (
		text    strings.Builder
		calls   []oai.ToolCall
		finish  string
		usageCh *oai.Usage
	)
	for _, c := range chunks {
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			calls = append(calls, ch.Delta.ToolCalls...)
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			usageCh = c.Usage
		}
	}
	if text.String() != "Let me check." {
		t.Errorf("text %q: thought parts must be left out", text.String())
	}
	if len(calls) != 2 {
		t.Fatalf("tool calls %+v, want 2", calls)
	}
	for i, tc := range calls {
		if tc.Index == nil || *tc.Index != i || tc.Type != "function" || tc.Function.Name != "get_weather" || !strings.HasPrefix(tc.ID, "call_") {
			t.Errorf("tool call %d = %+v", i, tc)
		}
	}
	if !strings.HasSuffix(calls[0].ID, thoughtSignatureSep+"U0lHMQ==") || strings.Contains(calls[1].ID, thoughtSignatureSep) {
		t.Errorf("ids %q %q: want the signature on the first call only", calls[0].ID, calls[1].ID)
	}
	if calls[0].Function.Arguments != `{"city":"Paris"}` || calls[1].Function.Arguments != `{"city":"London"}` {
		t.Errorf("arguments %q %q", calls[0].Function.Arguments, calls[1].Function.Arguments)
	}
	if finish != "tool_calls" {
		t.Errorf("finish_reason %q, want tool_calls", finish)
	}
	if usage != withParts(adaptortest.Usage(20, 55), 0, 40) {
		t.Errorf("usage = %+v, want prompt 20 completion 55 (15 + 40 thoughts)", usage)
	}
	if usageCh == nil || usageCh.CompletionTokensDetails == nil || usageCh.CompletionTokensDetails.ReasoningTokens != 40 || usageCh.TotalTokens != 75 {
		t.Errorf("usage chunk = %+v", usageCh)
	}
}

func TestStreamTruncatedKeepsUsage(t *testing.T) {
	t.Parallel()
	chunks, usage, err := collect(t, "truncated")
	if !errors.Is(err, adaptor.ErrStreamTruncated) {
		t.Fatalf("error %v, want ErrStreamTruncated", err)
	}
	for _, c := range chunks {
		if c.Usage != nil {
			t.Errorf("usage chunk sent for a truncated stream: %+v", c)
		}
	}
	if usage != (adaptortest.Usage(8, 4)) {
		t.Errorf("usage = %+v, want what was reported before the cut", usage)
	}
}

func TestStreamErrorEvent(t *testing.T) {
	t.Parallel()
	chunks, _, err := collect(t, "error_event")
	if !errors.Is(err, adaptor.ErrStreamTruncated) {
		t.Fatalf("error %v, want ErrStreamTruncated", err)
	}
	var ue *adaptor.UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v carries no *UpstreamError", err)
	}
	if ue.Status != 503 || ue.Class != adaptor.ClassRetry || ue.Type != "UNAVAILABLE" || !strings.Contains(ue.Message, "overloaded") {
		t.Errorf("upstream error = %+v", ue)
	}
	for _, c := range chunks {
		b, _ := json.Marshal(c)
		if strings.Contains(string(b), "overloaded") {
			t.Errorf("error event passed to send: %s", b)
		}
	}
}

func TestStreamSendError(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "stream", "text.sse"))
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("client gone")
	calls := 0
	_, err = New().DecodeStream(streamRequest(), adaptortest.SSEResponse(in), func(adaptor.Event) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("error %v after %d sends, want the send error after 1", err, calls)
	}
}

// TestStreamServer runs a stream end to end against a server speaking
// Gemini's SSE.
func TestStreamServer(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "stream", "text.sse"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/gw/v1alpha/models/gemini-2.5-flash:streamGenerateContent" || r.URL.RawQuery != "alt=sse" {
			t.Errorf("request URL %s", r.URL)
		}
		if r.Header.Get("x-goog-api-key") != testKey || strings.Contains(r.URL.RawQuery, "key") {
			t.Errorf("key not in the header only")
		}
		if r.Header.Get("Accept") != "text/event-stream" {
			t.Errorf("Accept %q", r.Header.Get("Accept"))
		}
		var body generateContentRequest
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("decode: %v", err)
		}
		if body.SystemInstruction == nil || body.SystemInstruction.Parts[0].Text != "channel prompt" {
			t.Errorf("systemInstruction = %+v: the channel's system prompt must come from req.Body", body.SystemInstruction)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		for ev := range bytes.SplitAfterSeq(in, []byte("\r\n\r\n")) {
			w.Write(ev)
			fl.Flush()
		}
	}))
	defer srv.Close()

	a := New()
	// req.Chat lacks the system prompt the relay put into req.Body.
	body := `{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"system","content":"channel prompt"},{"role":"user","content":"hi"}]}`
	req := chatRequest(t, body, true)
	req.Chat = &oai.ChatRequest{Model: "gemini-2.5-flash", Messages: []oai.Message{{Role: "user", Content: oai.TextContent("hi")}}}
	ch := testChannel(srv.URL+"/gw/", map[string]string{"api_version": "v1alpha"})
	hreq, err := a.NewRequest(context.Background(), ch, req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	n := 0
	usage, err := a.DecodeStream(req, resp, func(ev adaptor.Event) error {
		data := ev.Data
		n++
		var c oai.ChatChunk
		if err := json.Unmarshal(data, &c); err != nil {
			t.Errorf("chunk %s: %v", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("DecodeStream: %v", err)
	}
	if text.String() != "Hello world!" || n != 5 {
		t.Errorf("text %q in %d chunks, want %q in 5 (3 deltas, finish, usage)", text.String(), n, "Hello world!")
	}
	if !usage.Reported || usage.Input != 8 || usage.Output != 4 {
		t.Errorf("usage = %+v", usage)
	}
}

// withParts sets the cached and thinking counts Gemini reports.
func withParts(u adaptor.Usage, cached, thoughts int) adaptor.Usage {
	u.CacheRead, u.Reasoning = cached, thoughts
	return u
}
