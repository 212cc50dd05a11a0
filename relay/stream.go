package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
	"oneapi/relay/tokenizer"
)

// keepAliveEvery is how long a stream may stay silent before the gateway
// sends an SSE comment, so that proxies on the way do not cut a stream
// whose model thinks for minutes.
var keepAliveEvery = 15 * time.Second

// relayStream passes SSE events through, flushing each. Nothing is sent to
// the client before upstream's first event: an error in it, or a stream that
// ends before any, is not served and may be retried on another channel, at
// no cost. Once something went out there is no retry: the outcome is
// served, and a stream that breaks off ends with an error event, never a
// clean end. Waiting for the first event is bounded by keepAliveEvery:
// then the headers and a keep-alive comment go out.
//
// enc, when not nil, writes the events in the client's protocol (an
// entrance other than OpenAI's).
func (s *Server) relayStream(w http.ResponseWriter, r *http.Request, rid string, a adaptor.Adaptor, areq *adaptor.Request, resp *http.Response, p *parsed, enc streamEncoder) outcome {
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), responses: p.mode == adaptor.ModeResponses, enc: enc,
		dropUsageChunk: !p.wantUsage && p.mode != adaptor.ModeResponses, pending: getBuf(), seen: getBuf()}
	if sf, ok := enc.(selfFramed); ok {
		sw.raw, sw.rawType = sf.rawFrames()
	}
	sw.timer = time.AfterFunc(keepAliveEvery, sw.keepAlive)
	defer func() {
		sw.timer.Stop()
		sw.mu.Lock()
		putBuf(sw.pending)
		putBuf(sw.seen)
		sw.pending, sw.seen = nil, nil
		sw.mu.Unlock()
	}()
	// Events are buffered and written out just before the adaptor waits for
	// more upstream bytes: every event reaches the client as soon as nothing
	// more is immediately available, in one write instead of one per event.
	resp.Body = &flushBeforeRead{ReadCloser: resp.Body, sw: sw}
	usage, err := a.DecodeStream(areq, resp, sw.send)

	sw.mu.Lock()
	defer sw.mu.Unlock()
	gone := sw.clientGone || r.Context().Err() != nil
	if err != nil && !sw.started && !gone {
		// Nothing reached the client: another channel may serve it.
		var ue *adaptor.UpstreamError
		if !errors.As(err, &ue) {
			ue = &adaptor.UpstreamError{Status: http.StatusBadGateway, Message: "upstream stream ended before its first event",
				Type: "upstream_error", Code: "stream_interrupted", Class: adaptor.ClassRetry, Err: err}
		}
		return outcome{err: ue}
	}
	o := outcome{served: true, usage: usage.Usage}
	complete := err == nil
	switch {
	case !usage.Reported:
		o.usage = pricing.Usage{Input: p.promptTokens, Output: countStreamed(p, *sw.seen)}
		o.counted = true
		o.note = "usage counted by the gateway"
	case !complete:
		// Cut before upstream's final usage: bill the prompt and what was
		// streamed, or what upstream had reported if more.
		if o.usage.Input == 0 {
			o.usage.Input = p.promptTokens
		}
		o.usage.Output = max(o.usage.Output, countStreamed(p, *sw.seen))
		o.counted = true
		o.note = "usage counted by the gateway: the stream was cut before upstream reported it"
	}
	switch {
	case complete && sw.enc != nil:
		sw.startLocked()
		sw.enc.end(o.usage, sw.write)
		_ = sw.flushLocked()
	case complete:
		sw.startLocked()
		if !sw.responses { // the Responses API ends with its own event, not [DONE]
			sw.write(nil, []byte("[DONE]"))
		}
		_ = sw.flushLocked()
	case gone:
		o.note = joinNote(o.note, "client disconnected mid-stream; billed for what was streamed")
	default:
		msg, code := "upstream stream ended early", "stream_interrupted"
		var ue *adaptor.UpstreamError
		if errors.As(err, &ue) {
			if ue.Message != "" {
				msg = ue.Message
			}
			if ue.Code != "" {
				code = ue.Code
			}
		}
		sw.startLocked()
		sw.writeError(msg+" (request id: "+rid+")", code)
		_ = sw.flushLocked()
		o.note = joinNote(o.note, "upstream stream broke off: "+msg)
		s.log.Warn("stream interrupted", "request_id", rid, "err", err)
	}
	return o
}

