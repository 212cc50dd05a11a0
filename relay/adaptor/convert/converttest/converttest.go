// Package converttest turns what a converting adaptor does into text for
// golden files: the upstream request it builds, what it makes of a reply,
// a stream and an error reply. Random ids and times are normalised so the
// transcripts are stable.
package converttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/adaptortest"
	"oneapi/relay/adaptor/outbound"
)

var (
	hexID   = regexp.MustCompile(`[0-9a-f]{24,}`)
	created = regexp.MustCompile(`"created": ?\d+`)
)

// Normalize replaces the random parts of a transcript.
func Normalize(b []byte) []byte {
	b = hexID.ReplaceAllFunc(b, func(m []byte) []byte {
		if len(m) == 24 { // convert.ID; longer runs are hashes and signatures
			return []byte("RANDOM")
		}
		return m
	})
	return created.ReplaceAll(b, []byte(`"created":0`))
}

// Context is a context carrying client, for NewRequest.
func Context(client outbound.Doer) context.Context {
	if client == nil {
		client = http.DefaultClient
	}
	return outbound.WithClient(context.Background(), client)
}

// Request runs a.NewRequest and prints the request: method, URL, the
// headers named (in that order; "" values are left out) and the body,
// indented.
func Request(t *testing.T, ctx context.Context, a adaptor.Adaptor, ch *adaptor.Channel, req *adaptor.Request, headers ...string) []byte {
	t.Helper()
	r, err := a.NewRequest(ctx, ch, req)
	var out bytes.Buffer
	if err != nil {
		fmt.Fprintf(&out, "error: %v\n", err)
		printUpstreamError(&out, err)
		return out.Bytes()
	}
	fmt.Fprintf(&out, "%s %s\n", r.Method, r.URL.String())
	for _, h := range headers {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(&out, "%s: %s\n", h, v)
		}
	}
	if r.Body != nil {
		body, _ := io.ReadAll(r.Body)
		out.WriteByte('\n')
		out.Write(Indent(body))
	}
	return Normalize(out.Bytes())
}

// Indent pretty-prints JSON (other bytes are kept as they are).
func Indent(b []byte) []byte {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return append(b, '\n')
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// Response runs a.DecodeResponse on a 200 reply with body and prints the
// body it returns, the usage and the error.
func Response(t *testing.T, a adaptor.Adaptor, req *adaptor.Request, httpReq *http.Request, body []byte) []byte {
	t.Helper()
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: httpReq}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("data:")) || bytes.HasPrefix(bytes.TrimSpace(body), []byte("event:")) {
		resp.Header.Set("Content-Type", "text/event-stream")
		resp.ContentLength = -1
	}
	got, usage, err := a.DecodeResponse(req, resp)
	var out bytes.Buffer
	if got != nil {
		out.WriteString("body:\n")
		out.Write(Indent(got))
	}
	fmt.Fprintf(&out, "usage: %s\n", adaptortest.FormatUsage(usage))
	if err != nil {
		fmt.Fprintf(&out, "error: %v\n", err)
		printUpstreamError(&out, err)
	}
	return Normalize(out.Bytes())
}

// Stream replays the SSE bytes through a.DecodeStream and prints every
// event sent, the usage and the error.
func Stream(t *testing.T, a adaptor.Adaptor, req *adaptor.Request, httpReq *http.Request, sse []byte) []byte {
	t.Helper()
	resp := adaptortest.SSEResponse(sse)
	resp.Request = httpReq
	var out bytes.Buffer
	usage, err := a.DecodeStream(req, resp, func(ev adaptor.Event) error {
		if !json.Valid(ev.Data) {
			t.Errorf("sent invalid JSON: %s", ev.Data)
		}
		out.WriteString("send: ")
		if ev.UsageOnly {
			out.WriteString("(usage only) ")
		}
		fmt.Fprintf(&out, "%s\n", ev.Data)
		return nil
	})
	fmt.Fprintf(&out, "usage: %s\n", adaptortest.FormatUsage(usage))
	if err != nil {
		fmt.Fprintf(&out, "error: %v\n", err)
		printUpstreamError(&out, err)
	}
	return Normalize(out.Bytes())
}

// Error runs a.DecodeError on a reply with status and body.
func Error(t *testing.T, a adaptor.Adaptor, status int, header http.Header, body []byte) []byte {
	t.Helper()
	if header == nil {
		header = http.Header{"Content-Type": {"application/json"}}
	}
	ue := a.DecodeError(&http.Response{StatusCode: status, Header: header, Body: io.NopCloser(bytes.NewReader(body))})
	var out bytes.Buffer
	printUpstreamError(&out, ue)
	return out.Bytes()
}

func printUpstreamError(out *bytes.Buffer, err error) {
	var ue *adaptor.UpstreamError
	if errors.As(err, &ue) {
		fmt.Fprintf(out, "upstream error: status=%d type=%q code=%q class=%v retry_after=%v\nmessage: %s\n", ue.Status, ue.Type, ue.Code, ue.Class, ue.RetryAfter, ue.Message)
	}
}

// Headers prints a header set, sorted, for goldens of requests an adaptor
// makes on its own (token exchanges, polls).
func Headers(h http.Header) string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(h[k], ", "))
	}
	return b.String()
}
