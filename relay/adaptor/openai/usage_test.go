package openai

import (
	"testing"

	"oneapi/relay/adaptor"
)

func TestLastUsage(t *testing.T) {
	tests := []struct {
		name string
		body string
		want adaptor.Usage
		ok   bool
	}{
		{"chat", `{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, adaptor.Usage{PromptTokens: 3, CompletionTokens: 4, Reported: true}, true},
		{"spaces", "{\"usage\" :\n { \"prompt_tokens\": 1, \"completion_tokens\": 2 } }", adaptor.Usage{PromptTokens: 1, CompletionTokens: 2, Reported: true}, true},
		{"the word in content is escaped, not a key", `{"choices":[{"message":{"content":"say \"usage\": {\"prompt_tokens\":999}"}}],"usage":{"prompt_tokens":5,"completion_tokens":6}}`, adaptor.Usage{PromptTokens: 5, CompletionTokens: 6, Reported: true}, true},
		{"responses shape", `{"object":"response","usage":{"input_tokens":7,"output_tokens":9,"total_tokens":16}}`, adaptor.Usage{PromptTokens: 7, CompletionTokens: 9, Reported: true}, true},
		{"null usage", `{"choices":[],"usage":null}`, adaptor.Usage{}, false},
		{"none", `{"choices":[]}`, adaptor.Usage{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lastUsage([]byte(tt.body))
			if got != tt.want || ok != tt.ok {
				t.Errorf("lastUsage = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
