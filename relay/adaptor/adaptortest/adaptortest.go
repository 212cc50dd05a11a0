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
	var out bytes.Buffer
	usage, err := a.DecodeStream(req, SSEResponse(in), func(data []byte) error {
		if onSend != nil {
			onSend(data)
		}
		fmt.Fprintf(&out, "send: %s\n", data)
		return nil
	})
	fmt.Fprintf(&out, "usage: prompt=%d completion=%d reported=%v\n", usage.PromptTokens, usage.CompletionTokens, usage.Reported)
	if err != nil {
		fmt.Fprintf(&out, "error: %v\n", err)
		var ue *adaptor.UpstreamError
		if errors.As(err, &ue) {
			fmt.Fprintf(&out, "upstream error: status=%d type=%q code=%q class=%v\n", ue.Status, ue.Type, ue.Code, ue.Class)
		}
	}
	return out.Bytes(), usage, err
}
