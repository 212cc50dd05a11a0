// Package aiproxy is the adaptor for AI Proxy Library (type 21) channels:
// questions to a knowledge base ("library") on aiproxy.io
// (/api/library/ask), answered as chat. The last user message is the
// question; config "library_id" names the library, as in One API; the
// answer's source documents are appended as a list of links, as One API
// does. The service reports no token usage, so the relay counts it. The
// key is an AI Proxy API key. Importing the package registers it for
// adaptor.TypeAIProxyLibrary.
package aiproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/sse"
)

func init() {
	adaptor.Register(New(), adaptor.TypeAIProxyLibrary)
}

// Adaptor is the AI Proxy Library adaptor.
type Adaptor struct{}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{} }

type askRequest struct {
	Model     string `json:"model"`
	Query     string `json:"query"`
	LibraryID string `json:"libraryId"`
	Stream    bool   `json:"stream"`
}

type document struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

type askResponse struct {
	Success   bool       `json:"success"`
	Answer    string     `json:"answer"`
	Documents []document `json:"documents"`
	ErrCode   int        `json:"errCode"`
	Message   string     `json:"message"`
}

type streamEvent struct {
	Content   string     `json:"content"`
	Finish    bool       `json:"finish"`
	Documents []document `json:"documents"`
	ErrCode   int        `json:"errCode"`
	Message   string     `json:"message"`
}

type callKey struct{}

// NewRequest builds the /api/library/ask call.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	if req.Mode != adaptor.ModeChat {
		return nil, convert.Unsupported("AI Proxy Library", req.Mode)
	}
	library := strings.TrimSpace(ch.Config["library_id"])
	if library == "" {
		return nil, errors.New("the AI Proxy Library channel has no library_id in its config")
	}
	cr, err := convert.ChatRequest(req.Body)
	if err != nil {
		return nil, err
	}
	if err := convert.NoTools(cr, "AI Proxy Library"); err != nil {
		return nil, err
	}
	ask := askRequest{Model: req.Model, LibraryID: library, Stream: req.Stream}
	for i := range cr.Messages {
		if cr.Messages[i].Role != "user" {
			continue
		}
		if ask.Query, err = convert.Text(&cr.Messages[i], "AI Proxy Library"); err != nil {
			return nil, err
		}
	}
	if ask.Query == "" {
		return nil, convert.ClientError("AI Proxy Library answers the last user message, and there is none")
	}
	base, err := convert.BaseURL(ch)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(ask)
	if err != nil {
		return nil, fmt.Errorf("encode AI Proxy request: %w", err)
	}
	ctx = context.WithValue(ctx, callKey{}, ch)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+"/api/library/ask", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	if req.Stream {
		r.Header.Set("Accept", "text/event-stream")
	}
	r.Header.Set("Authorization", "Bearer "+ch.Key)
	return r, nil
}

func keyOf(resp *http.Response) string {
	if resp != nil && resp.Request != nil {
		if ch, ok := resp.Request.Context().Value(callKey{}).(*adaptor.Channel); ok {
			return ch.Key
		}
	}
	return ""
}

// references lists the source documents after the answer, as One API does.
func references(docs []document) string {
	if len(docs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n\n参考文档：\n")
	for i, d := range docs {
		fmt.Fprintf(&b, "%d. [%s](%s)\n", i+1, d.Title, d.URL)
	}
	return b.String()
}

// DecodeResponse converts the answer; usage is left to the relay.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	body, err := convert.ReadReply(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	var ar askResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("AI Proxy", body)
	}
	if ar.ErrCode != 0 || (!ar.Success && ar.Answer == "") {
		return nil, adaptor.Usage{}, apiError(http.StatusBadGateway, nil, ar.ErrCode, ar.Message, keyOf(resp))
	}
	out, err := convert.Reply("chatcmpl-"+convert.ID(), req.Model, convert.TextMessage(ar.Answer+references(ar.Documents)), "stop", adaptor.Usage{})
	return out, adaptor.Usage{}, err
}

// DecodeStream passes the answer's pieces on, then the documents; the
// stream ends with an event that has finish set.
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	defer resp.Body.Close()
	br := sse.NewReader(resp.Body, convert.MaxEvent)
	defer br.Close()
	s := convert.NewStream(send, "chatcmpl-"+convert.ID(), req.Model)
	var docs []document
	for {
		ev, err := br.Next()
		switch {
		case err == io.EOF:
			return adaptor.Usage{}, convert.Cut("end of body before the finishing event")
		case errors.Is(err, sse.ErrNotSSE):
			body, _ := br.Body()
			var ar askResponse
			if json.Unmarshal(body, &ar) == nil && (ar.ErrCode != 0 || ar.Message != "") {
				return adaptor.Usage{}, convert.Truncated(apiError(http.StatusBadGateway, nil, ar.ErrCode, ar.Message, keyOf(resp)))
			}
			return adaptor.Usage{}, convert.Truncated(convert.BadReply("AI Proxy", body))
		case err != nil:
			return adaptor.Usage{}, convert.Truncated(adaptor.TransportError(err))
		}
		if len(ev.Data) == 0 {
			continue
		}
		finished := string(ev.Data) == "[DONE]"
		if !finished {
			var e streamEvent
			if err := json.Unmarshal(ev.Data, &e); err != nil {
				return adaptor.Usage{}, convert.BadEvent("AI Proxy", err)
			}
			if e.ErrCode != 0 {
				return adaptor.Usage{}, convert.Truncated(apiError(http.StatusBadGateway, nil, e.ErrCode, e.Message, keyOf(resp)))
			}
			if len(e.Documents) > 0 {
				docs = e.Documents
			}
			if err := s.Text(e.Content); err != nil {
				return adaptor.Usage{}, err
			}
			finished = e.Finish
		}
		if finished {
			br.Drain()
			if err := s.Text(references(docs)); err != nil {
				return adaptor.Usage{}, err
			}
			return adaptor.Usage{}, s.Finish("stop")
		}
	}
}

// DecodeError reads {"errCode","message"} or a gateway's text and
// classifies by status.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	body := convert.ReadError(resp)
	var ar askResponse
	if json.Unmarshal(body, &ar) == nil && (ar.ErrCode != 0 || ar.Message != "") {
		return apiError(resp.StatusCode, resp.Header, ar.ErrCode, ar.Message, keyOf(resp))
	}
	return apiError(resp.StatusCode, resp.Header, 0, adaptor.PlainErrorText(body, resp.Header.Get("Content-Type")), keyOf(resp))
}

// apiError classifies by status only (or an errCode that is a status):
// AI Proxy publishes no error codes to go by, and the message is never
// read.
func apiError(status int, header http.Header, code int, msg, key string) *adaptor.UpstreamError {
	c := ""
	if code != 0 {
		c = strconv.Itoa(code)
	}
	if code >= 400 && code <= 599 && (status < 400 || status == http.StatusBadGateway) {
		status = code // an error code that is an HTTP status says what happened
	}
	return convert.Error(status, header, "aiproxy_error", c, msg, convert.StatusClass(status), key)
}
