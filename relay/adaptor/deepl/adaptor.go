// Package deepl is the adaptor for DeepL (type 38) channels: translation
// served as chat, as One API does. The model names the target language
// ("deepl-zh", "deepl-en-us", "deepl-ja": what follows "deepl-", upper
// case); the last user message is translated, and a system message, if
// any, is sent as DeepL's context (it steers the translation and is not
// translated or billed). Usage is DeepL's own billed_characters, billed as
// input tokens (One API's DeepL prices are per character). DeepL does not
// stream: a stream request gets the translation as one chunk. The key is
// a DeepL auth key; with no base URL, a free key (":fx") goes to
// api-free.deepl.com and any other to api.deepl.com. Importing the package
// registers it for adaptor.TypeDeepL.
package deepl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
)

func init() {
	adaptor.Register(New(), adaptor.TypeDeepL)
}

// Adaptor is the DeepL adaptor.
type Adaptor struct{}

var _ adaptor.Adaptor = (*Adaptor)(nil)

// New returns the adaptor.
func New() *Adaptor { return &Adaptor{} }

type translateRequest struct {
	Text                 []string `json:"text"`
	TargetLang           string   `json:"target_lang"`
	Context              string   `json:"context,omitempty"`
	ShowBilledCharacters bool     `json:"show_billed_characters"`
}

type callKey struct{}

// targetLang is the language a model name asks for: "deepl-zh" is ZH,
// "deepl-en-us" EN-US; a name without one translates to Chinese, as One
// API does.
func targetLang(model string) string {
	_, lang, ok := strings.Cut(model, "-")
	if !ok || lang == "" {
		return "ZH"
	}
	return strings.ToUpper(lang)
}

// NewRequest builds the /v2/translate call.
func (a *Adaptor) NewRequest(ctx context.Context, ch *adaptor.Channel, req *adaptor.Request) (*http.Request, error) {
	if req.Mode != adaptor.ModeChat {
		return nil, convert.Unsupported("DeepL", req.Mode)
	}
	cr, err := convert.ChatRequest(req.Body)
	if err != nil {
		return nil, err
	}
	if err := convert.NoTools(cr, "DeepL"); err != nil {
		return nil, err
	}
	tr := translateRequest{TargetLang: targetLang(req.Model), ShowBilledCharacters: true}
	var contextParts []string
	for i := range cr.Messages {
		m := &cr.Messages[i]
		text, err := convert.Text(m, "DeepL")
		if err != nil {
			return nil, err
		}
		switch m.Role {
		case "system", "developer":
			contextParts = append(contextParts, text)
		case "user":
			tr.Text = []string{text} // the last user message is the one translated
		}
	}
	if len(tr.Text) == 0 || tr.Text[0] == "" {
		return nil, convert.ClientError("DeepL translates the last user message, and there is none")
	}
	tr.Context = strings.Join(contextParts, "\n")
	base, err := baseURL(ch)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(tr)
	if err != nil {
		return nil, fmt.Errorf("encode DeepL request: %w", err)
	}
	ctx = context.WithValue(ctx, callKey{}, ch)
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/translate", bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "DeepL-Auth-Key "+ch.Key)
	return r, nil
}

func baseURL(ch *adaptor.Channel) (string, error) {
	if strings.TrimSpace(ch.BaseURL) == "" && !strings.HasSuffix(strings.TrimSpace(ch.Key), ":fx") {
		return "https://api.deepl.com", nil // a Pro key
	}
	u, err := convert.BaseURL(ch)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimSuffix(u.Path, "/v2")
	return u.String(), nil
}

func keyOf(resp *http.Response) string {
	if resp != nil && resp.Request != nil {
		if ch, ok := resp.Request.Context().Value(callKey{}).(*adaptor.Channel); ok {
			return ch.Key
		}
	}
	return ""
}

type translateResponse struct {
	Translations []struct {
		DetectedSourceLanguage string `json:"detected_source_language"`
		Text                   string `json:"text"`
		BilledCharacters       *int   `json:"billed_characters"`
	} `json:"translations"`
}

// translation reads DeepL's reply: the text and DeepL's billed characters.
func translation(resp *http.Response) (string, adaptor.Usage, error) {
	body, err := convert.ReadReply(resp)
	if err != nil {
		return "", adaptor.Usage{}, err
	}
	var tr translateResponse
	if err := json.Unmarshal(body, &tr); err != nil || len(tr.Translations) == 0 {
		return "", adaptor.Usage{}, convert.BadReply("DeepL", body)
	}
	var text strings.Builder
	var usage adaptor.Usage
	for _, t := range tr.Translations {
		text.WriteString(t.Text)
		if t.BilledCharacters != nil {
			usage.Reported = true
			usage.Input += *t.BilledCharacters
		}
	}
	return text.String(), usage, nil
}

// DecodeResponse returns the translation as a chat.completion.
func (a *Adaptor) DecodeResponse(req *adaptor.Request, resp *http.Response) ([]byte, adaptor.Usage, error) {
	text, usage, err := translation(resp)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	out, err := convert.Reply("chatcmpl-"+convert.ID(), req.Model, convert.TextMessage(text), "stop", usage)
	return out, usage, err
}

// DecodeStream sends the translation as one chunk (DeepL does not stream).
func (a *Adaptor) DecodeStream(req *adaptor.Request, resp *http.Response, send func(adaptor.Event) error) (adaptor.Usage, error) {
	text, usage, err := translation(resp)
	if err != nil {
		return adaptor.Usage{}, err
	}
	s := convert.NewStream(send, "chatcmpl-"+convert.ID(), req.Model)
	if err := s.Text(text); err != nil {
		return usage, err
	}
	if err := s.Finish("stop"); err != nil {
		return usage, err
	}
	return usage, s.Usage(usage)
}

// DecodeError reads DeepL's {"message": ...} and classifies by status:
// 403 is a rejected key and 456 a used-up quota (both disable the
// channel), 429 and 5xx retry, other 4xx are the client's.
func (a *Adaptor) DecodeError(resp *http.Response) *adaptor.UpstreamError {
	body := convert.ReadError(resp)
	var e struct {
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	msg := adaptor.PlainErrorText(body, resp.Header.Get("Content-Type"))
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		msg = e.Message
		if e.Detail != "" {
			msg += ": " + e.Detail
		}
	}
	status := resp.StatusCode
	class := convert.StatusClass(status)
	switch {
	case status == http.StatusForbidden, status == 456:
		class = adaptor.ClassDisable
	case status == http.StatusTooManyRequests, status >= 500:
		class = adaptor.ClassRetry
	case status >= 400:
		class = adaptor.ClassClient
	}
	return convert.Error(status, resp.Header, "deepl_error", "", msg, class, keyOf(resp))
}
