package adaptor

import (
	"encoding/json"
	"testing"
)

func TestTopLevel(t *testing.T) {
	keys := []string{"usage", "type"}
	tests := []struct {
		name      string
		data      string
		usage, ty string
		ok        bool
	}{
		{"plain", `{"type":"x","usage":{"input_tokens":3}}`, `{"input_tokens":3}`, `"x"`, true},
		{"nested key of the same name is not the object's", `{"tools":[{"parameters":{"properties":{"usage":{"type":"object"}}}}],"type":"response.created"}`, "", `"response.created"`, true},
		{"inside a string", `{"delta":"\"usage\":{\"input_tokens\":9}","type":"d"}`, "", `"d"`, true},
		{"blanks and numbers", " {\n \"usage\" : null ,\"n\": -1.5e3, \"type\":true}", "null", "true", true},
		{"the last occurrence wins, as with encoding/json", `{"usage":1,"usage":2}`, "2", "", true},
		{"empty object", `{}`, "", "", true},
		{"not closed", `{"usage":{"a":1}`, "", "", false},
		{"not an object", `[1,2]`, "", "", false},
		{"garbage after a value", `{"usage":1 x}`, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v [2][]byte
			ok := TopLevel([]byte(tt.data), keys, v[:])
			if ok != tt.ok || (ok && (string(v[0]) != tt.usage || string(v[1]) != tt.ty)) {
				t.Errorf("TopLevel = %q, %q, %v; want %q, %q, %v", v[0], v[1], ok, tt.usage, tt.ty, tt.ok)
			}
		})
	}
}

func TestTopLevelAllocates(t *testing.T) {
	data := []byte(`{"id":"c","choices":[{"delta":{"content":"hi"}}],"usage":null}`)
	keys := []string{"usage", "error"}
	if n := testing.AllocsPerRun(100, func() {
		var v [2][]byte
		TopLevel(data, keys, v[:])
	}); n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
}

// FuzzTopLevel: whatever TopLevel finds is exactly what encoding/json sees
// at the top level of a valid object.
func FuzzTopLevel(f *testing.F) {
	f.Add(`{"usage":{"a":1},"x":[{"usage":2}]}`)
	f.Add(`{"a":"\"usage\":1","usage":"s"}`)
	f.Fuzz(func(t *testing.T, data string) {
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(data), &m) != nil {
			return
		}
		var v [1][]byte
		if !TopLevel([]byte(data), []string{"usage"}, v[:]) {
			t.Fatalf("TopLevel refused valid JSON %q", data)
		}
		want, has := m["usage"]
		if has != (v[0] != nil) {
			t.Fatalf("found %q, encoding/json %q (%v)", v[0], want, has)
		}
		if has {
			var a, b any
			if json.Unmarshal(v[0], &a) != nil {
				t.Fatalf("value %q is not JSON", v[0])
			}
			_ = json.Unmarshal(want, &b)
			if ja, _ := json.Marshal(a); string(ja) != string(mustMarshal(b)) {
				t.Fatalf("value %q, encoding/json %q", v[0], want)
			}
		}
	})
}

func mustMarshal(v any) []byte { b, _ := json.Marshal(v); return b }

func TestTopLevelEscapedKey(t *testing.T) {
	var v [1][]byte
	if !TopLevel([]byte(`{"us\u0061ge":{"a":1}}`), []string{"usage"}, v[:]) || string(v[0]) != `{"a":1}` {
		t.Errorf("escaped key: %q", v[0])
	}
}