// selfFramed is a streamEncoder whose stream may not be SSE (Gemini's
// JSON-array stream): rawFrames says whether it is raw, and its
// Content-Type. A raw stream's events are written as the encoder made them.
type selfFramed interface {
	rawFrames() (raw bool, contentType string)
}

// streamWriter writes SSE events to the client and keeps what it sent, in
// case usage must be counted by the gateway. The adaptor's goroutine writes
// through send; the keep-alive timer's goroutine may write too, hence mu.
type streamWriter struct {
	mu             sync.Mutex
	w              http.ResponseWriter
	rc             *http.ResponseController
	timer          *time.Timer
	started        bool    // the headers went out
	pending        *[]byte // events not yet written to the client
	seen           *[]byte // event data sent, one per line (pooled, like pending)
	dropUsageChunk bool    // upstream usage was requested by us, not the client
	responses      bool
	enc            streamEncoder // the entrance's protocol; nil: OpenAI's
	raw            bool          // the encoder frames its events itself: not SSE (selfFramed)
	rawType        string        // the Content-Type of a raw stream
	lastSeq        int64         // the Responses API's last sequence_number
	clientGone     bool
}

var errClientGone = errors.New("client went away")

func (sw *streamWriter) send(ev adaptor.Event) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.clientGone {
		return errClientGone
	}
	if ev.UsageOnly && sw.dropUsageChunk {
		return nil
	}
	if len(*sw.seen) < maxCountedStream {
		start := len(*sw.seen)
		*sw.seen = append(append(*sw.seen, ev.Data...), '\n')
		// One event per line: the line breaks of multi-line data go.
		if bytes.IndexByte(ev.Data, '\n') >= 0 {
			line := (*sw.seen)[start : len(*sw.seen)-1]
			for i, c := range line {
				if c == '\n' {
					line[i] = ' '
				}
			}
		}
	}
	if sw.responses {
		var v [1][]byte
		if adaptor.TopLevel(ev.Data, seqKey, v[:]) {
			if n, err := strconv.ParseInt(string(v[0]), 10, 64); err == nil {
				sw.lastSeq = n
			}
		}
	}
	sw.startLocked()
	if sw.enc != nil {
		sw.enc.event(ev, sw.write)
	} else {
		sw.write(ev.Name, ev.Data)
	}
	if len(*sw.pending) > maxPendingStream {
		return sw.flushLocked()
	}
	return nil
}

var seqKey = []string{"sequence_number"}

const (
	// maxCountedStream bounds what is kept for counting a stream without usage.
	maxCountedStream = 4 << 20
	// maxPendingStream bounds what is buffered before a write, for upstreams
	// that send faster than we read.
	maxPendingStream = 32 << 10
)

