// Package adaptor defines the interface every upstream provider implements,
// the values passed to it, the classification of upstream errors and the
// table of channel types.
//
// Adaptors translate formats only: they build the upstream HTTP request and
// turn the reply into OpenAI-format bytes plus usage. They never touch the
// database, quotas or retries; the relay acts on the ErrorClass they set.
// Provider packages live below this one (adaptor/openai, ...) and register
// themselves for their channel types with Register, so the relay finds them
// with For.
package adaptor

import (
	"context"
	"net/http"
	"strings"

	"oneapi/pricing"
	"oneapi/relay/oai"
)

// Mode is the kind of OpenAI endpoint a request is for.
type Mode int

// Modes, one per relayed OpenAI endpoint.
const (
	ModeChat Mode = iota
	ModeCompletions
	ModeEmbeddings
	ModeImages
	ModeAudioSpeech
	ModeAudioTranscription
	ModeAudioTranslation
	ModeModerations
	ModeResponses
	// ModeRerank is /v1/rerank in the shape Cohere, Jina and TEI-based
	// servers share: {model, query, documents, top_n}.
	ModeRerank

	// NumModes is the number of modes, for tables indexed by mode.
	NumModes = int(ModeRerank) + 1
)

var modePaths = [...]string{
	ModeChat:               "/v1/chat/completions",
	ModeCompletions:        "/v1/completions",
	ModeEmbeddings:         "/v1/embeddings",
	ModeImages:             "/v1/images/generations",
	ModeAudioSpeech:        "/v1/audio/speech",
	ModeAudioTranscription: "/v1/audio/transcriptions",
	ModeAudioTranslation:   "/v1/audio/translations",
	ModeModerations:        "/v1/moderations",
	ModeResponses:          "/v1/responses",
	ModeRerank:             "/v1/rerank",
}

// Path returns the OpenAI path of the mode, such as "/v1/chat/completions",
// or "" for an unknown mode.
func (m Mode) Path() string {
	if m < 0 || int(m) >= len(modePaths) {
		return ""
	}
	return modePaths[m]
}

// String returns the path without "/v1/", for logs: "chat/completions".
func (m Mode) String() string {
	if p := m.Path(); p != "" {
		return strings.TrimPrefix(p, "/v1/")
	}
	return "unknown"
}

// ModeForPath returns the mode whose Path is path (query string excluded).
func ModeForPath(path string) (Mode, bool) {
	for m, p := range modePaths {
		if p == path {
			return Mode(m), true
		}
	}
	return 0, false
}

// Channel is what an adaptor knows of a channel: a plain value copied from
// the in-memory state, never a database row.
type Channel struct {
	ID      int64
	Type    int
	Name    string
	Key     string
	BaseURL string // "" means the type's default (see TypeByID)
	// Config holds per-type settings such as "api_version" (Azure),
	// "region" or "organization" (OpenAI).
	Config map[string]string
}

// Request is one call to make upstream.
type Request struct {
	Mode  Mode
	Model string // upstream model name, mapping already applied
	// Body is the OpenAI-format body for upstream: JSON with the model already
	// rewritten and stream_options already set by the relay, or multipart
	// form data for audio uploads.
	Body        []byte
	ContentType string // of Body; "" means application/json
	Stream      bool
	// Chat is the parsed chat request (ModeChat only) for adaptors that
	// convert formats. The OpenAI-type adaptor ignores it and sends Body.
	Chat *oai.ChatRequest
	// PromptTokens is the gateway's own count of the prompt, for adaptors
	// whose upstream reports no usage but whose clients expect some (Gemini
	// embeddings).
	PromptTokens int
	// Header is the client's request header, for adaptors that pass a
	// request through in the client's own protocol and forward some of it
	// (anthropic-version, anthropic-beta). Others ignore it.
	Header http.Header
}

// Usage is what upstream reported for one call, in pricing's named
// counters. Adaptors take it only from the provider's own usage fields,
// never from anything that echoes the request.
type Usage struct {
	pricing.Usage
	// Reported is false when upstream gave no usage; the relay then counts
	// the tokens itself.
	Reported bool
}

// Event is one stream event for the client: Data is what follows "data: ";
// Name, when set, is sent as "event: Name" before it. Both are only valid
// during the send call.
type Event struct {
	Name []byte
	Data []byte
	// UsageOnly marks a chunk that carries nothing but usage (a chat chunk
	// with no choices): the relay drops it when the client did not ask for
	// stream usage.
	UsageOnly bool
}

// Adaptor converts between the OpenAI format and one provider's API.
//
// The Decode methods close resp.Body when they are done; closing it again
// is harmless.
type Adaptor interface {
	// NewRequest builds the upstream HTTP request. It does not send it.
	NewRequest(ctx context.Context, ch *Channel, req *Request) (*http.Request, error)

	// DecodeResponse reads a 2xx non-stream reply: the OpenAI-format body for
	// the client, and the usage it reports.
	DecodeResponse(req *Request, resp *http.Response) (body []byte, usage Usage, err error)

	// DecodeStream reads a 2xx SSE reply, calls send with each OpenAI-format
	// event (never "[DONE]"); returns the usage upstream reported and a
	// non-nil error (wrapping ErrStreamTruncated) if the stream ended before
	// its normal end ([DONE] for OpenAI) or carried an error event; an error
	// returned by send stops reading and is returned.
	//
	// The event passed to send is only valid during the call: it may point
	// into the adaptor's read buffer. send must copy it to keep it. An error
	// event is not passed to send; it comes back as an *UpstreamError (see
	// errors.As) inside the returned error.
	DecodeStream(req *Request, resp *http.Response, send func(Event) error) (Usage, error)

	// DecodeError turns a non-2xx reply into an *UpstreamError (never
	// containing the channel key).
	DecodeError(resp *http.Response) *UpstreamError
}
