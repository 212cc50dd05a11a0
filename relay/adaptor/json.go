package adaptor

import (
	"bytes"
	"encoding/json"
)

// TopLevel sets values[k] to the raw value of keys[k] in the JSON object
// at the start of data (leading blanks allowed), nil when absent; values
// must be as long as keys (a caller's array, so the hot path allocates
// nothing). Only the object's own members are matched:
// nested objects, arrays and strings are skipped whole, so a key of the
// same name inside content, a tool schema or metadata the client sent can
// never be mistaken for the object's own. It reads data once, without
// decoding or allocating; it returns false when data is not a well-formed
// object up to its closing brace.
func TopLevel(data []byte, keys []string, values [][]byte) bool {
	clear(values)
	i := skipBlank(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipBlank(data, i+1)
	if i < len(data) && data[i] == '}' {
		return true
	}
	for i < len(data) {
		if data[i] != '"' {
			return false
		}
		kend := skipString(data, i)
		if kend < 0 {
			return false
		}
		key := data[i+1 : kend-1]
		if bytes.IndexByte(key, '\\') >= 0 { // an escaped key name: rare, decode it
			var k string
			if json.Unmarshal(data[i:kend], &k) != nil {
				return false
			}
			key = []byte(k)
		}
		i = skipBlank(data, kend)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipBlank(data, i+1)
		vend := skipValue(data, i)
		if vend < 0 {
			return false
		}
		for k, want := range keys {
			if string(key) == want { // the last wins, as with encoding/json
				values[k] = data[i:vend]
			}
		}
		i = skipBlank(data, vend)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipBlank(data, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

// IsNull reports whether a raw value is absent or JSON null.
func IsNull(v []byte) bool { return len(v) == 0 || string(v) == "null" }

func skipBlank(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"',
// or -1 when it is not closed.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index just past the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
