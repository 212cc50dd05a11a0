package vertex

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"oneapi/relay/adaptor"
)

// scope is what the access token is for: Vertex AI's calls need the
// cloud-platform scope.
const scope = "https://www.googleapis.com/auth/cloud-platform"

// refreshBefore is how long before its expiry a token is replaced, so that
// no request goes out with a token that expires on the way. Google's tokens
// live an hour.
const refreshBefore = 5 * time.Minute

// tokenTimeout bounds one token exchange.
const tokenTimeout = 30 * time.Second

var tokenClient atomic.Pointer[http.Client]

// SetTokenTransport sets the transport of the token exchange (at start,
// before requests are served), so that it goes through the same proxy as
// the relay's calls. By default it follows HTTPS_PROXY and the like.
func SetTokenTransport(rt http.RoundTripper) {
	tokenClient.Store(&http.Client{Transport: rt, Timeout: tokenTimeout})
}

func httpClient() *http.Client {
	if c := tokenClient.Load(); c != nil {
		return c
	}
	return &http.Client{Timeout: tokenTimeout}
}

// tokenCache holds one token source per channel: the signed-JWT exchange of
// golang.org/x/oauth2/google against the service account's token_uri,
// wrapped so that the token is reused until refreshBefore its expiry and
// concurrent requests wait for one exchange. A changed key gets a new source.
type tokenCache struct {
	mu      sync.Mutex
	sources map[int64]*channelSource
}

type channelSource struct {
	sum [32]byte // of the service account JSON
	ts  oauth2.TokenSource
}

func newTokenCache() *tokenCache { return &tokenCache{sources: map[int64]*channelSource{}} }

// token returns a valid access token for the channel's service account.
func (c *tokenCache) token(ctx context.Context, channelID int64, credentials []byte) (string, error) {
	ts, err := c.source(channelID, credentials)
	if err != nil {
		return "", err
	}
	// The exchange runs on its own context (a source outlives requests) and
	// is bounded by tokenTimeout; a request that goes first does not wait.
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		tok, err := ts.Token()
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return "", tokenError(r.err)
		}
		return r.tok.AccessToken, nil
	case <-ctx.Done():
		return "", adaptor.TransportError(ctx.Err())
	}
}

func (c *tokenCache) source(channelID int64, credentials []byte) (oauth2.TokenSource, error) {
	sum := sha256.Sum256(credentials)
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sources[channelID]; s != nil && s.sum == sum {
		return s.ts, nil
	}
	// JWTConfigFromJSON takes only a service account key ("type":
	// "service_account"): other credential types could make the gateway
	// fetch URLs or run programs named in the JSON.
	conf, err := google.JWTConfigFromJSON(credentials, scope)
	if err != nil {
		return nil, channelError("the Vertex AI service account key cannot be used: " + errorText(err))
	}
	if err := checkPrivateKey(conf.PrivateKey); err != nil {
		return nil, channelError("the Vertex AI service account key cannot be used: " + err.Error())
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, httpClient())
	ts := oauth2.ReuseTokenSourceWithExpiry(nil, conf.TokenSource(ctx), refreshBefore)
	c.sources[channelID] = &channelSource{sum: sum, ts: ts}
	return ts, nil
}

// checkPrivateKey parses the key as the exchange will (PEM, PKCS#8 or
// PKCS#1 RSA), so that a broken key disables the channel at once instead of
// failing each exchange like a network error.
func checkPrivateKey(pemKey []byte) error {
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return errors.New("private_key is not a PEM block")
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		return nil
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	return errors.New("private_key is not a PKCS#8 or PKCS#1 private key")
}

// tokenError classifies a failed exchange: the token endpoint refusing the
// service account (invalid_grant: a deleted or disabled key; 401, 403)
// disables the channel; anything else (5xx, network) is worth another
// channel.
func tokenError(err error) *adaptor.UpstreamError {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		if re.ErrorCode == "" { // the JWT flow leaves the body unread
			var body struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(re.Body, &body)
			re.ErrorCode = body.Error
		}
		ue := &adaptor.UpstreamError{
			Status:  http.StatusBadGateway,
			Message: fmt.Sprintf("the Vertex AI token exchange failed with status %d %s", status, re.ErrorCode),
			Type:    "upstream_error",
			Code:    re.ErrorCode,
			Class:   adaptor.ClassRetry,
			Err:     err,
		}
		if status == http.StatusBadRequest || status == http.StatusUnauthorized || status == http.StatusForbidden {
			ue.Class = adaptor.ClassDisable
		}
		return ue
	}
	ue := adaptor.TransportError(err)
	ue.Message = "the Vertex AI token exchange failed: " + ue.Message
	return ue
}

// errorText is err's text without any part of the key: the oauth2 package's
// parse errors name fields, never values.
func errorText(err error) string {
	return adaptor.Snippet([]byte(err.Error()), 200)
}
