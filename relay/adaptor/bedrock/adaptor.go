// Package bedrock is the adaptor for Amazon Bedrock channels (channel type
// adaptor.TypeAwsClaude, One API's 33). Chat completions go to the Converse
// API (POST /model/{modelId}/converse, /converse-stream), which serves every
// Bedrock chat model — Claude, Llama, Mistral, Nova, … — by model id,
// inference profile or ARN. Embeddings go to InvokeModel for Titan and Cohere
// embedding models. Requests are signed with SigV4 (aws-sdk-go-v2's signer)
// and sent by the relay's own HTTP client, so its timeouts, proxy and the
// channel's base URL (a VPC endpoint) apply; ConverseStream's
// application/vnd.amazon.eventstream framing is read with aws-sdk-go-v2's
// event-stream decoder. Importing the package registers it.
package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"oneapi/relay/adaptor"
)

func init() {
	adaptor.Register(New(), adaptor.TypeAwsClaude)
}

// signingService is Bedrock Runtime's SigV4 service name.
const signingService = "bedrock"

// eventStreamType is the content type of ConverseStream replies.
const eventStreamType = "application/vnd.amazon.eventstream"

// Adaptor is the Bedrock adaptor. It holds no per-channel state.
type Adaptor struct {
	now func() time.Time // signing time and the created field; fixed in tests
}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{now: time.Now} }

// NewRequest builds the signed Converse (chat) or InvokeModel (embeddings)
// request. A body Bedrock cannot take is an *adaptor.UpstreamError of class
// ClassClient; a channel without usable credentials one of class
// ClassDisable; a mode Bedrock channels do not serve a plain error, so the
// relay tries another channel.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	cred, err := channelCredentials(ch)
	if err != nil {
		return nil, err
	}
	modelID := ModelID(req.Model)
	if modelID == "" {
		return nil, clientError("the request names no model")
	}
	var (
		body   []byte
		action string
		accept = "application/json"
	)
	switch req.Mode {
	case adaptor.ModeChat:
		if body, err = converseBody(req.Body); err != nil {
			return nil, err
		}
		action = "converse"
		if req.Stream {
			action, accept = "converse-stream", eventStreamType
		}
	case adaptor.ModeEmbeddings:
		if body, err = embedBody(req.Body, modelID); err != nil {
			return nil, err
		}
		action = "invoke"
	default:
		return nil, fmt.Errorf("%s is not supported by Bedrock channels", req.Mode)
	}
	u, err := requestURL(ch.BaseURL, cred.region, modelID, action)
	if err != nil {
		return nil, err
	}
	// A *bytes.Reader body lets net/http replay the request on a stale
	// keep-alive connection; the signature covers its hash, not the reader.
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", accept)
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: cred.accessKey, SecretAccessKey: cred.secretKey, SessionToken: cred.sessionToken}
	// A signer per request: a shared one caches the signing key by access
	// key id and day, so a corrected secret would not be used until the
	// next day. Deriving the key is four HMACs.
	if err := v4.NewSigner().SignHTTP(ctx, creds, r, hex.EncodeToString(sum[:]), signingService, cred.region, a.now().UTC()); err != nil {
		return nil, fmt.Errorf("sign Bedrock request: %w", err)
	}
	return r, nil
}

// credentials are what a request is signed with.
type credentials struct {
	accessKey, secretKey, sessionToken, region string
}

