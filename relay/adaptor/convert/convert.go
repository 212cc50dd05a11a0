// Package convert is what the adaptors that translate OpenAI's format to a
// provider's own share: reading the request the relay prepared, building
// OpenAI replies and stream chunks, and the errors for requests a provider
// cannot take and for replies that make no sense.
package convert

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// Bounds of what is read of a reply.
const (
	MaxReply      = 64 << 20
	MaxErrorReply = 64 << 10
	// MaxEvent bounds one SSE line.
	MaxEvent = 8 << 20
)

// ChatRequest decodes the OpenAI chat body the relay prepared (model
// mapping, system prompt and output limit applied). Read it rather than
// adaptor.Request.Chat, which is the client's body before those.
func ChatRequest(body []byte) (*oai.ChatRequest, error) {
	var cr oai.ChatRequest
	if err := json.Unmarshal(body, &cr); err != nil {
		return nil, ClientError("the request body is not a chat completion request: %v", err)
	}
	if len(cr.Messages) == 0 {
		return nil, ClientError("messages must not be empty")
	}
	return &cr, nil
}

// ClientError is a request the provider cannot take: the client's to fix,
// answered 400 without trying another channel.
func ClientError(format string, args ...any) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadRequest,
		Message: fmt.Sprintf(format, args...),
		Type:    "invalid_request_error",
		Class:   adaptor.ClassClient,
	}
}

// Unsupported is the error for an endpoint the provider does not serve. It
// is a plain error, so the relay tries another channel.
func Unsupported(provider string, mode adaptor.Mode) error {
	return fmt.Errorf("%s is not served by %s channels", mode, provider)
}

// BadReply is a 2xx reply without a usable answer (malformed, truncated,
// or of an unknown shape): a 502 the relay may retry elsewhere.
func BadReply(provider string, body []byte) *adaptor.UpstreamError {
	msg := provider + " answered without a usable reply"
	if s := adaptor.Snippet(body, 200); s != "" {
		msg += ": " + s
	}
	return &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: msg, Type: "upstream_error", Code: "bad_upstream_reply", Class: adaptor.ClassRetry}
}

// Error builds the UpstreamError for a provider's error, with the secrets
// redacted from the message and Retry-After read from header (nil for
// stream events). typ and code are the provider's own, for the client.
func Error(status int, header http.Header, typ, code, msg string, class adaptor.ErrorClass, secrets ...string) *adaptor.UpstreamError {
	if msg == "" {
		msg = fmt.Sprintf("upstream returned status %d %s", status, http.StatusText(status))
	}
	if typ == "" {
		typ = "upstream_error"
	}
	ue := &adaptor.UpstreamError{Status: status, Message: adaptor.Redact(msg, secrets...), Type: typ, Code: code, Class: class}
	if header != nil {
		ue.RetryAfter = adaptor.ParseRetryAfter(header)
	}
	return ue
}

// StatusClass is the class of an error told only by its HTTP status.
func StatusClass(status int) adaptor.ErrorClass { return adaptor.Classify(status, "", "") }

// ReadReply reads a 2xx reply whole; a read failure or an oversize reply
// comes back as an *adaptor.UpstreamError. It sets the reply's
// Content-Type to JSON, which is what a converting adaptor makes of it (the
// relay passes that header on to the client).
func ReadReply(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	resp.Header.Set("Content-Type", "application/json")
	body, err := adaptor.ReadBody(resp, MaxReply)
	if err != nil {
		if errors.Is(err, adaptor.ErrBodyTooLarge) {
			return nil, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream reply too large", Type: "upstream_error", Class: adaptor.ClassRetry, Err: err}
		}
		return nil, adaptor.TransportError(err)
	}
	return body, nil
}

// ReadError reads what an error reply says, bounded.
func ReadError(resp *http.Response) []byte {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorReply))
	return b
}

// Truncated wraps err as a stream that ended before its normal end.
func Truncated(err error) error {
	return fmt.Errorf("%w: %w", adaptor.ErrStreamTruncated, err)
}

// Cut is a stream that ended before its normal end, for the reason given.
func Cut(format string, args ...any) error {
	return fmt.Errorf("%w: %s", adaptor.ErrStreamTruncated, fmt.Sprintf(format, args...))
}

// BadEvent is a stream event that could not be read.
func BadEvent(provider string, err error) error {
	return Truncated(&adaptor.UpstreamError{Status: http.StatusBadGateway, Message: provider + " sent a malformed stream event",
		Type: "upstream_error", Code: "bad_upstream_reply", Class: adaptor.ClassRetry, Err: err})
}

