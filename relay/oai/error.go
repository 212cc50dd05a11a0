package oai

import (
	"bytes"
	"encoding/json"
)

// ErrorResponse is OpenAI's error body: {"error":{"message","type","param","code"}}.
type ErrorResponse struct {
	Error Error `json:"error"`
}

// Error is the error object of an ErrorResponse.
type Error struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"` // null unless the error is about one parameter
	Code    Code    `json:"code"`
}

// Code is an error code. Upstreams send a string, a number or null; it is
// kept as text and written back as a string, or null when empty.
type Code string

// UnmarshalJSON accepts a string, a number or null.
func (c *Code) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*c = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = Code(s)
	default:
		// A number (or anything else scalar): keep its literal text.
		*c = Code(b)
	}
	return nil
}

// MarshalJSON writes null for the empty code, as OpenAI does.
func (c Code) MarshalJSON() ([]byte, error) {
	if c == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(c))
}
