package prompt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// The template language is {{name}} and nothing else: no expressions, no
// conditions, loops, partials or includes, so a stored prompt cannot run
// anything and a value cannot smuggle template syntax in. Substitution is one
// pass over the compiled text: braces inside a value are text, never
// expanded again. \{{ writes a literal "{{".

// segment is a run of literal text or one placeholder (v >= 0, the index of
// its variable).
type segment struct {
	lit string
	v   int
}

// placeholders lists the names a text uses, in order, or says why it is not
// a valid template.
func placeholders(s string) ([]string, error) {
	segs, err := parseText(s, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, sg := range segs {
		if sg.v >= 0 {
			names = append(names, sg.lit)
		}
	}
	return names, nil
}

// parseText splits s into segments. With index nil, a placeholder's segment
// carries its name in lit (and v 0); otherwise v is index[name] (a name
// missing there is an error).
func parseText(s string, index map[string]int) ([]segment, error) {
	var segs []segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String(), v: -1})
			lit.Reset()
		}
	}
	i := 0
	for {
		j := strings.Index(s[i:], "{{")
		if j < 0 {
			lit.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && s[j-1] == '\\' { // \{{ is a literal {{
			lit.WriteString(s[i : j-1])
			lit.WriteString("{{")
			i = j + 2
			continue
		}
		lit.WriteString(s[i:j])
		at := utf8.RuneCountInString(s[:j]) + 1
		end := strings.Index(s[j+2:], "}}")
		if end < 0 {
			return nil, fmt.Errorf(`"{{" at character %d is never closed with "}}" (write \{{ for literal braces)`, at)
		}
		name := strings.TrimSpace(s[j+2 : j+2+end])
		if !validVarName(name) {
			return nil, fmt.Errorf(`"{{%s}}" at character %d is not a placeholder: only {{name}} is supported (letters, digits and '_'; no expressions, conditions or includes), or \{{ for literal braces`, clip(s[j+2:j+2+end], 30), at)
		}
		flush()
		if index == nil {
			segs = append(segs, segment{lit: name, v: 0})
		} else {
			k, ok := index[name]
			if !ok {
				return nil, fmt.Errorf("{{%s}} is not a declared variable", name)
			}
			segs = append(segs, segment{v: k})
		}
		i = j + 2 + end + 2
	}
	flush()
	return segs, nil
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Template is a compiled version, ready to fill in. It is immutable and safe
// for concurrent use.
type Template struct {
	vars  []Variable
	index map[string]int
	msgs  []cmessage

	chatDefaults      map[string]json.RawMessage
	responsesDefaults map[string]json.RawMessage
}

type cmessage struct {
	role     string
	asString bool      // content is a string (no image expands into it)
	text     []segment // when asString
	parts    []cpart   // otherwise
	chat     []byte    // the chat encoding, when there is no placeholder
	resp     []byte    // the Responses encoding, likewise
}

type cpart struct {
	image    bool
	text     []segment // text part
	url      []segment // image part with a (possibly templated) URL
	imageVar int       // image part filled by an image variable; -1 otherwise
	detail   string
}

// Compile prepares a normalized content for rendering.
func Compile(c Content) (*Template, error) {
	t := &Template{vars: c.Variables, index: make(map[string]int, len(c.Variables))}
	for i, v := range c.Variables {
		t.index[v.Name] = i
	}
	for i, m := range c.Messages {
		cm, err := t.compileMessage(m)
		if err != nil {
			return nil, contentErr(fmt.Sprintf("messages[%d].content", i), "%v", err)
		}
		t.msgs = append(t.msgs, cm)
	}
	var err error
	if t.chatDefaults, t.responsesDefaults, err = defaults(c.Parameters); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) compileMessage(m Message) (cmessage, error) {
	cm := cmessage{role: m.Role}
	if m.Parts == nil {
		segs, err := parseText(m.Text, t.index)
		if err != nil {
			return cm, err
		}
		if !t.hasImage(segs) {
			cm.asString, cm.text = true, segs
		} else {
			cm.parts = t.splitImages(segs)
		}
	} else {
		for _, p := range m.Parts {
			if p.Type == partImage {
				segs, err := parseText(p.ImageURL.URL, t.index)
				if err != nil {
					return cm, err
				}
				cp := cpart{image: true, imageVar: -1, detail: p.ImageURL.Detail}
				if len(segs) == 1 && segs[0].v >= 0 && t.vars[segs[0].v].Type == TypeImage {
					cp.imageVar = segs[0].v
				} else if t.hasImage(segs) {
					return cm, fmt.Errorf("an image variable fills a whole image URL: write just {{name}} there")
				} else {
					cp.url = segs
				}
				cm.parts = append(cm.parts, cp)
				continue
			}
			segs, err := parseText(p.Text, t.index)
			if err != nil {
				return cm, err
			}
			cm.parts = append(cm.parts, t.splitImages(segs)...)
		}
	}
	if !cm.hasPlaceholder() {
		msg := cm.fill(nil)
		cm.chat, _ = msg.MarshalJSON()
		cm.resp = responsesItem(msg)
	}
	return cm, nil
}

func (t *Template) hasImage(segs []segment) bool {
	for _, s := range segs {
		if s.v >= 0 && t.vars[s.v].Type == TypeImage {
			return true
		}
	}
	return false
}

// splitImages turns a text with image placeholders into text parts and image
// parts, in order; empty text between them is dropped.
func (t *Template) splitImages(segs []segment) []cpart {
	var out []cpart
	var run []segment
	flush := func() {
		if len(run) > 0 {
			out = append(out, cpart{text: run, imageVar: -1})
			run = nil
		}
	}
	for _, s := range segs {
		if s.v >= 0 && t.vars[s.v].Type == TypeImage {
			flush()
			out = append(out, cpart{image: true, imageVar: s.v})
			continue
		}
		run = append(run, s)
	}
	flush()
	if len(out) == 0 {
		out = append(out, cpart{imageVar: -1}) // an empty text
	}
	return out
}

func (cm *cmessage) hasPlaceholder() bool {
	has := func(segs []segment) bool {
		for _, s := range segs {
			if s.v >= 0 {
				return true
			}
		}
		return false
	}
	if cm.asString {
		return has(cm.text)
	}
	for _, p := range cm.parts {
		if p.imageVar >= 0 || has(p.text) || has(p.url) {
			return true
		}
	}
	return false
}

// value is a resolved variable.
type value struct {
	text string
	img  ImageURL
}

func expand(segs []segment, vals []value) string {
	if len(segs) == 1 && segs[0].v < 0 {
		return segs[0].lit
	}
	var b strings.Builder
	for _, s := range segs {
		if s.v < 0 {
			b.WriteString(s.lit)
		} else {
			b.WriteString(vals[s.v].text)
		}
	}
	return b.String()
}

func (cm *cmessage) fill(vals []value) Message {
	m := Message{Role: cm.role}
	if cm.asString {
		m.Text = expand(cm.text, vals)
		return m
	}
	m.Parts = make([]Part, 0, len(cm.parts))
	for _, p := range cm.parts {
		switch {
		case p.imageVar >= 0:
			img := vals[p.imageVar].img
			if img.Detail == "" {
				img.Detail = p.detail
			}
			m.Parts = append(m.Parts, Part{Type: partImage, ImageURL: &img})
		case p.image:
			m.Parts = append(m.Parts, Part{Type: partImage, ImageURL: &ImageURL{URL: expand(p.url, vals), Detail: p.detail}})
		default:
			m.Parts = append(m.Parts, Part{Type: partText, Text: expand(p.text, vals)})
		}
	}
	return m
}

// Variables returns the declared variables (do not modify).
func (t *Template) Variables() []Variable { return t.vars }

// ChatDefaults are the version's parameters as chat completion fields; a
// request's own fields win over them.
func (t *Template) ChatDefaults() map[string]json.RawMessage { return t.chatDefaults }

// ResponsesDefaults are the same parameters as Responses API fields
// (max_tokens as max_output_tokens, response_format as text.format, function
// tools flattened); chat-only ones (seed, stop, penalties) are left out.
func (t *Template) ResponsesDefaults() map[string]json.RawMessage { return t.responsesDefaults }

// Render fills the messages in with vals (name → JSON value, as a request
// carries them).
func (t *Template) Render(vals map[string]json.RawMessage) ([]Message, error) {
	rv, err := t.resolve(vals)
	if err != nil {
		return nil, err
	}
	out := make([]Message, len(t.msgs))
	for i := range t.msgs {
		out[i] = t.msgs[i].fill(rv)
	}
	return out, nil
}

// AppendChat appends the filled messages to dst as chat completion
// messages, separated by commas, without brackets: the relay splices them
// in front of the request's own.
func (t *Template) AppendChat(dst []byte, vals map[string]json.RawMessage) ([]byte, error) {
	return t.appendMessages(dst, vals, false)
}

// AppendResponses is AppendChat for the Responses API's input items.
func (t *Template) AppendResponses(dst []byte, vals map[string]json.RawMessage) ([]byte, error) {
	return t.appendMessages(dst, vals, true)
}

func (t *Template) appendMessages(dst []byte, vals map[string]json.RawMessage, responses bool) ([]byte, error) {
	rv, err := t.resolve(vals)
	if err != nil {
		return dst, err
	}
	for i := range t.msgs {
		cm := &t.msgs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		switch {
		case responses && cm.resp != nil:
			dst = append(dst, cm.resp...)
		case !responses && cm.chat != nil:
			dst = append(dst, cm.chat...)
		case responses:
			dst = append(dst, responsesItem(cm.fill(rv))...)
		default:
			b, err := cm.fill(rv).MarshalJSON()
			if err != nil {
				return dst, err
			}
			dst = append(dst, b...)
		}
	}
	return dst, nil
}

// responsesItem encodes a message as a Responses API input item: a string
// content stays a string; parts become input_text (output_text for the
// assistant) and input_image.
func responsesItem(m Message) []byte {
	if m.Parts == nil {
		b, _ := marshal(struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		}{m.Role, m.Text})
		return b
	}
	type item struct {
		Type     string `json:"type"`
		Text     string `json:"text,omitempty"`
		ImageURL string `json:"image_url,omitempty"`
		Detail   string `json:"detail,omitempty"`
	}
	textType := "input_text"
	if m.Role == "assistant" {
		textType = "output_text"
	}
	items := make([]item, 0, len(m.Parts))
	for _, p := range m.Parts {
		if p.Type == partImage {
			d := p.ImageURL.Detail
			if d == "" {
				d = "auto" // required by the Responses API
			}
			items = append(items, item{Type: "input_image", ImageURL: p.ImageURL.URL, Detail: d})
		} else {
			items = append(items, item{Type: textType, Text: p.Text})
		}
	}
	b, _ := marshal(struct {
		Role    string `json:"role"`
		Content []item `json:"content"`
	}{m.Role, items})
	return b
}

