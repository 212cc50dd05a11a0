package tgi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"oneapi/relay/adaptor"
)

// BenchmarkGenerateStream converts a 20-token native stream (the bench's
// tgi-stream scenario).
func BenchmarkGenerateStream(b *testing.B) {
	var sse bytes.Buffer
	for i := 0; i < 19; i++ {
		fmt.Fprintf(&sse, "data:{\"index\":%d,\"token\":{\"id\":%d,\"text\":\"w%d \",\"logprob\":-0.25,\"special\":false},\"generated_text\":null,\"details\":null}\n\n", i+1, 1000+i, i)
	}
	fmt.Fprint(&sse, "data:{\"index\":20,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.1,\"special\":true},\"generated_text\":\"w0 w1\",\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":20,\"seed\":null,\"input_length\":12}}\n\n")
	data := sse.Bytes()
	a := New()
	req := &adaptor.Request{Mode: adaptor.ModeChat, Model: "gpt-4o-mini", Stream: true}
	hreq := httptest.NewRequest(http.MethodPost, "http://tgi/generate_stream", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(data)), Request: hreq}
		if _, err := a.DecodeStream(req, resp, func(adaptor.Event) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
