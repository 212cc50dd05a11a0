// Package adaptortest is what the adaptors' tests share: golden files, and
// recorded streams replayed through DecodeStream into a golden transcript.
package adaptortest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"oneapi/relay/adaptor"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// CompareGolden compares got with the golden file at path, or rewrites the
// file when the test runs with -update (pkgsite's CompareWithGolden).
func CompareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

// SSEResponse is a 200 event-stream reply with body.
func SSEResponse(body []byte) *http.Response {
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"text/event-stream"}},
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: -1,
	}
}

// ReplayStream runs the recorded stream at ssePath through a.DecodeStream
// and returns its transcript: each payload sent, the usage, and the error
// with its UpstreamError, a line each. onSend, if not nil, sees each
// payload too. The usage and error are DecodeStream's.
func ReplayStream(t *testing.T, a adaptor.Adaptor, req *adaptor.Request, ssePath string, onSend func([]byte)) ([]byte, adaptor.Usage, error) {
	t.Helper()
	in, err := os.ReadFile(ssePath)
	if err != nil {
		t.Fatal(err)
	}
	return ReplayResponse(t, a, req, SSEResponse(in), onSend)
}

// ReplayResponse is ReplayStream for a reply already made, for streams
// that are not SSE (Bedrock's event stream).
func ReplayResponse(t *testing.T, a adaptor.Adaptor, req *adaptor.Request, resp *http.Response, onSend func([]byte)) ([]byte, adaptor.Usage, error) {
	t.Helper()
	var out bytes.Buffer
	usage, err := a.DecodeStream(req, resp, func(ev adaptor.Event) error {
		if onSend != nil {
			onSend(ev.Data)
		}
		out.WriteString("send: ")
		if ev.Name != nil {
			fmt.Fprintf(&out, "event=%s ", ev.Name)
		}
		if ev.UsageOnly {
			out.WriteString("(usage only) ")
		}
		fmt.Fprintf(&out, "%s\n", ev.Data)
		return nil
	})
	fmt.Fprintf(&out, "usage: %s\n", FormatUsage(usage))
	if err != nil {
		fmt.Fprintf(&out, "error: %v\n", err)
		var ue *adaptor.UpstreamError
		if errors.As(err, &ue) {
			fmt.Fprintf(&out, "upstream error: status=%d type=%q code=%q class=%v\n", ue.Status, ue.Type, ue.Code, ue.Class)
		}
	}
	return out.Bytes(), usage, err
}

// FormatUsage prints the counters that are set, for transcripts.
func FormatUsage(u adaptor.Usage) string {
	s := fmt.Sprintf("input=%d output=%d", u.Input, u.Output)
	for _, c := range []struct {
		name string
		n    int
	}{{"cache_read", u.CacheRead}, {"cache_write", u.CacheWrite}, {"audio_in", u.AudioIn}, {"image_in", u.ImageIn},
		{"reasoning", u.Reasoning}, {"audio_out", u.AudioOut}, {"image_out", u.ImageOut}, {"web_search", u.WebSearch}} {
		if c.n != 0 {
			s += fmt.Sprintf(" %s=%d", c.name, c.n)
		}
	}
	return s + fmt.Sprintf(" reported=%v", u.Reported)
}

// Usage is a reported usage of input and output tokens, for expectations.
func Usage(input, output int) adaptor.Usage {
	u := adaptor.Usage{Reported: true}
	u.Input, u.Output = input, output
	return u
}
