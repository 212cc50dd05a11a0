package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"oneapi/prompt"
	"oneapi/relay/adaptor"
)

// Stored prompts on the request path. A request names one
//
//   - in chat completions with the body fields prompt_id, prompt_version and
//     prompt_variables (what OpenAI SDKs send as extra_body), or with the
//     headers X-Prompt-Id and X-Prompt-Version for clients that cannot change
//     the body (then only defaults fill the variables);
//   - in the Responses API with OpenAI's own field,
//     prompt: {"id", "version", "variables"} (the headers work there too).
//
// The version is resolved from memory (state): no database round trip. Its
// messages go in front of the request's own, its parameters fill the fields
// the request leaves out (the request's own win), and the prompt fields are
// removed. The rewritten body is then parsed, counted and reserved like any
// other, so the prompt's tokens are billed.
//
// The Anthropic Messages entrance does not exist yet; when it does, its
// requests should be resolved here too (the version's system and developer
// messages becoming its system field).

// promptUse is what a request's log row records about the prompt it used.
type promptUse struct {
	Name    string
	Version int
	Hash    string
}

var (
	errPromptRequired = &apiError{http.StatusForbidden, "invalid_request_error", "prompt_required",
		"This API key may only be used with a stored prompt: name one with prompt_id (chat completions) or prompt (Responses API)."}
	// promptChatMarker finds prompt_id, prompt_version and prompt_variables
	// (and prompt_cache_key, which then costs a parse for nothing).
	promptChatMarker = []byte(`"prompt_`)
	promptMarker     = []byte(`"prompt"`)
	promptChatFields = []string{"prompt_id", "prompt_version", "prompt_variables"}
)

// applyPrompt resolves the stored prompt a request names and returns the body
// to parse in its place, with what the log row records. A body that names
// none comes back as it is (the common case costs a substring search). The
// request path calls it after reading the body and before parsing and
// counting it.
func (s *Server) applyPrompt(r *http.Request, c *caller, mode adaptor.Mode, body []byte) ([]byte, promptUse, *apiError) {
	tok := c.token
	if mode != adaptor.ModeChat && mode != adaptor.ModeResponses {
		if tok.PromptsOnly {
			return nil, promptUse{}, errPromptRequired
		}
		return body, promptUse{}, nil
	}
	marker := promptChatMarker
	if mode == adaptor.ModeResponses {
		marker = promptMarker
	}
	headerID := r.Header.Get("X-Prompt-Id")
	if headerID == "" && !bytes.Contains(body, marker) {
		if tok.PromptsOnly {
			return nil, promptUse{}, errPromptRequired
		}
		return body, promptUse{}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return body, promptUse{}, nil // parseRequest says what is wrong with it
	}
	ref, aerr := promptRefOf(mode, m, r.Header)
	if aerr != nil {
		return nil, promptUse{}, aerr
	}
	if ref.id == "" {
		if tok.PromptsOnly {
			return nil, promptUse{}, errPromptRequired
		}
		return body, promptUse{}, nil // the marker was in some text
	}

	p := s.state.Prompt(ref.id)
	if p == nil && mode == adaptor.ModeResponses && strings.HasPrefix(ref.id, "pmpt_") && tok.Prompts == nil && !tok.PromptsOnly {
		// One of OpenAI's own hosted prompts: the upstream resolves it.
		return body, promptUse{}, nil
	}
	if p == nil || !p.UsableBy(c.user.ID) {
		// Another user's private prompt is as absent as one that does not exist.
		return nil, promptUse{}, &apiError{http.StatusNotFound, "invalid_request_error", "prompt_not_found",
			fmt.Sprintf("The prompt `%s` does not exist or you do not have access to it.", ref.id)}
	}
	if tok.Prompts != nil && !tok.Prompts[p.Name] {
		return nil, promptUse{}, &apiError{http.StatusForbidden, "invalid_request_error", "prompt_not_allowed",
			fmt.Sprintf("This API key may not use the prompt `%s`.", p.Name)}
	}
	pv, err := p.Resolve(ref.version)
	if err != nil {
		var re *prompt.RefError
		if errors.As(err, &re) {
			return nil, promptUse{}, &apiError{http.StatusNotFound, "invalid_request_error", "prompt_version_not_found", re.Msg}
		}
		return nil, promptUse{}, errInternal
	}
	var out []byte
	if mode == adaptor.ModeChat {
		out, err = mergeChat(m, pv.Template, ref.vars)
	} else {
		out, err = mergeResponses(m, pv.Template, ref.vars)
	}
	if err != nil {
		var ve *prompt.VariableError
		if errors.As(err, &ve) {
			return nil, promptUse{}, badRequest(ve.Code, fmt.Sprintf("%s (prompt `%s`, version %d)", strings.TrimSuffix(ve.Msg, "."), p.Name, pv.Version))
		}
		var ce clientError
		if errors.As(err, &ce) {
			return nil, promptUse{}, ce.apiError
		}
		return nil, promptUse{}, errInternal
	}
	return out, promptUse{Name: p.Name, Version: pv.Version, Hash: pv.Hash}, nil
}

