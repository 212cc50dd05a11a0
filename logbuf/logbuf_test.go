package logbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestWriterFlushesPeriodicallyAndOnClose(t *testing.T) {
	var out syncBuf
	w := New(&out, 20*time.Millisecond)
	w.Write([]byte("one\n"))
	if out.String() != "" {
		t.Fatal("written before the interval")
	}
	deadline := time.Now().Add(2 * time.Second)
	for out.String() != "one\n" {
		if time.Now().After(deadline) {
			t.Fatal("never flushed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); w.Write([]byte(strings.Repeat("x", 3000) + "\n")) }()
	}
	wg.Wait()
	w.Write([]byte("last\n"))
	w.Close()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 52 || lines[51] != "last" {
		t.Fatalf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	for _, l := range lines[1:51] {
		if len(l) != 3000 {
			t.Fatalf("a line was split or merged: %d bytes", len(l))
		}
	}
}
