package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// events reads every event of body, through a reader that hands out one
// byte at a time when slow is set (every line ending split across reads).
func events(t *testing.T, body string, slow bool) ([]string, error) {
	t.Helper()
	var rd io.Reader = strings.NewReader(body)
	if slow {
		rd = iotest.OneByteReader(rd)
	}
	r := NewReader(rd, 1<<20)
	defer r.Close()
	var out []string
	for {
		ev, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, string(ev.Name)+"|"+string(ev.Data))
	}
}

func TestEvents(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the buffer
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"|a", "|b"}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"|a", "|b"}},
		{"bare cr", "data: a\r\rdata: b\r\r", []string{"|a", "|b"}},
		{"multi-line data joined by LF", "data: {\ndata: \"k\": 1\ndata: }\n\n", []string{"|{\n\"k\": 1\n}"}},
		{"named events", "event: message_start\ndata: {}\n\nevent: ping\ndata: {}\n\n", []string{"message_start|{}", "ping|{}"}},
		{"comments, id and retry skipped", ": keep-alive\nid: 7\nretry: 10\ndata:x\n\n", []string{"|x"}},
		{"a name without data is not an event", "event: nothing\n\ndata: y\n\n", []string{"|y"}},
		{"long line gathered", "data: " + long + "\n\n", []string{"|" + long}},
		{"last event without the blank line", "data: a\n\ndata: [DONE]\n", []string{"|a", "|[DONE]"}},
		{"an event cut in half is dropped", "data: a\n\ndata: {\"cho", []string{"|a"}},
	}
	for _, tt := range tests {
		for _, slow := range []bool{false, true} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := events(t, tt.body, slow)
				if err != io.EOF {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") {
					t.Errorf("events = %.80q, want %.80q", got, tt.want)
				}
			})
		}
	}
}

func TestLineTooLong(t *testing.T) {
	r := NewReader(strings.NewReader("data: "+strings.Repeat("y", 200<<10)+"\n\n"), 128<<10)
	defer r.Close()
	if _, err := r.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("err = %v, want ErrLineTooLong", err)
	}
}

func TestNotSSE(t *testing.T) {
	r := NewReader(strings.NewReader("{\"error\":\n{\"message\":\"no\"}}"), 1<<20)
	defer r.Close()
	if _, err := r.Next(); err != ErrNotSSE {
		t.Fatalf("err = %v, want ErrNotSSE", err)
	}
	body, err := r.Body()
	if err != nil || string(body) != "{\"error\":\n{\"message\":\"no\"}}" {
		t.Errorf("body = %q, %v", body, err)
	}
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(boom)), 1<<20)
	defer r.Close()
	if ev, err := r.Next(); err != nil || string(ev.Data) != "a" {
		t.Fatalf("first = %q, %v", ev.Data, err)
	}
	if _, err := r.Next(); err != boom {
		t.Errorf("err = %v, want the read error", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("data: a\r\n\r\ndata: b\rdata: c\n\n", false)
	f.Add("event: x\ndata: {}\n", true)
	f.Fuzz(func(t *testing.T, body string, slow bool) {
		got, err := events(t, body, slow)
		if err != io.EOF && err != ErrNotSSE {
			t.Fatalf("err = %v", err)
		}
		// How the body is cut into reads never changes what it means.
		again, err2 := events(t, body, !slow)
		if strings.Join(got, "\x00") != strings.Join(again, "\x00") || err != err2 {
			t.Errorf("events differ with the read size: %q vs %q", got, again)
		}
	})
}

func TestNotSSEWithoutNewline(t *testing.T) {
	r := NewReader(strings.NewReader(`{"error":{"message":"no"}}`), 1<<20)
	defer r.Close()
	if _, err := r.Next(); err != ErrNotSSE {
		t.Fatalf("err = %v, want ErrNotSSE", err)
	}
	if body, _ := r.Body(); string(body) != "{\"error\":{\"message\":\"no\"}}\n" {
		t.Errorf("body = %q", body)
	}
}
