// Package sse reads an upstream's Server-Sent Events line by line for the
// adaptors: a pooled 64 KiB buffer per stream, and lines of any length up
// to a bound (a long line is gathered, not cut).
package sse

import (
	"bufio"
	"errors"
	"io"
	"sync"
)

// ErrLineTooLong reports a line longer than the Reader's bound.
var ErrLineTooLong = errors.New("SSE line too long")

// maxNotStreamBody bounds what Body reads of a reply that did not stream.
const maxNotStreamBody = 1 << 20

// pool recycles the read buffers: one per stream otherwise.
var pool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// Reader reads the lines of one stream. Close it when done.
type Reader struct {
	br      *bufio.Reader
	long    []byte // a line longer than the buffer, gathered
	maxLine int
}

// NewReader reads body; maxLine bounds one line.
func NewReader(body io.Reader, maxLine int) *Reader {
	br := pool.Get().(*bufio.Reader)
	br.Reset(body)
	return &Reader{br: br, maxLine: maxLine}
}

// Close returns the buffer to the pool; the Reader is not used again.
func (r *Reader) Close() {
	r.br.Reset(nil) // drop the body reference before pooling
	pool.Put(r.br)
	r.br = nil
}

// Line returns the next line without its line ending, valid until the next
// call. With an error (io.EOF at the end of the body) the line is what came
// before it: a line cut short, which SSE says to drop.
func (r *Reader) Line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		buf := append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.br.ReadSlice('\n')
			if len(buf)+len(line) > r.maxLine {
				return nil, ErrLineTooLong
			}
			buf = append(buf, line...)
		}
		r.long = buf
		line = buf
	}
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, err
}

// Drain reads the little that follows the last event (a blank line, the
// chunked-encoding terminator) so that net/http sees the end of the body and
// keeps the connection for reuse; closing a body before its end costs a new
// TCP and TLS handshake on the next call. Bounded, in case an upstream keeps
// talking.
func (r *Reader) Drain() {
	_, _ = r.br.Discard(4 << 10)
}

// Body returns a reply that turned out not to be a stream (a JSON error,
// say): first, the line already read, and the rest, up to 1 MiB.
func (r *Reader) Body(first []byte) ([]byte, error) {
	body := append(append([]byte(nil), first...), '\n')
	rest, err := io.ReadAll(io.LimitReader(r.br, maxNotStreamBody))
	return append(body, rest...), err
}
