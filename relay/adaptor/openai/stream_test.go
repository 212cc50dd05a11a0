package openai

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
)

// TestDecodeStreamGolden replays recorded streams (testdata/stream/*.sse)
// and compares what reaches send, the usage and the error with
// testdata/stream/*.golden.
func TestDecodeStreamGolden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		mode          adaptor.Mode
		wantTruncated bool
	}{
		{name: "chat"},
		{name: "openrouter_crlf"},
		{name: "no_usage"},
		{name: "truncated", wantTruncated: true},
		{name: "error_event", wantTruncated: true},
		{name: "named_error_event", wantTruncated: true},
		{name: "json_instead_of_sse", wantTruncated: true},
		{name: "json_no_newline", wantTruncated: true},
		{name: "responses", mode: adaptor.ModeResponses},
		{name: "responses_failed", mode: adaptor.ModeResponses, wantTruncated: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, err := adaptortest.ReplayStream(t, New(), &adaptor.Request{Mode: tt.mode, Stream: true},
				filepath.Join("testdata", "stream", tt.name+".sse"), nil)
			if got := errors.Is(err, adaptor.ErrStreamTruncated); got != tt.wantTruncated {
				t.Errorf("errors.Is(err, ErrStreamTruncated) = %v, want %v (err: %v)", got, tt.wantTruncated, err)
			}
			adaptortest.CompareGolden(t, filepath.Join("testdata", "stream", tt.name+".golden"), out)
		})
	}
}

func TestDecodeStreamSendError(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile(filepath.Join("testdata", "stream", "chat.sse"))
	if err != nil {
		t.Fatal(err)
	}
	clientGone := errors.New("client went away")
	calls := 0
	_, err = New().DecodeStream(&adaptor.Request{Stream: true}, adaptortest.SSEResponse(in), func(adaptor.Event) error {
		calls++
		if calls == 2 {
			return clientGone
		}
		return nil
	})
	if err != clientGone {
		t.Errorf("err = %v, want the error send returned, unwrapped", err)
	}
	if calls != 2 {
		t.Errorf("send called %d times, want 2 (reading stops at the first error)", calls)
	}
}

func TestDecodeStreamLongLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{name: "fits the read buffer", size: 1000},
		{name: "longer than the read buffer", size: 3 << 20}, // a 3 MB image event
		{name: "over the limit", size: maxEventSize + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			payload := `{"type":"image","b64":"` + strings.Repeat("A", tt.size) + `"}`
			in := "data: " + payload + "\n\ndata: {\"after\":true}\n\ndata: [DONE]\n\n"
			var got []string
			_, err := New().DecodeStream(&adaptor.Request{Stream: true}, adaptortest.SSEResponse([]byte(in)), func(ev adaptor.Event) error {
				data := ev.Data
				got = append(got, string(data))
				return nil
			})
			if tt.wantErr {
				if !errors.Is(err, adaptor.ErrStreamTruncated) {
					t.Fatalf("err = %v, want ErrStreamTruncated", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0] != payload || got[1] != `{"after":true}` {
				t.Errorf("got %d events (first %d bytes), want the long payload then {\"after\":true}", len(got), len(got[0]))
			}
		})
	}
}

// benchStream is a typical 20-event chat stream: a role chunk, 17 content
// chunks, the finish chunk and the usage chunk, all with include_usage on.
var benchStream = func() []byte {
	var b bytes.Buffer
	chunk := func(choice, usage string) {
		fmt.Fprintf(&b, `data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1732000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_fake","choices":[%s],"usage":%s}`+"\n\n", choice, usage)
	}
	chunk(`{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}`, "null")
	for i := range 17 {
		chunk(fmt.Sprintf(`{"index":0,"delta":{"content":" word%d"},"logprobs":null,"finish_reason":null}`, i), "null")
	}
	chunk(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`, "null")
	chunk(``, `{"prompt_tokens":11,"completion_tokens":18,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}()

func BenchmarkDecodeStream(b *testing.B) {
	a := New()
	req := &adaptor.Request{Stream: true}
	body := &rewindReader{}
	resp := &http.Response{StatusCode: 200, Body: body, ContentLength: -1}
	events := 0
	send := func(adaptor.Event) error { events++; return nil }
	b.SetBytes(int64(len(benchStream)))
	b.ReportAllocs()
	for b.Loop() {
		body.Reset(benchStream)
		if _, err := a.DecodeStream(req, resp, send); err != nil {
			b.Fatal(err)
		}
	}
	if events/b.N != 20 {
		b.Fatalf("%d events per stream, want 20", events/b.N)
	}
}

// rewindReader is a reusable body, so the benchmark measures the decoder
// rather than allocating a reader per iteration.
type rewindReader struct{ bytes.Reader }

func (r *rewindReader) Close() error { return nil }