// VariableError is a request's variables not fitting the version: the
// relay answers 400 with Code, naming the variables.
type VariableError struct {
	Code  string // "missing_variable", "unknown_variable" or "invalid_variable"
	Names []string
	Msg   string
}

func (e *VariableError) Error() string { return e.Msg }

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}

// resolve checks vals against the declared variables and returns one value
// per variable: given, default, or empty for an optional one.
func (t *Template) resolve(vals map[string]json.RawMessage) ([]value, error) {
	if len(t.vars) == 0 && len(vals) == 0 {
		return nil, nil
	}
	var unknown []string
	for name := range vals {
		if _, ok := t.index[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		declared := make([]string, len(t.vars))
		for i, v := range t.vars {
			declared[i] = v.Name
		}
		msg := fmt.Sprintf("The prompt has no variable %s", quoted(unknown))
		if len(declared) > 0 {
			msg += fmt.Sprintf("; it declares %s.", quoted(declared))
		} else {
			msg += "; it declares none."
		}
		return nil, &VariableError{Code: "unknown_variable", Names: unknown, Msg: msg}
	}
	out := make([]value, len(t.vars))
	var missing []string
	for i, v := range t.vars {
		raw, given := vals[v.Name]
		if given && isNull(raw) {
			given = false
		}
		if !given {
			switch {
			case v.Default != nil && v.Type == TypeImage:
				out[i].img = ImageURL{URL: *v.Default}
			case v.Default != nil:
				out[i].text = *v.Default
			case v.Required:
				missing = append(missing, v.Name)
			}
			continue
		}
		var err error
		if v.Type == TypeImage {
			out[i].img, err = imageValue(raw)
		} else {
			out[i].text, err = textValue(raw)
		}
		if err != nil {
			return nil, &VariableError{Code: "invalid_variable", Names: []string{v.Name},
				Msg: fmt.Sprintf("The variable `%s` %v.", v.Name, err)}
		}
	}
	if len(missing) > 0 {
		noun := "variable"
		if len(missing) > 1 {
			noun = "variables"
		}
		return nil, &VariableError{Code: "missing_variable", Names: missing,
			Msg: fmt.Sprintf("The prompt needs the %s %s: it is required and has no default.", noun, quoted(missing))}
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// textValue reads a text variable: a string, or an input_text / text part.
func textValue(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("is not a valid string")
		}
		return s, nil
	}
	if raw[0] == '{' {
		var p struct {
			Type string  `json:"type"`
			Text *string `json:"text"`
		}
		if json.Unmarshal(raw, &p) == nil && (p.Type == "input_text" || p.Type == "text") && p.Text != nil {
			return *p.Text, nil
		}
	}
	return "", fmt.Errorf(`is text: send a string (or {"type":"input_text","text":...})`)
}

// imageValue reads an image variable: a URL string, a Responses input_image
// or a chat image_url part.
func imageValue(raw json.RawMessage) (ImageURL, error) {
	const want = `is an image: send an http(s) or data: URL, {"type":"input_image","image_url":...} or {"type":"image_url","image_url":{"url":...}}`
	raw = bytes.TrimSpace(raw)
	var img ImageURL
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &img.URL) != nil {
			return img, fmt.Errorf("%s", want)
		}
	case '{':
		var p struct {
			Type     string          `json:"type"`
			ImageURL json.RawMessage `json:"image_url"`
			Detail   string          `json:"detail"`
			FileID   string          `json:"file_id"`
		}
		if json.Unmarshal(raw, &p) != nil {
			return img, fmt.Errorf("%s", want)
		}
		switch {
		case p.Type == "input_image" && isNull(p.ImageURL) && p.FileID != "":
			return img, fmt.Errorf("is an image given by file_id, which the gateway cannot resolve: send image_url")
		case p.Type == "input_image":
			if json.Unmarshal(p.ImageURL, &img.URL) != nil {
				return img, fmt.Errorf("%s", want)
			}
			img.Detail = p.Detail
		case p.Type == "image_url":
			var err error
			if img, err = decodeImageURL(p.ImageURL); err != nil {
				return img, fmt.Errorf("%s", want)
			}
		default:
			return img, fmt.Errorf("%s", want)
		}
	default:
		return img, fmt.Errorf("%s", want)
	}
	if !validImageURL(img.URL) {
		return img, fmt.Errorf("%s", want)
	}
	switch img.Detail {
	case "", "low", "high", "auto":
	default:
		return img, fmt.Errorf(`has detail %q: use "low", "high" or "auto"`, img.Detail)
	}
	return img, nil
}

// Preview fills the messages in for a person to read, never failing: a
// variable with no value shows as {{name}} (its default when it has one),
// values are plain strings (an image's is its URL), unknown ones are
// ignored. The console's live preview and playground use it.
func (t *Template) Preview(vals map[string]string) []Message {
	rv := make([]value, len(t.vars))
	for i, v := range t.vars {
		s, ok := vals[v.Name]
		switch {
		case ok && s != "":
		case v.Default != nil:
			s = *v.Default
		case v.Required:
			s = "{{" + v.Name + "}}"
		}
		rv[i] = value{text: s, img: ImageURL{URL: s}}
	}
	out := make([]Message, len(t.msgs))
	for i := range t.msgs {
		out[i] = t.msgs[i].fill(rv)
	}
	return out
}
