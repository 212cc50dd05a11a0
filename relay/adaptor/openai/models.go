package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"oneapi/relay/adaptor"
)

var _ adaptor.ModelLister = (*Adaptor)(nil)

// maxModelList bounds a model listing (OpenRouter's is a few hundred KB).
const maxModelList = 16 << 20

// ListModels returns what the channel serves: its preset's list for a
// vendor with no listing endpoint, else the ids of GET {prefix}/models, in
// OpenAI's {"data":[{"id":...}]} or Together's bare array.
func (a *Adaptor) ListModels(ctx context.Context, client *http.Client, ch *adaptor.Channel) ([]string, error) {
	p := PresetFor(ch.Type)
	if len(p.Models) > 0 {
		return slices.Clone(p.Models), nil
	}
	if p.Azure {
		return nil, errors.New("Azure OpenAI deployments cannot be listed with a key: enter the deployed model names")
	}
	u, err := endpointURL(ch, p, "/models")
	if err != nil {
		return nil, err
	}
	return FetchModelIDs(ctx, client, u, func(h http.Header) { setHeaders(h, ch, p) }, a.DecodeError)
}

// FetchModelIDs GETs u (with the headers auth sets) and returns the model
// ids of an OpenAI-style listing; a non-2xx reply goes through decodeError.
// Other adaptors whose upstream lists models the OpenAI way use it too.
func FetchModelIDs(ctx context.Context, client *http.Client, u string, auth func(http.Header), decodeError func(*http.Response) *adaptor.UpstreamError) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build models request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	auth(req.Header)
	resp, err := client.Do(req)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeError(resp)
	}
	defer resp.Body.Close()
	body, err := adaptor.ReadBody(resp, maxModelList)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	ids, err := ParseModelIDs(body)
	if err != nil {
		return nil, &adaptor.UpstreamError{Status: http.StatusBadGateway, Type: "upstream_error", Class: adaptor.ClassRetry,
			Message: "upstream model listing is not a list of models: " + adaptor.Snippet(body, 120), Err: err}
	}
	return ids, nil
}

// ParseModelIDs reads {"data":[{"id":...}]} or [{"id":...}], keeping the
// order and dropping empty and repeated ids.
func ParseModelIDs(body []byte) ([]string, error) {
	type entry struct {
		ID string `json:"id"`
	}
	var list []entry
	var obj struct {
		Data *[]entry `json:"data"`
	}
	if err := json.Unmarshal(body, &obj); err == nil && obj.Data != nil {
		list = *obj.Data
	} else if err := json.Unmarshal(body, &list); err != nil {
		return nil, errors.New("want {\"data\":[{\"id\":...}]} or an array of models")
	}
	seen := make(map[string]bool, len(list))
	ids := make([]string, 0, len(list))
	for _, e := range list {
		if e.ID != "" && !seen[e.ID] {
			seen[e.ID] = true
			ids = append(ids, e.ID)
		}
	}
	return ids, nil
}
