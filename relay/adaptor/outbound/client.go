// Package outbound gives adaptors what they need to make calls of their own
// besides the one the relay sends: the relay's HTTP client, carried in the
// request's context, and a cache of the credentials they fetch with it
// (Baidu's access tokens) or mint (Zhipu's JWTs), kept per channel and
// renewed before they expire.
//
// An adaptor never builds an HTTP client itself: the relay's one refuses
// redirects, honours RELAY_PROXY and has the tuned transport, and a token
// exchange or a task poll must go out the same way as the call it serves.
package outbound

import (
	"context"
	"errors"
	"net/http"
)

// Doer sends a request: the relay's *http.Client.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

type clientKey struct{}

// WithClient returns ctx carrying c. The relay wraps the context it passes
// to Adaptor.NewRequest with it, so an adaptor finds the client in
// NewRequest and, through resp.Request.Context(), in the Decode methods.
func WithClient(ctx context.Context, c Doer) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ErrNoClient is returned when a context carries no client: a caller of
// NewRequest that did not use WithClient (a programming error).
var ErrNoClient = errors.New("outbound: no HTTP client in the request context")

// Client returns the client ctx carries.
func Client(ctx context.Context) (Doer, error) {
	if c, ok := ctx.Value(clientKey{}).(Doer); ok && c != nil {
		return c, nil
	}
	return nil, ErrNoClient
}
