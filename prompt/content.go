// Package prompt holds what a stored prompt version is: messages with
// {{name}} placeholders, the variables they declare and default request
// parameters; its validation and canonical encoding (whose SHA-256 names the
// version's content in logs), and the logic-less template that fills it in.
//
// Rows live in queries, the in-memory copy every node serves from in state,
// and the merging into a request in relay.
package prompt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Limits on one version, so a stored prompt stays a prompt and the relay's
// copy of every version stays small.
const (
	MaxMessages     = 100
	MaxVariables    = 64
	MaxContentBytes = 256 << 10 // the canonical encoding
	MaxNameLen      = 64
)

// Roles a version's message may have.
var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true}

// Variable types.
const (
	TypeText  = "text"
	TypeImage = "image"
)

// LabelLatest is the implicit label of the newest version, and LabelProduction
// the one a request without version or label gets when it exists.
const (
	LabelLatest     = "latest"
	LabelProduction = "production"
)

var (
	// A name is what clients send as prompt_id and what URLs carry: no slash,
	// no space. It starts with a letter or digit.
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// A label starts with a letter, so "3" is always a version number.
	labelRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
)

// reservedNames are path segments beside prompt names under /api/prompt/
// and /prompts/.
var reservedNames = map[string]bool{"export": true, "import": true, "preview": true, "new": true, "editor": true}

// CheckName says what is wrong with a prompt name, or nil.
func CheckName(s string) error {
	switch {
	case s == "":
		return errors.New("name is required")
	case len(s) > MaxNameLen:
		return fmt.Errorf("name must be at most %d characters", MaxNameLen)
	case !nameRe.MatchString(s):
		return errors.New("name may hold only letters, digits, '.', '_' and '-', and starts with a letter or digit")
	case reservedNames[strings.ToLower(s)]:
		return fmt.Errorf("%q is reserved; choose another name", s)
	}
	return nil
}

// CheckLabel says what is wrong with a label name, or nil. "latest" is
// implicit and cannot be set.
func CheckLabel(s string) error {
	switch {
	case s == LabelLatest:
		return errors.New(`"latest" always means the newest version and cannot be moved`)
	case !labelRe.MatchString(s):
		return errors.New("a label is 1 to 32 lower-case letters, digits, '_' or '-', starting with a letter")
	}
	return nil
}

// ImageURL is an image part's image: an http(s) URL or a data: URL (the
// gateway never fetches it), or a template of one.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"` // "low", "high", "auto" or empty
}

// Part is one element of an array content: text or an image.
type Part struct {
	Type     string    `json:"type"` // "text" or "image_url"
	Text     string    `json:"text"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// MarshalJSON writes a text part as {"type","text"} and an image part as
// {"type","image_url"}: chat completions' own shapes.
func (p Part) MarshalJSON() ([]byte, error) {
	if p.Type == partImage {
		return marshal(struct {
			Type     string    `json:"type"`
			ImageURL *ImageURL `json:"image_url"`
		}{p.Type, p.ImageURL})
	}
	return marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{p.Type, p.Text})
}

const (
	partText  = "text"
	partImage = "image_url"
)

// Message is one message of a version, or of a rendered one: a role and a
// content that is a string (Parts nil) or an array of parts.
type Message struct {
	Role  string
	Text  string
	Parts []Part
}

// MarshalJSON writes {"role","content"} with content a string or an array,
// as chat completions take it.
func (m Message) MarshalJSON() ([]byte, error) {
	if m.Parts != nil {
		return marshal(struct {
			Role    string `json:"role"`
			Content []Part `json:"content"`
		}{m.Role, m.Parts})
	}
	return marshal(struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}{m.Role, m.Text})
}

// UnmarshalJSON reads {"role","content"}; content is a string or an array of
// text and image_url parts. Anything else is refused with what is wrong.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errors.New("a message is an object with role and content")
	}
	for k := range raw {
		if k != "role" && k != "content" {
			return fmt.Errorf("unknown field %q: a stored message has only role and content", k)
		}
	}
	if err := json.Unmarshal(raw["role"], &m.Role); err != nil || m.Role == "" {
		return errors.New("role is required (system, developer, user or assistant)")
	}
	c := bytes.TrimSpace(raw["content"])
	switch {
	case len(c) == 0 || string(c) == "null":
		return errors.New("content is required")
	case c[0] == '"':
		m.Parts = nil
		return json.Unmarshal(c, &m.Text)
	case c[0] == '[':
		var parts []struct {
			Type     string          `json:"type"`
			Text     *string         `json:"text"`
			ImageURL json.RawMessage `json:"image_url"`
		}
		if err := json.Unmarshal(c, &parts); err != nil {
			return errors.New("content must be a string or an array of text and image_url parts")
		}
		m.Parts = make([]Part, 0, len(parts))
		for i, p := range parts {
			switch p.Type {
			case partText:
				if p.Text == nil {
					return fmt.Errorf("content[%d]: a text part needs text", i)
				}
				m.Parts = append(m.Parts, Part{Type: partText, Text: *p.Text})
			case partImage:
				img, err := decodeImageURL(p.ImageURL)
				if err != nil {
					return fmt.Errorf("content[%d]: %w", i, err)
				}
				m.Parts = append(m.Parts, Part{Type: partImage, ImageURL: &img})
			default:
				return fmt.Errorf("content[%d]: part type %q is not stored (text or image_url)", i, p.Type)
			}
		}
		return nil
	}
	return errors.New("content must be a string or an array of text and image_url parts")
}

// decodeImageURL reads image_url as {"url","detail"} or a bare URL string.
func decodeImageURL(raw json.RawMessage) (ImageURL, error) {
	var img ImageURL
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		err := json.Unmarshal(raw, &img.URL)
		return img, err
	}
	if err := json.Unmarshal(raw, &img); err != nil || img.URL == "" {
		return img, errors.New(`an image_url part needs {"url": ...}`)
	}
	return img, nil
}

// Variable is one variable a version declares. A required variable must be
// given by every request; an optional one takes its default (or nothing).
type Variable struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"` // TypeText or TypeImage
	Required bool    `json:"required"`
	Default  *string `json:"default,omitempty"`
}