// regionPattern keeps the region a host label: it is part of the default
// host name.
var regionPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)+$`)

// channelCredentials reads One API's shapes of a Bedrock channel: the key
// "ak|sk|region" (with an optional "|session token"; One API's console
// writes this key from the config fields), the config
// {"region","ak","sk","session_token"} for what the key leaves out, and One
// API's first form, a key of "ak" and "sk" on two lines with the region as
// the base URL. The region may also be read from a base URL naming
// bedrock-runtime.{region}.
func channelCredentials(ch *adaptor.Channel) (credentials, error) {
	var c credentials
	key := strings.TrimSpace(ch.Key)
	if parts := strings.Split(key, "|"); len(parts) >= 2 {
		c.accessKey, c.secretKey = strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		if len(parts) > 2 {
			c.region = strings.TrimSpace(parts[2])
		}
		if len(parts) > 3 {
			c.sessionToken = strings.TrimSpace(strings.Join(parts[3:], "|"))
		}
	} else if lines := strings.Fields(key); len(lines) == 2 {
		c.accessKey, c.secretKey = lines[0], lines[1]
	}
	fill := func(dst *string, name string) {
		if *dst == "" {
			*dst = strings.TrimSpace(ch.Config[name])
		}
	}
	fill(&c.accessKey, "ak")
	fill(&c.secretKey, "sk")
	fill(&c.sessionToken, "session_token")
	fill(&c.region, "region")
	if c.accessKey == "" && key != "" && !strings.ContainsAny(key, "|\n ") {
		c.accessKey = key // the key field holds the access key id alone
	}
	if c.region == "" {
		c.region = regionFromBaseURL(strings.TrimSpace(ch.BaseURL))
	}
	switch {
	case c.accessKey == "" || c.secretKey == "":
		return c, channelError(`a Bedrock channel needs an access key and a secret key: key "ak|sk|region" or config {"ak","sk","region"}`)
	case c.region == "":
		return c, channelError(`a Bedrock channel needs a region: key "ak|sk|region" or config {"region":"us-east-1"}`)
	case !regionPattern.MatchString(c.region):
		return c, channelError(fmt.Sprintf("Bedrock region %q is not a region name such as us-east-1", c.region))
	}
	return c, nil
}

// regionFromBaseURL reads the region of One API's first form (the base URL
// was the region) or of a URL naming it, such as
// https://vpce-1a2b.bedrock-runtime.us-west-2.vpce.amazonaws.com.
func regionFromBaseURL(base string) string {
	if base == "" {
		return ""
	}
	if !strings.Contains(base, "://") {
		return base
	}
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	labels := strings.Split(u.Hostname(), ".")
	for i, l := range labels {
		if l == "bedrock-runtime" && i+1 < len(labels) {
			return labels[i+1]
		}
	}
	return ""
}

// requestURL returns {base}/model/{modelId}/{action}, base being the
// channel's base URL when it is an http(s) URL, else
// https://bedrock-runtime.{region}.amazonaws.com. The model id is one path
// segment with its ":" and "/" escaped (ARNs and versions have them), as
// AWS's SDKs send it.
func requestURL(base, region, modelID, action string) (string, error) {
	base = strings.TrimSpace(base)
	if !strings.Contains(base, "://") {
		base = "https://bedrock-runtime." + region + ".amazonaws.com"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("channel base URL %q is not an http(s) URL", base)
	}
	prefix := strings.TrimRight(u.Path, "/") + "/model/"
	segment := strings.ReplaceAll(url.PathEscape(modelID), ":", "%3A")
	u.Path = prefix + modelID + "/" + action
	u.RawPath = (&url.URL{Path: prefix}).EscapedPath() + segment + "/" + action
	u.RawQuery = ""
	return u.String(), nil
}

// oneAPIModelIDs are the model names One API's Bedrock channels took and
// the Bedrock model ids it sent for them, so that channels moved from One
// API keep working with the names their clients use. Any other name is
// sent as it is: a Bedrock model id, an inference profile or an ARN.
var oneAPIModelIDs = map[string]string{
	"claude-instant-1.2":         "anthropic.claude-instant-v1",
	"claude-2.0":                 "anthropic.claude-v2",
	"claude-2.1":                 "anthropic.claude-v2:1",
	"claude-3-haiku-20240307":    "anthropic.claude-3-haiku-20240307-v1:0",
	"claude-3-sonnet-20240229":   "anthropic.claude-3-sonnet-20240229-v1:0",
	"claude-3-opus-20240229":     "anthropic.claude-3-opus-20240229-v1:0",
	"claude-3-5-sonnet-20240620": "anthropic.claude-3-5-sonnet-20240620-v1:0",
	"claude-3-5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
	"claude-3-5-sonnet-latest":   "anthropic.claude-3-5-sonnet-20241022-v2:0",
	"claude-3-5-haiku-20241022":  "anthropic.claude-3-5-haiku-20241022-v1:0",
	"llama3-8b-8192":             "meta.llama3-8b-instruct-v1:0",
	"llama3-70b-8192":            "meta.llama3-70b-instruct-v1:0",
}

// ModelID returns the Bedrock model id requests for model are sent to.
func ModelID(model string) string {
	model = strings.TrimSpace(model)
	if id, ok := oneAPIModelIDs[model]; ok {
		return id
	}
	return model
}

// clientError is a request Bedrock cannot take: the client's fault, so the
// relay answers it rather than trying another channel.
func clientError(format string, args ...any) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadRequest,
		Message: fmt.Sprintf(format, args...),
		Type:    "invalid_request_error",
		Class:   adaptor.ClassClient,
	}
}

// errMisconfigured is wrapped by the error of a channel whose credentials
// cannot be read.
var errMisconfigured = errors.New("Bedrock channel misconfigured")

// channelError is a channel that cannot sign any request until an operator
// fixes its key or config: it is disabled, and the client is told 502, as
// for a dead key.
func channelError(msg string) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: msg,
		Type:    "upstream_error",
		Code:    "channel_misconfigured",
		Class:   adaptor.ClassDisable,
		Err:     errMisconfigured,
	}
}
