// Package palm serves Google PaLM (type 11) channels now that Google has
// shut the PaLM API down: they are served by the Gemini adaptor on the
// same host with the same Google AI Studio key. One API's PaLM model names
// (PaLM-2, chat-bison-001, text-bison-001) are sent as Gemini's successor,
// Successor; embedding-gecko-001 as SuccessorEmbedding. Any other name (a
// channel model mapping to a Gemini model) is sent as it is. A base URL
// ending in PaLM's own API version (/v1beta2, /v1beta3) is cut back to the
// host. Importing the package registers it for adaptor.TypePaLM.
package palm

import (
	"context"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/gemini"
)

func init() {
	adaptor.Register(New(), adaptor.TypePaLM)
}

// The Gemini models PaLM's names are sent as.
const (
	Successor          = "gemini-2.5-flash"
	SuccessorEmbedding = "gemini-embedding-001"
)

// successors maps PaLM's model names, with and without "models/".
var successors = map[string]string{
	"PaLM-2": Successor, "palm-2": Successor,
	"chat-bison-001": Successor, "text-bison-001": Successor, "chat-bison": Successor, "text-bison": Successor,
	"embedding-gecko-001": SuccessorEmbedding,
}

// Adaptor is the PaLM adaptor: Gemini's, with the names mapped.
type Adaptor struct {
	g *gemini.Adaptor
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{g: gemini.New()} }

// Model is the Gemini model a PaLM channel sends for model.
func Model(model string) string {
	if s, ok := successors[strings.TrimPrefix(model, "models/")]; ok {
		return s
	}
	return model
}

// NewRequest builds the Gemini call for the successor model.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	c := *ch
	for _, v := range []string{"/v1beta2", "/v1beta3"} {
		c.BaseURL = strings.TrimSuffix(strings.TrimRight(strings.TrimSpace(c.BaseURL), "/"), v)
	}
	r := *req
	r.Model = Model(req.Model)
	return a.g.NewRequest(ctx, &c, &r)
}

// DecodeResponse is Gemini's; what it returns is JSON.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	body, usage, err := a.g.DecodeResponse(req, resp)
	resp.Header.Set("Content-Type", "application/json")
	return body, usage, err
}

// DecodeStream is Gemini's.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	return a.g.DecodeStream(req, resp, send)
}

// DecodeError is Gemini's.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	return a.g.DecodeError(resp)
}
