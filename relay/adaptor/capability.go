package adaptor

import (
	"context"
	"net/http"
)

// Optional capabilities. An adaptor implements these one-method interfaces
// when its provider needs them; the relay finds them by type assertion, as
// bifrost does with its optional provider interfaces.

// Preparer is implemented by adaptors that must learn something from the
// upstream before they can build a request: Hugging Face TGI reads GET
// /info (which API the server has, its token limits) and caches it per
// channel. The relay calls Prepare before NewRequest with the client the
// request will go out on (the channel's proxy and timeout). Prepare may
// change req (an output limit the server can take); an error is an
// *UpstreamError: a prompt over the server's limits is the client's (400),
// an unreachable server the channel's (retry).
type Preparer interface {
	Prepare(ctx context.Context, client *http.Client, ch *Channel, req *Request) error
}

// Prober is implemented by adaptors whose channel test is not the relay's
// one-token chat request: a TEI server serves no chat at all, and TGI's
// GET /info proves the server and the key without generating anything. It
// returns nil when the channel works, else an *UpstreamError (never
// containing the key).
type Prober interface {
	Probe(ctx context.Context, client *http.Client, ch *Channel, model string) error
}

// ModelLister is implemented by adaptors that can say which models a
// channel serves, for the console's "fetch models": from the upstream's own
// listing (GET /v1/models, Ollama's /api/tags, TGI's /info) or, for vendors
// without one, from a list the preset knows.
type ModelLister interface {
	ListModels(ctx context.Context, client *http.Client, ch *Channel) ([]string, error)
}