// noStoredPrompt guards the entrances that do not serve stored prompts yet
// (Anthropic Messages): a "prompts only" key is refused there as for a raw
// request, and a prompt named by header is refused rather than ignored.
func noStoredPrompt(r *http.Request, c *caller) *apiError {
	if c.token.PromptsOnly {
		return errPromptRequired
	}
	if r.Header.Get("X-Prompt-Id") != "" {
		return badRequest("prompt_not_supported", "Stored prompts are served on /v1/chat/completions and /v1/responses; this endpoint does not apply them.")
	}
	return nil
}

// clientError carries a reply about the request through an error return.
type clientError struct{ *apiError }

func (e clientError) Error() string { return e.Message }

// promptRef is what a request names: prompt, version or label, variables.
type promptRef struct {
	id, version string
	vars        map[string]json.RawMessage
}

// promptRefOf reads the prompt fields and removes them from m.
func promptRefOf(mode adaptor.Mode, m map[string]json.RawMessage, h http.Header) (promptRef, *apiError) {
	var ref promptRef
	var rawVersion, rawVars json.RawMessage
	if mode == adaptor.ModeChat {
		if raw, ok := m["prompt_id"]; ok && !isJSONNull(raw) {
			if json.Unmarshal(raw, &ref.id) != nil {
				return ref, badRequest("invalid_prompt", "'prompt_id' must be a string: the name of a stored prompt.")
			}
		}
		rawVersion, rawVars = m["prompt_version"], m["prompt_variables"]
		for _, f := range promptChatFields {
			delete(m, f)
		}
	} else if raw, ok := m["prompt"]; ok {
		delete(m, "prompt")
		if !isJSONNull(raw) {
			var p struct {
				ID        string          `json:"id"`
				Version   json.RawMessage `json:"version"`
				Variables json.RawMessage `json:"variables"`
			}
			if json.Unmarshal(raw, &p) != nil || p.ID == "" {
				return ref, badRequest("invalid_prompt", `'prompt' must be {"id": name, "version": number or label, "variables": {...}}.`)
			}
			ref.id, rawVersion, rawVars = p.ID, p.Version, p.Variables
		}
	}
	if ref.id == "" {
		ref.id = strings.TrimSpace(h.Get("X-Prompt-Id"))
		if v := h.Get("X-Prompt-Version"); v != "" && ref.id != "" {
			rawVersion, _ = json.Marshal(strings.TrimSpace(v))
		}
	}
	if ref.id == "" {
		if !isJSONNull(rawVersion) || !isJSONNull(rawVars) {
			return ref, badRequest("invalid_prompt", "A prompt version or variables were given without the prompt's id.")
		}
		return ref, nil
	}
	if !isJSONNull(rawVersion) {
		// A version is sent as "3", 3 or a label.
		var n json.Number
		if json.Unmarshal(rawVersion, &ref.version) != nil {
			if json.Unmarshal(rawVersion, &n) != nil {
				return ref, badRequest("invalid_prompt", "The prompt version must be a version number or a label.")
			}
			ref.version = n.String()
		}
		ref.version = strings.TrimSpace(ref.version)
	}
	if !isJSONNull(rawVars) {
		if json.Unmarshal(rawVars, &ref.vars) != nil {
			return ref, badRequest("invalid_prompt", "The prompt variables must be an object of name to value.")
		}
	}
	return ref, nil
}

func isJSONNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// unset reports whether a request leaves a field to the prompt's default:
// absent or null (an empty model too: SDKs that require the field send it).
func unset(m map[string]json.RawMessage, key string) bool {
	raw, ok := m[key]
	return !ok || isJSONNull(raw) || (key == "model" && string(bytes.TrimSpace(raw)) == `""`)
}

// defaultBlockedBy: a default that must not join a request field the request
// set in its own way (both output limits; a tool choice naming the prompt's
// tools beside the request's own tools).
var defaultBlockedBy = map[string][]string{
	"max_tokens":            {"max_completion_tokens"},
	"max_completion_tokens": {"max_tokens"},
	"tool_choice":           {"tools"},
}

func applyDefaults(m map[string]json.RawMessage, defaults map[string]json.RawMessage) {
next:
	for k, v := range defaults {
		if !unset(m, k) {
			continue
		}
		for _, other := range defaultBlockedBy[k] {
			if !unset(m, other) {
				continue next
			}
		}
		m[k] = v
	}
}

// mergeChat puts the version's messages in front of the request's own.
func mergeChat(m map[string]json.RawMessage, t *prompt.Template, vars map[string]json.RawMessage) ([]byte, error) {
	own, err := arrayElements(m["messages"])
	if err != nil {
		return nil, clientError{badRequest("invalid_message", "'messages' must be an array.")}
	}
	msgs := make([]byte, 0, 512+len(own))
	msgs = append(msgs, '[')
	if msgs, err = t.AppendChat(msgs, vars); err != nil {
		return nil, err
	}
	if len(own) > 0 {
		msgs = append(append(msgs, ','), own...)
	}
	m["messages"] = append(msgs, ']')
	applyDefaults(m, t.ChatDefaults())
	return encodeObject(m), nil
}

// mergeResponses puts the version's messages in front of the request's
// input: an input string becomes a user message after them.
func mergeResponses(m map[string]json.RawMessage, t *prompt.Template, vars map[string]json.RawMessage) ([]byte, error) {
	in := bytes.TrimSpace(m["input"])
	var own []byte
	switch {
	case isJSONNull(in):
	case in[0] == '"':
		own = append(append([]byte(`{"role":"user","content":`), in...), '}')
	case in[0] == '[':
		own, _ = arrayElements(in)
	default:
		return nil, clientError{badRequest("invalid_input", "'input' must be a string or an array of input items.")}
	}
	items := make([]byte, 0, 512+len(own))
	items = append(items, '[')
	var err error
	if items, err = t.AppendResponses(items, vars); err != nil {
		return nil, err
	}
	if len(own) > 0 {
		items = append(append(items, ','), own...)
	}
	m["input"] = append(items, ']')
	applyDefaults(m, t.ResponsesDefaults())
	return encodeObject(m), nil
}

// arrayElements returns what is between an array's brackets (nil for an
// absent, null or empty array). The array was decoded already, so it is
// valid JSON.
func arrayElements(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if isJSONNull(raw) {
		return nil, nil
	}
	if raw[0] != '[' || raw[len(raw)-1] != ']' {
		return nil, errors.New("not an array")
	}
	return bytes.TrimSpace(raw[1 : len(raw)-1]), nil
}

// encodeObject writes m with its keys sorted. Values are written as they
// are: each was decoded, or produced, as valid JSON.
func encodeObject(m map[string]json.RawMessage) []byte {
	keys := make([]string, 0, len(m))
	n := 2
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	out := make([]byte, 0, n)
	out = append(out, '{')
	for i, k := range keys {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, k)
		out = append(out, ':')
		out = append(out, m[k]...)
	}
	return append(out, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