// UnmarshalJSON fills the defaults of an omitted type (text) and required
// (true unless a default is given).
func (v *Variable) UnmarshalJSON(b []byte) error {
	var in struct {
		Name     string  `json:"name"`
		Type     string  `json:"type"`
		Required *bool   `json:"required"`
		Default  *string `json:"default"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return errors.New(`a variable is {"name", "type", "required", "default"} with a string default`)
	}
	*v = Variable{Name: in.Name, Type: in.Type, Default: in.Default}
	if v.Type == "" {
		v.Type = TypeText
	}
	if in.Required != nil {
		v.Required = *in.Required
	} else {
		v.Required = in.Default == nil
	}
	return nil
}

// Content is a version: what is hashed, stored and served.
type Content struct {
	Messages   []Message                  `json:"messages"`
	Variables  []Variable                 `json:"variables"`
	Parameters map[string]json.RawMessage `json:"parameters"`
}

// ContentError is a validation failure, with the field it is about
// ("messages[2].content", "variables[0].name", "parameters.temperature").
type ContentError struct {
	Field string
	Msg   string
}

func (e *ContentError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func contentErr(field, format string, args ...any) error {
	return &ContentError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Normalize validates c and completes it: placeholders that no variable
// declares are declared as required text variables (in the order first
// used), parameters are checked and compacted. After it, Compile cannot fail.
func (c *Content) Normalize() error {
	if len(c.Messages) == 0 {
		return contentErr("messages", "at least one message is required")
	}
	if len(c.Messages) > MaxMessages {
		return contentErr("messages", "at most %d messages", MaxMessages)
	}
	if c.Variables == nil {
		c.Variables = []Variable{}
	}
	declared := map[string]int{}
	for i := range c.Variables {
		v := &c.Variables[i]
		f := fmt.Sprintf("variables[%d]", i)
		v.Name = strings.TrimSpace(v.Name)
		if !validVarName(v.Name) {
			return contentErr(f+".name", "%q is not a variable name: letters, digits and '_', not starting with a digit", v.Name)
		}
		if _, dup := declared[v.Name]; dup {
			return contentErr(f+".name", "variable %q is declared twice", v.Name)
		}
		declared[v.Name] = i
		if v.Type != TypeText && v.Type != TypeImage {
			return contentErr(f+".type", "type must be %q or %q", TypeText, TypeImage)
		}
		if v.Required && v.Default != nil {
			return contentErr(f+".default", "variable %q is required, so its default would never be used: drop one of the two", v.Name)
		}
		if v.Type == TypeImage && v.Default != nil && !validImageURL(*v.Default) {
			return contentErr(f+".default", "an image default is an http(s) or data: URL")
		}
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		f := fmt.Sprintf("messages[%d]", i)
		if !roles[m.Role] {
			return contentErr(f+".role", "role must be system, developer, user or assistant, not %q", m.Role)
		}
		texts := []string{m.Text}
		if m.Parts != nil {
			if len(m.Parts) == 0 {
				return contentErr(f+".content", "an array content needs at least one part")
			}
			texts = texts[:0]
			for _, p := range m.Parts {
				if p.Type == partImage {
					if m.Role != "user" {
						return contentErr(f+".content", "only user messages may hold images")
					}
					texts = append(texts, p.ImageURL.URL)
				} else {
					texts = append(texts, p.Text)
				}
			}
		}
		for _, t := range texts {
			names, err := placeholders(t)
			if err != nil {
				return contentErr(f+".content", "%v", err)
			}
			for _, n := range names {
				j, ok := declared[n]
				if !ok {
					j = len(c.Variables)
					declared[n] = j
					c.Variables = append(c.Variables, Variable{Name: n, Type: TypeText, Required: true})
				}
				if c.Variables[j].Type == TypeImage && m.Role != "user" {
					return contentErr(f+".content", "{{%s}} is an image: only user messages may hold images", n)
				}
			}
		}
	}
	if len(c.Variables) > MaxVariables {
		return contentErr("variables", "at most %d variables", MaxVariables)
	}
	params, err := normalizeParams(c.Parameters)
	if err != nil {
		return err
	}
	c.Parameters = params
	if n := len(c.Encode()); n > MaxContentBytes {
		return contentErr("", "the version is %d KiB; at most %d KiB", n>>10, MaxContentBytes>>10)
	}
	return nil
}

// Encode is the canonical encoding: what is stored and hashed. Parameter
// keys are sorted and their values compact; HTML is not escaped, so an
// export reads as it was written.
func (c *Content) Encode() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	cc := *c
	if cc.Parameters == nil {
		cc.Parameters = map[string]json.RawMessage{}
	}
	if cc.Variables == nil {
		cc.Variables = []Variable{}
	}
	if err := enc.Encode(cc); err != nil {
		// Every field is a plain value checked by Normalize.
		panic("prompt: encode content: " + err.Error())
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// marshal is json.Marshal without HTML escaping: a prompt about <tags>
// reads the same in an export as it was written.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Hash is the hex SHA-256 of an encoding.
func Hash(encoded []byte) string {
	sum := sha256.Sum256(encoded)
	return hex.EncodeToString(sum[:])
}

// Decode reads a stored or submitted encoding and normalizes it.
func Decode(b []byte) (Content, error) {
	var top struct {
		Messages   json.RawMessage `json:"messages"`
		Variables  json.RawMessage `json:"variables"`
		Parameters json.RawMessage `json:"parameters"`
	}
	if err := json.Unmarshal(b, &top); err != nil {
		return Content{}, contentErr("", "a version is a JSON object with messages, variables and parameters")
	}
	return FromJSON(top.Messages, top.Variables, top.Parameters)
}

// FromJSON decodes the three parts of a version as a request body carries
// them, each failure naming its element ("messages[2]: role is required"),
// and normalizes the result.
func FromJSON(messages, variables, parameters json.RawMessage) (Content, error) {
	var c Content
	var raws []json.RawMessage
	if !isNull(messages) && json.Unmarshal(messages, &raws) != nil {
		return c, contentErr("messages", `must be an array of {"role", "content"}`)
	}
	c.Messages = make([]Message, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &c.Messages[i]); err != nil {
			return c, contentErr(fmt.Sprintf("messages[%d]", i), "%v", err)
		}
	}
	raws = nil
	if !isNull(variables) && json.Unmarshal(variables, &raws) != nil {
		return c, contentErr("variables", `must be an array of {"name", "type", "required", "default"}`)
	}
	c.Variables = make([]Variable, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &c.Variables[i]); err != nil {
			return c, contentErr(fmt.Sprintf("variables[%d]", i), "%v", err)
		}
	}
	if !isNull(parameters) && json.Unmarshal(parameters, &c.Parameters) != nil {
		return c, contentErr("parameters", "must be an object of parameter name to value")
	}
	return c, c.Normalize()
}

var varNameRe = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_]*$`)

func validVarName(s string) bool {
	return s != "" && utf8.RuneCountInString(s) <= 64 && varNameRe.MatchString(s)
}

func validImageURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "data:image/")
}
