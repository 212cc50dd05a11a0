// Package sse reads an upstream's Server-Sent Events for the adaptors, as
// the HTML standard's event-stream format defines them: lines end in LF, CR
// or CRLF; an event is the "event:" and "data:" lines up to a blank line,
// several data lines joined by LF; comments and other fields are skipped.
// One pooled 64 KiB buffer per stream; a long line is gathered up to a
// bound, not cut.
package sse

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// ErrLineTooLong reports a line longer than the Reader's bound.
var ErrLineTooLong = errors.New("SSE line too long")

// ErrNotSSE is returned by Next when the body is not an event stream at all
// but, most often, a JSON error: its first line starts with '{' or '['.
// Body returns the whole of it.
var ErrNotSSE = errors.New("reply is not an event stream")

// maxNotStreamBody bounds what Body reads of a reply that did not stream.
const maxNotStreamBody = 1 << 20

const bufSize = 64 << 10

var pool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Event is one dispatched event. Its slices are valid until the next call
// to Next.
type Event struct {
	Name []byte // the event: field, nil when absent
	Data []byte // the data: lines, joined by '\n'
}

// Reader reads the events of one stream. Close it when done.
type Reader struct {
	rd      io.Reader
	pooled  *[]byte
	buf     []byte // buf[r:w] is read and not yet consumed
	r, w    int
	err     error // the read error that ended the body, once seen
	maxLine int
	skipLF  bool // the last line ended in CR: a LF right after it belongs to it

	name, data []byte // the event being gathered
	hasData    bool
	sawData    bool   // a data line has been read
	first      []byte // the line that showed the body is not SSE
}

// NewReader reads body; maxLine bounds one line.
func NewReader(body io.Reader, maxLine int) *Reader {
	b := pool.Get().(*[]byte)
	return &Reader{rd: body, pooled: b, buf: *b, maxLine: maxLine}
}

// Close returns the buffer to the pool; the Reader is not used again.
func (r *Reader) Close() {
	if r.pooled != nil { // a grown buffer is left to the collector; the pooled one is free again
		pool.Put(r.pooled)
	}
	r.pooled, r.buf, r.rd = nil, nil, nil
}

// Next returns the next event. At the end of the body it returns io.EOF;
// an event cut off by the end of the body is dropped, except that a last
// event whose lines all ended before the body did is dispatched (some
// upstreams end without the final blank line). Other read errors are
// returned as they are; ErrLineTooLong and ErrNotSSE as described.
func (r *Reader) Next() (Event, error) {
	for {
		line, complete, err := r.line()
		if err != nil {
			r.reset()
			return Event{}, err
		}
		if !complete { // the body ended inside this line
			if r.hasData && len(line) == 0 {
				return r.dispatch(), nil
			}
			if !r.sawData && len(line) > 0 && (line[0] == '{' || line[0] == '[') {
				r.first = append(r.first[:0], line...)
				return Event{}, ErrNotSSE
			}
			r.reset()
			if r.err == nil {
				r.err = io.EOF
			}
			return Event{}, r.err
		}
		if len(line) == 0 {
			if r.hasData {
				return r.dispatch(), nil
			}
			r.name = r.name[:0]
			continue
		}
		if !r.sawData && (line[0] == '{' || line[0] == '[') {
			r.first = append(r.first[:0], line...)
			return Event{}, ErrNotSSE
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			r.data = append(r.data, value...)
			r.hasData, r.sawData = true, true
		case "event":
			r.name = append(r.name[:0], value...)
		}
		// "" (a comment), id, retry and unknown fields carry nothing.
	}
}

func (r *Reader) dispatch() Event {
	ev := Event{Data: r.data}
	if len(r.name) > 0 {
		ev.Name = r.name
	}
	// The slices are reused from the next call on, as documented.
	r.data, r.name, r.hasData = r.data[:0], r.name[:0], false
	return ev
}

func (r *Reader) reset() { r.data, r.name, r.hasData = r.data[:0], r.name[:0], false }

// line returns the next line without its ending. complete is false when
// the body ended (r.err set) before a line ending; err is set only for a
// line over the bound or a failed read with nothing left.
func (r *Reader) line() (line []byte, complete bool, err error) {
	scanned := 0
	for {
		if r.skipLF && r.r < r.w {
			if r.buf[r.r] == '\n' {
				r.r++
			}
			r.skipLF = false
		}
		if i := indexEOL(r.buf[r.r+scanned : r.w]); i >= 0 {
			end := r.r + scanned + i
			if end-r.r > r.maxLine {
				return nil, false, ErrLineTooLong
			}
			line = r.buf[r.r:end]
			if r.buf[end] == '\r' {
				if end+1 < r.w {
					if r.buf[end+1] == '\n' {
						end++
					}
				} else {
					r.skipLF = true
				}
			}
			r.r = end + 1
			return line, true, nil
		}
		scanned = r.w - r.r
		if r.err != nil {
			line = r.buf[r.r:r.w]
			r.r = r.w
			if len(line) == 0 && r.err != io.EOF {
				return nil, false, r.err
			}
			return line, false, nil
		}
		if scanned > r.maxLine {
			return nil, false, ErrLineTooLong
		}
		r.fill()
	}
}

// fill reads more of the body, making room first: the unread part moves to
// the front, and a buffer full of one line grows.
func (r *Reader) fill() {
	if r.r > 0 {
		n := copy(r.buf, r.buf[r.r:r.w])
		r.r, r.w = 0, n
	}
	if r.w == len(r.buf) {
		nb := make([]byte, 2*len(r.buf))
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	if err != nil {
		r.err = err
	}
}

func indexEOL(b []byte) int {
	i := bytes.IndexByte(b, '\n')
	// A bare CR ends a line too; look for one only before the first LF.
	limit := b
	if i >= 0 {
		limit = b[:i]
	}
	if j := bytes.IndexByte(limit, '\r'); j >= 0 {
		return j
	}
	return i
}

// Drain reads the little that follows the last event (a blank line, the
// chunked-encoding terminator) so that net/http sees the end of the body and
// keeps the connection for reuse; closing a body before its end costs a new
// TCP and TLS handshake on the next call. Bounded, in case an upstream keeps
// talking.
func (r *Reader) Drain() {
	if r.err == nil && r.rd != nil {
		_, _ = io.CopyN(io.Discard, r.rd, 4<<10)
	}
}

// Body returns a reply that turned out not to be a stream (ErrNotSSE): its
// first line and the rest, up to 1 MiB.
func (r *Reader) Body() ([]byte, error) {
	body := append(append([]byte(nil), r.first...), '\n')
	body = append(body, r.buf[r.r:r.w]...)
	r.r = r.w
	if r.err != nil {
		if r.err == io.EOF {
			return body, nil
		}
		return body, r.err
	}
	rest, err := io.ReadAll(io.LimitReader(r.rd, maxNotStreamBody))
	return append(body, rest...), err
}
