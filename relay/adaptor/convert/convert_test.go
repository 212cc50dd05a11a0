package convert

import (
	"net/url"
	"testing"
)

func TestWithObject(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"id":"1"}`:                `{"object":"chat.completion","id":"1"}`,
		` {}`:                       `{"object":"chat.completion"}`,
		`{"object":"x","id":"1"}`:   `{"object":"x","id":"1"}`,
		`{"a":{"object":"nested"}}`: `{"object":"chat.completion","a":{"object":"nested"}}`,
		`[1]`:                       `[1]`,
		`{"cut":`:                   `{"cut":`,
	} {
		if got := string(WithObject([]byte(in), "chat.completion")); got != want {
			t.Errorf("WithObject(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestJoinPath(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://h.example/api")
	if got := JoinPath(base, "v1", "models", "a/b?c#d", "x"); got != "https://h.example/api/v1/models/a%2Fb%3Fc%23d/x" {
		t.Errorf("JoinPath = %s", got)
	}
}
