package bedrock

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

// maxResponseSize bounds a non-stream reply held in memory.
const maxResponseSize = 32 << 20

// DecodeResponse converts a Converse reply to a chat.completion, or an
// InvokeModel embeddings reply to an embeddings list.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxResponseSize)
	if err != nil {
		if errors.Is(err, adaptor.ErrBodyTooLarge) {
			return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream reply too large", Type: "upstream_error", Class: adaptor.ClassClient, Err: err}
		}
		return nil, adaptor.Usage{}, adaptor.TransportError(err)
	}
	switch req.Mode {
	case adaptor.ModeChat:
		return a.decodeChat(req, resp, body)
	case adaptor.ModeEmbeddings:
		return decodeEmbeddings(req, resp, body)
	}
	return nil, adaptor.Usage{}, fmt.Errorf("%s is not supported by Bedrock channels", req.Mode)
}

func (a *Adaptor) decodeChat(req *adaptor.Request, resp *http.Response, body []byte) ([]byte, adaptor.Usage, error) {
	var cr converseResponse
	if err := json.Unmarshal(body, &cr); err != nil || cr.Output.Message == nil {
		return nil, adaptor.Usage{}, invalidResponse(body, err)
	}
	out, err := json.Marshal(fromConverseResponse(&cr, completionID(resp), req.Model, a.now().Unix()))
	if err != nil {
		return nil, adaptor.Usage{}, fmt.Errorf("encode chat completion: %w", err)
	}
	var u adaptor.Usage
	if cr.Usage != nil {
		u = cr.Usage.toUsage()
	}
	return out, u, nil
}

// invalidResponse is a 2xx body that is not what Bedrock answers: a proxy's
// page, or a cut reply. Another channel may do better.
func invalidResponse(body []byte, err error) *adaptor.UpstreamError {
	return &adaptor.UpstreamError{
		Status:  http.StatusBadGateway,
		Message: "Bedrock answered 2xx without a usable reply: " + adaptor.Snippet(body, 200),
		Type:    "upstream_error",
		Class:   adaptor.ClassRetry,
		Err:     err,
	}
}

// completionID is "chatcmpl-" and Bedrock's request id (Converse replies
// carry no id of their own), so a completion can be found in AWS's logs.
func completionID(resp *http.Response) string {
	if resp != nil {
		if id := resp.Header.Get("X-Amzn-Requestid"); id != "" {
			return "chatcmpl-" + id
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "chatcmpl-" + hex.EncodeToString(b[:])
}

// toUsage is the usage in pricing's counters: cache reads and writes are
// parts of the input, priced apart.
func (u *tokenUsage) toUsage() adaptor.Usage {
	out := adaptor.Usage{Reported: true}
	out.Input = u.promptTokens()
	out.CacheRead = u.CacheReadInputTokens
	out.CacheWrite = u.CacheWriteInputTokens
	out.Output = u.OutputTokens
	return out
}

// promptTokens counts every input token: Bedrock reports the cached and
// cache-writing parts apart from inputTokens, OpenAI includes them.
func (u *tokenUsage) promptTokens() int {
	return u.InputTokens + u.CacheReadInputTokens + u.CacheWriteInputTokens
}

func (u *tokenUsage) toOAI() *oai.Usage {
	prompt := u.promptTokens()
	out := &oai.Usage{PromptTokens: prompt, CompletionTokens: u.OutputTokens, TotalTokens: prompt + u.OutputTokens}
	if u.CacheReadInputTokens > 0 {
		out.PromptTokensDetails = &oai.PromptTokensDetails{CachedTokens: u.CacheReadInputTokens}
	}
	return out
}
