package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // longer than the buffer
	r := NewReader(strings.NewReader("data: a\r\n\ndata: "+long+"\ncut"), 1<<20)
	defer r.Close()
	want := []string{"data: a", "", "data: " + long}
	for _, w := range want {
		line, err := r.Line()
		if err != nil || string(line) != w {
			t.Fatalf("line %.20q, %v; want %.20q", line, err, w)
		}
	}
	if line, err := r.Line(); err != io.EOF || string(line) != "cut" {
		t.Errorf("last = %q, %v; want the cut line with EOF", line, err)
	}
}

func TestLineTooLong(t *testing.T) {
	r := NewReader(strings.NewReader(strings.Repeat("y", 200<<10)+"\n"), 128<<10)
	defer r.Close()
	if _, err := r.Line(); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("err = %v, want ErrLineTooLong", err)
	}
}

func TestBody(t *testing.T) {
	r := NewReader(strings.NewReader(`{"error":`+"\n"+`{"message":"no"}}`), 1<<20)
	defer r.Close()
	first, _ := r.Line()
	body, err := r.Body(first)
	if err != nil || string(body) != "{\"error\":\n{\"message\":\"no\"}}" {
		t.Errorf("body = %q, %v", body, err)
	}
}
