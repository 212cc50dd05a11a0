package prompt

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// compile decodes a version from JSON, normalizes and compiles it.
func compile(t *testing.T, src string) *Template {
	t.Helper()
	c, err := Decode([]byte(src))
	if err != nil {
		t.Fatalf("decode %s: %v", src, err)
	}
	tpl, err := Compile(c)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return tpl
}

func vals(src string) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(src), &m); err != nil {
		panic(err)
	}
	return m
}

func chatJSON(t *testing.T, tpl *Template, v string) string {
	t.Helper()
	b, err := tpl.AppendChat(nil, vals(v))
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return "[" + string(b) + "]"
}

func TestRenderSubstitutes(t *testing.T) {
	tpl := compile(t, `{"messages":[
		{"role":"system","content":"You answer in {{lang}}, tone {{ tone }}."},
		{"role":"user","content":"Hi {{name}}{{suffix}}"}],
	  "variables":[{"name":"lang"},{"name":"tone","default":"friendly"},{"name":"suffix","required":false}]}`)
	got := chatJSON(t, tpl, `{"lang":"French","name":"Ada"}`)
	want := `[{"role":"system","content":"You answer in French, tone friendly."},{"role":"user","content":"Hi Ada"}]`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestRenderVariableErrors(t *testing.T) {
	tpl := compile(t, `{"messages":[{"role":"user","content":"{{a}} {{b}} {{c}}"}],"variables":[{"name":"c","default":"x"}]}`)
	for _, tc := range []struct {
		name, vals, code string
		names            []string
	}{
		{"one missing", `{"a":"1"}`, "missing_variable", []string{"b"}},
		{"two missing, in declaration order", `{}`, "missing_variable", []string{"c", "a", "b"}[1:]},
		{"null counts as missing", `{"a":null,"b":"2"}`, "missing_variable", []string{"a"}},
		{"unknown", `{"a":"1","b":"2","zz":"3","d":"4"}`, "unknown_variable", []string{"d", "zz"}},
		{"a number is not a string", `{"a":1,"b":"2"}`, "invalid_variable", []string{"a"}},
		{"an object is not a string", `{"a":{"x":1},"b":"2"}`, "invalid_variable", []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tpl.AppendChat(nil, vals(tc.vals))
			var ve *VariableError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a VariableError", err)
			}
			if ve.Code != tc.code || !cmp.Equal(ve.Names, tc.names) {
				t.Errorf("got %s %v, want %s %v", ve.Code, ve.Names, tc.code, tc.names)
			}
			for _, n := range tc.names {
				if !strings.Contains(ve.Msg, "`"+n+"`") {
					t.Errorf("message %q does not name %s", ve.Msg, n)
				}
			}
		})
	}
	// input_text parts are text values (what the Responses SDK may send).
	got := chatJSON(t, tpl, `{"a":{"type":"input_text","text":"A"},"b":"B"}`)
	if got != `[{"role":"user","content":"A B x"}]` {
		t.Errorf("input_text value: %s", got)
	}
}

