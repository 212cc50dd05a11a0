package prompt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A version's parameters are defaults for chat completion fields, under
// their chat names. Only these are stored: each is checked, so a typo is
// refused when the version is saved rather than ignored on every request.
var paramChecks = map[string]func(json.RawMessage) error{
	"model":                 nonEmptyString,
	"temperature":           number(0, 2),
	"top_p":                 number(0, 1),
	"max_tokens":            positiveInt,
	"max_completion_tokens": positiveInt,
	"presence_penalty":      number(-2, 2),
	"frequency_penalty":     number(-2, 2),
	"seed":                  integer,
	"stop":                  stopSequences,
	"response_format":       responseFormat,
	"tools":                 functionTools,
	"tool_choice":           toolChoice,
	"parallel_tool_calls":   boolean,
	"reasoning_effort":      nonEmptyString,
}

// ParamNames lists the parameters a version may set, sorted.
func ParamNames() []string {
	names := make([]string, 0, len(paramChecks))
	for n := range paramChecks {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func normalizeParams(in map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(in))
	for k, raw := range in {
		check, ok := paramChecks[k]
		if !ok {
			return nil, contentErr("parameters."+k, "is not a parameter a prompt can set (%s)", strings.Join(ParamNames(), ", "))
		}
		if isNull(raw) {
			continue
		}
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, contentErr("parameters."+k, "is not valid JSON")
		}
		if err := check(b.Bytes()); err != nil {
			return nil, contentErr("parameters."+k, "%v", err)
		}
		out[k] = json.RawMessage(b.Bytes())
	}
	return out, nil
}

func nonEmptyString(raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) != nil || strings.TrimSpace(s) == "" {
		return errors.New("must be a non-empty string")
	}
	return nil
}

func number(lo, hi float64) func(json.RawMessage) error {
	return func(raw json.RawMessage) error {
		var f float64
		if json.Unmarshal(raw, &f) != nil || f < lo || f > hi {
			return fmt.Errorf("must be a number from %g to %g", lo, hi)
		}
		return nil
	}
}

func positiveInt(raw json.RawMessage) error {
	var n int64
	if json.Unmarshal(raw, &n) != nil || n < 1 {
		return errors.New("must be a whole number ≥ 1")
	}
	return nil
}

func integer(raw json.RawMessage) error {
	var n int64
	if json.Unmarshal(raw, &n) != nil {
		return errors.New("must be a whole number")
	}
	return nil
}

func boolean(raw json.RawMessage) error {
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return errors.New("must be true or false")
	}
	return nil
}

func stopSequences(raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return nil
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil || len(list) > 4 {
		return errors.New("must be a string or an array of at most 4 strings")
	}
	return nil
}

// chatResponseFormat is response_format as chat completions take it.
type chatResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Schema      json.RawMessage `json:"schema,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"json_schema,omitempty"`
}

func responseFormat(raw json.RawMessage) error {
	var rf chatResponseFormat
	if json.Unmarshal(raw, &rf) != nil {
		return errors.New(`must be {"type":"text"}, {"type":"json_object"} or {"type":"json_schema","json_schema":{"name":...,"schema":{...}}}`)
	}
	switch rf.Type {
	case "text", "json_object":
		return nil
	case "json_schema":
		if rf.JSONSchema == nil || rf.JSONSchema.Name == "" {
			return errors.New(`a json_schema format needs "json_schema": {"name": ..., "schema": {...}}`)
		}
		if len(rf.JSONSchema.Schema) > 0 && rf.JSONSchema.Schema[0] != '{' {
			return errors.New("json_schema.schema must be a JSON Schema object")
		}
		return nil
	}
	return fmt.Errorf("type must be text, json_object or json_schema, not %q", rf.Type)
}

// chatTool is a function tool as chat completions declare it.
type chatTool struct {
	Type     string `json:"type"`
	Function *struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
		Strict      *bool           `json:"strict,omitempty"`
	} `json:"function"`
}

func functionTools(raw json.RawMessage) error {
	var tools []chatTool
	if json.Unmarshal(raw, &tools) != nil {
		return errors.New(`must be an array of {"type":"function","function":{"name":...,"parameters":{...}}}`)
	}
	for i, t := range tools {
		if t.Type != "function" || t.Function == nil || t.Function.Name == "" {
			return fmt.Errorf(`[%d] must be {"type":"function","function":{"name":...}}`, i)
		}
		if p := t.Function.Parameters; len(p) > 0 && p[0] != '{' {
			return fmt.Errorf("[%d].function.parameters must be a JSON Schema object", i)
		}
	}
	return nil
}

func toolChoice(raw json.RawMessage) error {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "none" || s == "auto" || s == "required" {
			return nil
		}
		return errors.New(`must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	var o struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &o) != nil || o.Type != "function" || o.Function.Name == "" {
		return errors.New(`must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`)
	}
	return nil
}

// defaults derives the chat and Responses API defaults from checked
// parameters.
func defaults(params map[string]json.RawMessage) (chat, responses map[string]json.RawMessage, err error) {
	chat = make(map[string]json.RawMessage, len(params))
	responses = make(map[string]json.RawMessage, len(params))
	for k, v := range params {
		chat[k] = v
		switch k {
		case "model", "temperature", "top_p", "parallel_tool_calls":
			responses[k] = v
		case "max_tokens":
			if _, both := params["max_completion_tokens"]; !both {
				responses["max_output_tokens"] = v
			}
		case "max_completion_tokens":
			responses["max_output_tokens"] = v
		case "reasoning_effort":
			responses["reasoning"], err = marshal(map[string]json.RawMessage{"effort": v})
		case "response_format":
			responses["text"], err = responsesTextFormat(v)
		case "tools":
			responses["tools"], err = responsesTools(v)
		case "tool_choice":
			responses["tool_choice"], err = responsesToolChoice(v)
		}
		// stop, seed and the penalties have no Responses API field.
		if err != nil {
			return nil, nil, contentErr("parameters."+k, "%v", err)
		}
	}
	return chat, responses, nil
}

// responsesTextFormat is response_format as the Responses API's text.format,
// where a JSON schema's fields sit beside its type.
func responsesTextFormat(raw json.RawMessage) (json.RawMessage, error) {
	var rf chatResponseFormat
	if err := json.Unmarshal(raw, &rf); err != nil {
		return nil, err
	}
	format := map[string]any{"type": rf.Type}
	if s := rf.JSONSchema; s != nil && rf.Type == "json_schema" {
		format["name"] = s.Name
		if s.Description != "" {
			format["description"] = s.Description
		}
		if len(s.Schema) > 0 {
			format["schema"] = s.Schema
		}
		if s.Strict != nil {
			format["strict"] = *s.Strict
		}
	}
	return marshal(map[string]any{"format": format})
}

// responsesTools flattens chat function tools ({"type","function":{...}})
// into the Responses API's ({"type","name","parameters",...}).
func responsesTools(raw json.RawMessage) (json.RawMessage, error) {
	var tools []chatTool
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(tools))
	for _, t := range tools {
		f := t.Function
		m := map[string]any{"type": "function", "name": f.Name}
		if f.Description != "" {
			m["description"] = f.Description
		}
		if len(f.Parameters) > 0 {
			m["parameters"] = f.Parameters
		}
		if f.Strict != nil {
			m["strict"] = *f.Strict
		}
		out = append(out, m)
	}
	return marshal(out)
}

func responsesToolChoice(raw json.RawMessage) (json.RawMessage, error) {
	if raw[0] == '"' {
		return raw, nil
	}
	var o struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, err
	}
	return marshal(map[string]string{"type": "function", "name": o.Function.Name})
}
