package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// The tgi-stream:N scenarios: the mock also speaks Hugging Face TGI's
// native API (GET /info of a TGI 1.3, which has no Messages API, and POST
// /generate_stream with mockStreamEvents tokens and the details TGI sends
// last), the gateway has a TGI channel (type 60) pointing at it, and
//
//	(a) and (b) stream /generate_stream directly and through the bare proxy,
//	(c) streams /v1/chat/completions for tgiModel through the gateway,
//
// which converts the native stream to OpenAI chunks and bills the server's
// own counts (details.input_length, details.generated_tokens:
// mockPromptTokens and mockCompletionTokens). tgiModel maps to benchModel
// on the channel, so the expected quota per request is the chat scenarios'.

const (
	tgiModel   = "tgi-bench"
	tgiChannel = 60 // adaptor.TypeHuggingFace
)

// tgiDoneMarker ends the last event of /generate_stream (its details).
var tgiDoneMarker = []byte(`"input_length"`)

// tgiBody is a native /generate_stream request, as a TGI client sends it.
var tgiBody = []byte(`{"inputs":"User: Say hello in one short sentence.\n\nAssistant:","parameters":{"max_new_tokens":20,"details":true},"stream":true}`)

// tgiChatBody is the gateway's request in the tgi-stream scenarios.
func tgiChatBody() []byte {
	return []byte(`{"model":"` + tgiModel + `","messages":[{"role":"user","content":"Say hello in one short sentence."}],"stream":true}`)
}

// targetsFor returns the targets of scenario sc: for tgi-stream, copies
// whose (a) and (b) call /generate_stream and (c) the TGI channel's model.
func targetsFor(sc scenario, targets []*target) []*target {
	if sc.messages {
		return messagesTargets(targets)
	}
	if sc.limited {
		return limitedTargets(targets)
	}
	if !sc.tgi {
		return targets
	}
	out := make([]*target, 0, len(targets))
	for _, t := range targets {
		cp := *t
		if t.name == "c" {
			cp.body = tgiChatBody()
		} else {
			cp.url = strings.TrimSuffix(t.url, "/v1/chat/completions") + "/generate_stream"
			cp.body, cp.done = tgiBody, tgiDoneMarker
		}
		out = append(out, &cp)
	}
	return out
}

// tgiEvents builds the mock's /generate_stream reply: token events, then
// the last one with generated_text and details.
func tgiEvents() [][]byte {
	var out [][]byte
	var text strings.Builder
	for i := 0; i < mockStreamEvents-1; i++ {
		tok := fmt.Sprintf("w%d ", i)
		text.WriteString(tok)
		b, _ := json.Marshal(map[string]any{"index": i + 1, "token": map[string]any{"id": 1000 + i, "text": tok, "logprob": -0.25, "special": false},
			"generated_text": nil, "details": nil})
		out = append(out, []byte("data:"+string(b)+"\n\n"))
	}
	// The last event: the end-of-sequence token, the text and the counts
	// (details last, so the load generator finds input_length in the tail).
	last := fmt.Sprintf(`{"index":%d,"token":{"id":2,"text":"</s>","logprob":-0.1,"special":true},"generated_text":%q,"details":{"finish_reason":"eos_token","generated_tokens":%d,"seed":null,"input_length":%d}}`,
		mockStreamEvents, text.String(), mockCompletionTokens, mockPromptTokens)
	return append(out, []byte("data:"+last+"\n\n"))
}

// tgiInfo is the mock's GET /info: a TGI 1.3, so chat goes native.
const tgiInfo = `{"model_id":"bench/tgi-model","model_dtype":"torch.float16","model_device_type":"cuda","max_concurrent_requests":128,"max_best_of":2,"max_stop_sequences":4,"max_input_length":4095,"max_total_tokens":4096,"version":"1.3.4"}`

// serveTGI answers the TGI paths; it reports whether the path was one.
func (m *mockServer) serveTGI(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.URL.Path == "/info" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, tgiInfo)
	case r.URL.Path == "/generate_stream" && r.Method == http.MethodPost:
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 4<<20))
		m.count(r)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fl, _ := w.(http.Flusher)
		for _, e := range m.tgiEvents {
			if _, err := w.Write(e); err != nil {
				return true
			}
			if fl != nil {
				fl.Flush()
			}
		}
	default:
		return false
	}
	return true
}

// provisionTGI creates the TGI channel of the tgi-stream scenarios.
func (g *gateway) provisionTGI(mockBase string) error {
	mapping, _ := json.Marshal(map[string]string{tgiModel: benchModel})
	_, err := g.api(http.MethodPost, "/api/channel/", map[string]any{
		"type":          tgiChannel,
		"name":          "mock-tgi",
		"key":           "hf-upstream-fake",
		"base_url":      mockBase,
		"models":        tgiModel,
		"model_mapping": string(mapping),
		"group":         "default",
	})
	if err != nil {
		return fmt.Errorf("create TGI channel: %w", err)
	}
	return nil
}