// ID returns 24 random hex digits, for completion and call ids.
func ID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// BaseURL is the channel's base URL, or its type's default, parsed and
// checked to be http(s), with any trailing slash removed from its path.
func BaseURL(ch *adaptor.Channel) (*url.URL, error) {
	base := strings.TrimSpace(ch.BaseURL)
	if base == "" {
		t, _ := adaptor.TypeByID(ch.Type)
		base = t.BaseURL
	}
	if base == "" {
		return nil, errors.New("the channel has no base URL and its type has no default")
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// JoinPath returns base with elems appended to its path, each escaped as
// one segment: a model name is the client's text and must not reach
// another path or a query.
func JoinPath(base *url.URL, elems ...string) string {
	u := *base
	for _, e := range elems {
		u.Path += "/" + e
	}
	raw := base.EscapedPath()
	for _, e := range elems {
		raw += "/" + url.PathEscape(e)
	}
	u.RawPath = raw
	return u.String()
}

// Text returns a message's text. Content a text-only provider cannot take
// (images, audio, files) is the client's to fix.
func Text(m *oai.Message, provider string) (string, error) {
	parts, err := m.Parts()
	if err != nil {
		return "", ClientError("%v", err)
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type != oai.PartText {
			return "", ClientError("%s channels take text only, not %s content", provider, p.Type)
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// NoTools refuses a request with tools, for providers that have none.
func NoTools(cr *oai.ChatRequest, provider string) error {
	if len(cr.Tools) > 0 || len(cr.Functions) > 0 {
		return ClientError("%s channels do not take tools", provider)
	}
	for i := range cr.Messages {
		if cr.Messages[i].Role == "tool" || cr.Messages[i].Role == "function" || len(cr.Messages[i].ToolCalls) > 0 {
			return ClientError("%s channels do not take tool calls or tool results", provider)
		}
	}
	return nil
}

// OAIUsage is u in OpenAI's shape, nil when upstream reported none.
func OAIUsage(u adaptor.Usage) *oai.Usage {
	if !u.Reported {
		return nil
	}
	ou := &oai.Usage{PromptTokens: u.Input, CompletionTokens: u.Output, TotalTokens: u.Input + u.Output}
	if u.CacheRead > 0 {
		ou.PromptTokensDetails = &oai.PromptTokensDetails{CachedTokens: u.CacheRead}
	}
	if u.Reasoning > 0 {
		ou.CompletionTokensDetails = &oai.CompletionTokensDetails{ReasoningTokens: u.Reasoning}
	}
	return ou
}

// Tokens is a reported usage of input and output tokens.
func Tokens(input, output int) adaptor.Usage {
	u := adaptor.Usage{Reported: true}
	u.Input, u.Output = input, output
	u.Normalize()
	return u
}

// Reply encodes a one-choice chat.completion. A message with tool calls
// and no text gets content null, as OpenAI sends.
func Reply(id, model string, msg oai.Message, finish string, u adaptor.Usage) ([]byte, error) {
	msg.Role = "assistant"
	if len(msg.Content) == 0 {
		if len(msg.ToolCalls) > 0 {
			msg.Content = json.RawMessage("null")
		} else {
			msg.Content = oai.TextContent("")
		}
	}
	b, err := json.Marshal(oai.ChatResponse{
		ID: id, Object: "chat.completion", Created: time.Now().Unix(), Model: model,
		Choices: []oai.ChatChoice{{Message: msg, FinishReason: finish}},
		Usage:   OAIUsage(u),
	})
	if err != nil {
		return nil, fmt.Errorf("encode chat completion: %w", err)
	}
	return b, nil
}

// Embeddings encodes an embeddings list: vectors as floats, or as
// little-endian float32 base64 when the client asked for encoding_format
// base64 (the OpenAI SDKs' default). usage is the provider's count.
func Embeddings(model string, vectors [][]float64, encodingFormat string, u adaptor.Usage) ([]byte, error) {
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	type usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
		Usage  usage  `json:"usage"`
	}{Object: "list", Data: make([]item, len(vectors)), Model: model, Usage: usage{u.Input, u.Input}}
	for i, v := range vectors {
		var e any = v
		if v == nil {
			e = []float64{}
		}
		if encodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(float32(f)))
			}
			e = base64.StdEncoding.EncodeToString(b)
		}
		out.Data[i] = item{Object: "embedding", Index: i, Embedding: e}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode embeddings: %w", err)
	}
	return b, nil
}

// Image is one generated image: a URL or base64 data.
type Image struct {
	URL     string `json:"url,omitempty"`
	B64JSON string `json:"b64_json,omitempty"`
}

// Images encodes an images response.
func Images(images []Image) ([]byte, error) {
	b, err := json.Marshal(struct {
		Created int64   `json:"created"`
		Data    []Image `json:"data"`
	}{time.Now().Unix(), images})
	if err != nil {
		return nil, fmt.Errorf("encode images: %w", err)
	}
	return b, nil
}

var objectKey = []string{"object"}

// WithObject returns a JSON object with an "object" member set to object
// when it has none (OpenAI's SDKs and some clients read it; vendors with an
// OpenAI-like format often leave it out). data is returned as is otherwise.
func WithObject(data []byte, object string) []byte {
	var v [1][]byte
	if !adaptor.TopLevel(data, objectKey, v[:]) || v[0] != nil {
		return data
	}
	i := 0
	for i < len(data) && data[i] != '{' {
		i++
	}
	rest := data[i+1:]
	sep := ","
	if len(strings.TrimSpace(string(rest))) == 1 { // "{}"
		sep = ""
	}
	out := make([]byte, 0, len(data)+len(object)+14)
	out = append(out, `{"object":`...)
	out = append(out, oai.TextContent(object)...)
	out = append(out, sep...)
	return append(out, rest...)
}

// TextMessage is an assistant message with text content.
func TextMessage(text string) oai.Message {
	return oai.Message{Role: "assistant", Content: oai.TextContent(text)}
}