// A value is text: its braces are never expanded again, whatever they hold.
func TestBracesInValuesAreNotExpanded(t *testing.T) {
	tpl := compile(t, `{"messages":[{"role":"user","content":"Q: {{q}} / secret: {{secret}}"}],
		"variables":[{"name":"q"},{"name":"secret","default":"s3cr3t"}]}`)
	for _, v := range []string{"{{secret}}", "{{ secret }}", "}}{{secret", `\{{secret}}`, "{{{{secret}}}}", "{{#each x}}{{/each}}"} {
		b, _ := json.Marshal(map[string]string{"q": v})
		out, err := tpl.AppendChat(nil, vals(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		var msgs []struct{ Content string }
		if err := json.Unmarshal([]byte("["+string(out)+"]"), &msgs); err != nil {
			t.Fatal(err)
		}
		if want := "Q: " + v + " / secret: s3cr3t"; msgs[0].Content != want {
			t.Errorf("value %q: got %q, want %q", v, msgs[0].Content, want)
		}
		if strings.Count(msgs[0].Content, "s3cr3t") != 1 {
			t.Errorf("value %q was expanded: %q", v, msgs[0].Content)
		}
	}
}

func TestTemplateSyntax(t *testing.T) {
	ok := compile(t, `{"messages":[{"role":"user","content":"literal \\{{x}} and {x} and }} and {{y}}"}]}`)
	if got := chatJSON(t, ok, `{"y":"Y"}`); got != `[{"role":"user","content":"literal {{x}} and {x} and }} and Y"}]` {
		t.Errorf("escape: %s", got)
	}
	if vs := ok.Variables(); len(vs) != 1 || vs[0].Name != "y" || !vs[0].Required || vs[0].Type != TypeText {
		t.Errorf("inferred variables = %+v", vs)
	}
	for _, tc := range []struct{ src, want string }{
		{"{{#if admin}}x{{/if}}", "not a placeholder"},
		{"{{ a b }}", "not a placeholder"},
		{"{{a.b}}", "not a placeholder"},
		{"{{> partial}}", "not a placeholder"},
		{"{{x | upper}}", "not a placeholder"},
		{"{{{raw}}}", "not a placeholder"},
		{"héllo {{x", "character 7 is never closed"},
		{"{{}}", "not a placeholder"},
		{"{{1abc}}", "not a placeholder"},
	} {
		b, _ := json.Marshal(tc.src)
		_, err := Decode([]byte(`{"messages":[{"role":"user","content":` + string(b) + `}]}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "messages[0].content") {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestUnicode(t *testing.T) {
	tpl := compile(t, `{"messages":[{"role":"system","content":"Réponds à {{名前}} en {{langue}} 🌍"}],
		"variables":[{"name":"名前"},{"name":"langue","default":"français"}]}`)
	got := chatJSON(t, tpl, `{"名前":"Zoë 👩‍💻 שלום"}`)
	if want := `[{"role":"system","content":"Réponds à Zoë 👩‍💻 שלום en français 🌍"}]`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	_, err := tpl.AppendChat(nil, vals(`{"名前":"x","Name":"y"}`))
	var ve *VariableError
	if !errors.As(err, &ve) || ve.Code != "unknown_variable" || ve.Names[0] != "Name" {
		t.Errorf("names are case-sensitive: %v", err)
	}
	// Positions count characters, not bytes.
	_, err = Decode([]byte(`{"messages":[{"role":"user","content":"日本語 {{ 1 }}"}]}`))
	if err == nil || !strings.Contains(err.Error(), "character 5") {
		t.Errorf("err = %v", err)
	}
}

func TestImageVariables(t *testing.T) {
	tpl := compile(t, `{"messages":[
		{"role":"system","content":"Describe images."},
		{"role":"user","content":"Look at {{photo}} please, {{name}}"},
		{"role":"user","content":[{"type":"text","text":"and"},{"type":"image_url","image_url":{"url":"{{logo}}","detail":"low"}},
		                          {"type":"image_url","image_url":{"url":"https://cdn.example.com/{{sku}}.png"}}]}],
	  "variables":[{"name":"photo","type":"image"},{"name":"logo","type":"image","default":"https://example.com/logo.png"},{"name":"name"},{"name":"sku"}]}`)
	for _, tc := range []struct{ name, photo string }{
		{"URL string", `"https://example.com/cat.jpg"`},
		{"Responses input_image", `{"type":"input_image","image_url":"https://example.com/cat.jpg","detail":"auto"}`},
		{"chat image_url part", `{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"auto"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := tpl.Render(vals(`{"photo":` + tc.photo + `,"name":"{{photo}}","sku":"A1"}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(msgs)
			want := `[{"role":"system","content":"Describe images."},` +
				`{"role":"user","content":[{"type":"text","text":"Look at "},{"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"` +
				map[bool]string{true: `,"detail":"auto"`, false: ``}[tc.name != "URL string"] + `}},{"type":"text","text":" please, {{photo}}"}]},` +
				`{"role":"user","content":[{"type":"text","text":"and"},{"type":"image_url","image_url":{"url":"https://example.com/logo.png","detail":"low"}},` +
				`{"type":"image_url","image_url":{"url":"https://cdn.example.com/A1.png"}}]}]`
			if string(b) != want {
				t.Errorf("got  %s\nwant %s", b, want)
			}
		})
	}
	resp, err := tpl.AppendResponses(nil, vals(`{"photo":"data:image/png;base64,AAAA","name":"n","sku":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp), `{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"auto"}`) ||
		!strings.Contains(string(resp), `{"role":"system","content":"Describe images."}`) ||
		!strings.Contains(string(resp), `{"type":"input_text","text":"Look at "}`) {
		t.Errorf("responses items: %s", resp)
	}
	for _, bad := range []string{`"not a url"`, `"javascript:alert(1)"`, `42`, `{"type":"input_image","file_id":"file-1"}`,
		`{"type":"input_image","image_url":"https://x","detail":"huge"}`, `{"type":"input_text","text":"https://x"}`} {
		_, err := tpl.Render(vals(`{"photo":` + bad + `,"name":"n","sku":"s"}`))
		var ve *VariableError
		if !errors.As(err, &ve) || ve.Code != "invalid_variable" || ve.Names[0] != "photo" {
			t.Errorf("photo %s: err = %v", bad, err)
		}
	}
	for _, tc := range []struct{ src, want string }{
		{`{"messages":[{"role":"system","content":"{{img}}"}],"variables":[{"name":"img","type":"image"}]}`, "only user messages"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/{{img}}"}}]}],"variables":[{"name":"img","type":"image"}]}`, "whole image URL"},
		{`{"messages":[{"role":"assistant","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}`, "only user messages"},
		{`{"messages":[{"role":"user","content":"x"}],"variables":[{"name":"img","type":"image","default":"file.png"}]}`, "http(s) or data: URL"},
	} {
		c, err := Decode([]byte(tc.src))
		if err == nil {
			_, err = Compile(c)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
}

// A message with no placeholder is encoded once, at compile time; it must
// read exactly as a rendered one would.
func TestStaticMessagesMatchRendered(t *testing.T) {
	tpl := compile(t, `{"messages":[{"role":"system","content":"<b>Be brief</b> & \"exact\" \u2028"},
		{"role":"assistant","content":[{"type":"text","text":"ok"}]},{"role":"user","content":"{{q}}"}]}`)
	for i := range tpl.msgs[:2] {
		cm := &tpl.msgs[i]
		if cm.chat == nil || cm.resp == nil {
			t.Fatalf("message %d not pre-encoded", i)
		}
		b, _ := cm.fill(nil).MarshalJSON()
		if string(b) != string(cm.chat) || string(responsesItem(cm.fill(nil))) != string(cm.resp) {
			t.Errorf("message %d: static %s / %s", i, cm.chat, cm.resp)
		}
	}
	out, _ := tpl.AppendResponses(nil, vals(`{"q":"?"}`))
	if !strings.Contains(string(out), `{"role":"assistant","content":[{"type":"output_text","text":"ok"}]}`) {
		t.Errorf("assistant parts are output_text in Responses: %s", out)
	}
	var back []map[string]any
	if err := json.Unmarshal([]byte("["+chatJSON(t, tpl, `{"q":"?"}`)[1:]), &back); err != nil || back[0]["content"] != "<b>Be brief</b> & \"exact\" \u2028" {
		t.Errorf("round trip: %v %v", back, err)
	}
}

func TestVariableDeclarations(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{`{"messages":[{"role":"user","content":"x"}],"variables":[{"name":"a","required":true,"default":"d"}]}`, "required, so its default"},
		{`{"messages":[{"role":"user","content":"x"}],"variables":[{"name":"a"},{"name":"a"}]}`, "declared twice"},
		{`{"messages":[{"role":"user","content":"x"}],"variables":[{"name":"a b"}]}`, "not a variable name"},
		{`{"messages":[{"role":"user","content":"x"}],"variables":[{"name":"a","type":"file"}]}`, "type must be"},
		{`{"messages":[{"role":"robot","content":"x"}]}`, "role must be"},
		{`{"messages":[]}`, "at least one message"},
		{`{"messages":[{"role":"user"}]}`, "content is required"},
		{`{"messages":[{"role":"user","content":"x","name":"bob"}]}`, "only role and content"},
		{`{"messages":[{"role":"user","content":[{"type":"input_audio"}]}]}`, "is not stored"},
	} {
		if _, err := Decode([]byte(tc.src)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.src, err, tc.want)
		}
	}
	c, err := Decode([]byte(`{"messages":[{"role":"user","content":"{{b}}{{a}}"}],"variables":[{"name":"a","default":""}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Variable{{Name: "a", Type: TypeText, Default: new(string)}, {Name: "b", Type: TypeText, Required: true}}
	if diff := cmp.Diff(want, c.Variables); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
}

func TestParameters(t *testing.T) {
	tpl := compile(t, `{"messages":[{"role":"user","content":"x"}],"parameters":{
		"model":"gpt-4o-mini","temperature":0.2,"max_tokens":300,"seed":7,"reasoning_effort":"low",
		"response_format":{"type":"json_schema","json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"a":{"type":"string"}}}}},
		"tools":[{"type":"function","function":{"name":"lookup","description":"Find","parameters":{"type":"object"}}}],
		"tool_choice":{"type":"function","function":{"name":"lookup"}}}}`)
	raw := func(m map[string]json.RawMessage) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = string(v)
		}
		return out
	}
	if got := raw(tpl.ChatDefaults()); got["temperature"] != "0.2" || got["seed"] != "7" || !strings.Contains(got["tools"], `"function":{"name":"lookup"`) {
		t.Errorf("chat defaults = %v", got)
	}
	want := map[string]string{
		"model":             `"gpt-4o-mini"`,
		"temperature":       `0.2`,
		"max_output_tokens": `300`,
		"reasoning":         `{"effort":"low"}`,
		"text":              `{"format":{"name":"answer","schema":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true,"type":"json_schema"}}`,
		"tools":             `[{"description":"Find","name":"lookup","parameters":{"type":"object"},"type":"function"}]`,
		"tool_choice":       `{"name":"lookup","type":"function"}`,
	}
	if diff := cmp.Diff(want, raw(tpl.ResponsesDefaults())); diff != "" {
		t.Errorf("responses defaults (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ params, want string }{
		{`{"temprature":1}`, "parameters.temprature: is not a parameter"},
		{`{"temperature":3}`, "from 0 to 2"},
		{`{"max_tokens":0}`, "≥ 1"},
		{`{"model":""}`, "non-empty"},
		{`{"response_format":{"type":"xml"}}`, "type must be"},
		{`{"tools":[{"type":"function","function":{}}]}`, "[0] must be"},
		{`{"stop":["a","b","c","d","e"]}`, "at most 4"},
	} {
		_, err := Decode([]byte(`{"messages":[{"role":"user","content":"x"}],"parameters":` + tc.params + `}`))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.params, err, tc.want)
		}
	}
}

func TestEncodingIsCanonical(t *testing.T) {
	a, err := Decode([]byte(`{"parameters":{"temperature": 0.5 ,"model":"m"},"messages":[{"content":"<x> & {{v}}","role":"user"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	enc := a.Encode()
	want := `{"messages":[{"role":"user","content":"<x> & {{v}}"}],"variables":[{"name":"v","type":"text","required":true}],"parameters":{"model":"m","temperature":0.5}}`
	if string(enc) != want {
		t.Errorf("encoding\n got %s\nwant %s", enc, want)
	}
	b, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if Hash(b.Encode()) != Hash(enc) || len(Hash(enc)) != 64 {
		t.Error("a decoded encoding hashes differently")
	}
	a.Messages[0].Text += " "
	if Hash(a.Encode()) == Hash(enc) {
		t.Error("different content, same hash")
	}
}

func TestNameAndLabelChecks(t *testing.T) {
	for _, ok := range []string{"support-triage", "a", "v2.summary_en", "9lives"} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "a b", "-x", "export", "Import", strings.Repeat("x", 65), "é"} {
		if CheckName(bad) == nil {
			t.Errorf("CheckName(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"production", "staging", "canary-2", "eu_west"} {
		if err := CheckLabel(ok); err != nil {
			t.Errorf("CheckLabel(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"latest", "3", "Prod", "", "a b", strings.Repeat("x", 33)} {
		if CheckLabel(bad) == nil {
			t.Errorf("CheckLabel(%q) accepted", bad)
		}
	}
}

func TestDiff(t *testing.T) {
	a, _ := Decode([]byte(`{"messages":[{"role":"system","content":"one\ntwo\nthree"}],"parameters":{"temperature":0.1}}`))
	b, _ := Decode([]byte(`{"messages":[{"role":"system","content":"one\n2\nthree\nfour"}],"parameters":{"temperature":0.1}}`))
	var got []string
	for _, l := range Diff(Lines(a), Lines(b)) {
		got = append(got, string(l.Op)+l.Text)
	}
	want := []string{" ── message 1: system", " one", "-two", "+2", " three", "+four", " ── parameters", " temperature: 0.1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

func TestPreviewNeverFails(t *testing.T) {
	tpl := compile(t, `{"messages":[{"role":"user","content":"Hi {{name}}, {{tone}} {{photo}}"}],
		"variables":[{"name":"name"},{"name":"tone","default":"kindly"},{"name":"photo","type":"image"}]}`)
	msgs := tpl.Preview(map[string]string{"zzz": "ignored"})
	b, _ := json.Marshal(msgs)
	want := `[{"role":"user","content":[{"type":"text","text":"Hi {{name}}, kindly "},{"type":"image_url","image_url":{"url":"{{photo}}"}}]}]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	msgs = tpl.Preview(map[string]string{"name": "{{tone}}", "photo": "https://x/y.png"})
	if msgs[0].Parts[0].Text != "Hi {{tone}}, kindly " || msgs[0].Parts[1].ImageURL.URL != "https://x/y.png" {
		t.Errorf("preview = %+v", msgs)
	}
}
