package ollama

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"oneapi/relay/adaptor"
	"oneapi/relay/oai"
)

const maxErrorBody = 64 << 10

// DecodeError reads Ollama's {"error": "..."}. Its 404 means the model is
// not pulled on this server: the routing table says the channel serves it,
// so another channel may, and it is retried there rather than blamed on
// the client. 400 is the client's; 401 and 403 (a proxy or Ollama's cloud
// refusing the key) disable; the rest is retried.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return errorFromBody(resp.StatusCode, resp.Header, body, requestKey(resp))
}

// errorFromBody builds the error of an Ollama error body; status 0 is an
// error line in the middle of a stream (502).
func errorFromBody(status int, h http.Header, body []byte, key string) *adaptor.UpstreamError {
	if status == 0 {
		status = http.StatusBadGateway
	}
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	oe := oai.Error{Type: "upstream_error"}
	if json.Unmarshal(body, &v) == nil && len(v.Error) > 0 {
		if v.Error[0] == '"' {
			_ = json.Unmarshal(v.Error, &oe.Message)
		} else {
			_ = json.Unmarshal(v.Error, &oe)
		}
	} else {
		ct := ""
		if h != nil {
			ct = h.Get("Content-Type")
		}
		oe.Message = adaptor.PlainErrorText(body, ct)
	}
	if oe.Message == "" {
		oe.Message = fmt.Sprintf("upstream returned status %d %s", status, http.StatusText(status))
	}
	oe.Message = adaptor.Redact(oe.Message, key)
	ue := adaptor.NewUpstreamError(status, h, oe)
	switch status {
	case http.StatusNotFound:
		ue.Class, ue.Code = adaptor.ClassRetry, "model_not_found"
	case http.StatusForbidden:
		ue.Class = adaptor.ClassDisable
	}
	return ue
}

// ListModels returns the models pulled on the server (GET /api/tags).
func (a *Adaptor) ListModels(ctx context.Context, client *http.Client, ch *adaptor.Channel) ([]string, error) {
	u, err := serverURL(ch, pathTags)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	setAuth(req.Header, ch)
	resp, err := client.Do(req)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, a.DecodeError(resp)
	}
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxReply)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	var tags struct {
		Models []struct {
			Name  string `json:"name"`
			Model string `json:"model"`
		} `json:"models"`
	}
	if err := json.Unmarshal(body, &tags); err != nil || tags.Models == nil {
		return nil, badReply("/api/tags reply", body, err)
	}
	out := make([]string, 0, len(tags.Models))
	for _, m := range tags.Models {
		name := m.Name
		if name == "" {
			name = m.Model
		}
		if name != "" {
			out = append(out, name)
		}
	}
	return out, nil
}