// startLocked sends the headers, once. sw.mu must be held.
func (sw *streamWriter) startLocked() {
	if sw.started {
		return
	}
	sw.started = true
	h := sw.w.Header()
	if sw.raw {
		h.Set("Content-Type", sw.rawType)
	} else {
		h.Set("Content-Type", "text/event-stream")
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	sw.w.WriteHeader(http.StatusOK)
}

// write appends one event. Data of several lines (an upstream's pretty
// JSON) is sent as several data lines, as SSE joins them back.
func (sw *streamWriter) write(name, data []byte) {
	if sw.raw {
		*sw.pending = append(*sw.pending, data...)
		return
	}
	b := *sw.pending
	if len(name) > 0 {
		b = append(append(append(b, "event: "...), name...), '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		b = append(append(append(b, "data: "...), data[:i]...), '\n')
		data = data[i+1:]
	}
	b = append(append(b, "data: "...), data...)
	*sw.pending = append(b, '\n', '\n')
}

// writeError ends the stream with an error event in the entrance's shape:
// the Responses API's error event, or OpenAI's error object for chat.
func (sw *streamWriter) writeError(msg, code string) {
	if sw.enc != nil {
		sw.enc.fail(msg, code, sw.write)
		return
	}
	if sw.responses {
		ev, _ := json.Marshal(map[string]any{"type": "error", "code": code, "message": msg, "param": nil, "sequence_number": sw.lastSeq + 1})
		sw.write([]byte("error"), ev)
		return
	}
	ev, _ := json.Marshal(map[string]any{"error": map[string]any{
		"message": msg, "type": "upstream_error", "param": nil, "code": code,
	}})
	sw.write(nil, ev)
}

func (sw *streamWriter) flush() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.flushLocked()
}

// flushLocked writes the pending events and flushes them to the client.
func (sw *streamWriter) flushLocked() error {
	if sw.clientGone {
		return errClientGone
	}
	if sw.pending == nil || len(*sw.pending) == 0 {
		return nil
	}
	_, err := sw.w.Write(*sw.pending)
	*sw.pending = (*sw.pending)[:0]
	if err == nil {
		err = sw.rc.Flush()
	}
	if err != nil {
		sw.clientGone = true
		return errClientGone
	}
	return nil
}

// keepAlive runs when upstream has been silent for keepAliveEvery: an SSE
// comment keeps the connection (and the proxies on it) open.
func (sw *streamWriter) keepAlive() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.pending == nil || sw.clientGone {
		return
	}
	sw.startLocked()
	if sw.raw {
		*sw.pending = append(*sw.pending, '\n') // whitespace: valid between a JSON array's items
	} else {
		*sw.pending = append(*sw.pending, ": keep-alive\n\n"...)
	}
	if sw.flushLocked() == nil {
		sw.timer.Reset(keepAliveEvery)
	}
}

// bufPool recycles stream buffers: growing two fresh buffers per stream was
// most of the relay's allocation, and so of its garbage collection.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return // let an unusually large one go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// flushBeforeRead flushes the client's pending events before each read of the
// upstream body, i.e. whenever the adaptor has consumed all it had, and
// restarts the keep-alive clock.
type flushBeforeRead struct {
	io.ReadCloser
	sw *streamWriter
}

func (f *flushBeforeRead) Read(p []byte) (int, error) {
	if err := f.sw.flush(); err != nil {
		return 0, err
	}
	f.sw.timer.Reset(keepAliveEvery)
	return f.ReadCloser.Read(p)
}

// countResponse counts completion tokens of a non-stream answer that came
// without usage.
func countResponse(p *parsed, body []byte) int {
	switch p.mode {
	case adaptor.ModeChat, adaptor.ModeCompletions:
		var resp struct {
			Choices []struct {
				Text    string `json:"text"`
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if json.Unmarshal(body, &resp) != nil {
			return 0
		}
		n := 0
		for _, c := range resp.Choices {
			n += tokenizer.CountText(p.model, c.Text+c.Message.Content)
		}
		return n
	case adaptor.ModeAudioTranscription, adaptor.ModeAudioTranslation:
		var resp struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(body, &resp) != nil {
			return tokenizer.CountText(p.model, string(body)) // text/srt/vtt formats
		}
		return tokenizer.CountText(p.model, resp.Text)
	}
	return 0
}

// countStreamed counts completion tokens of streamed chunks (one per line).
func countStreamed(p *parsed, lines []byte) int {
	var text bytes.Buffer
	for line := range bytes.SplitSeq(lines, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		var chunk struct {
			Choices []struct {
				Text  string `json:"text"`
				Delta struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					ToolCalls        []struct {
						Function struct {
							Arguments string `json:"arguments"`
						} `json:"function"`
					} `json:"tool_calls"`
				} `json:"delta"`
			} `json:"choices"`
			Delta string `json:"delta"` // Responses API text, reasoning and argument deltas
		}
		if json.Unmarshal(line, &chunk) != nil {
			continue
		}
		text.WriteString(chunk.Delta)
		for _, c := range chunk.Choices {
			text.WriteString(c.Text)
			text.WriteString(c.Delta.Content)
			text.WriteString(c.Delta.ReasoningContent)
			for _, tc := range c.Delta.ToolCalls {
				text.WriteString(tc.Function.Arguments)
			}
		}
	}
	return tokenizer.CountText(p.model, text.String())
}
