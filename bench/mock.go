package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

// Fixed token usage the mock reports for every request.
const (
	mockPromptTokens     = 12
	mockCompletionTokens = 20
	mockStreamEvents     = 20
	benchModel           = "gpt-4o-mini"

	// Keys that let the single mock process attribute each request to the
	// path it came through: (a) direct uses directKey, (b) the bare proxy
	// forwards proxyKey unchanged, anything else is the gateway (c).
	directKey = "sk-bench-direct"
	proxyKey  = "sk-bench-proxy"
)

// mockCounts is the JSON served at GET /count.
type mockCounts struct {
	Direct int64 `json:"direct"`
	Proxy  int64 `json:"proxy"`
	Other  int64 `json:"other"`
}

type mockServer struct {
	direct, proxy, other atomic.Int64

	chatBody   []byte
	chunks     [][]byte
	usageChunk []byte
	done       []byte
	tgiEvents  [][]byte // tgi.go
}

func newMockServer() *mockServer {
	m := &mockServer{}
	usage := map[string]int{
		"prompt_tokens":     mockPromptTokens,
		"completion_tokens": mockCompletionTokens,
		"total_tokens":      mockPromptTokens + mockCompletionTokens,
	}
	chat := map[string]any{
		"id":      "chatcmpl-bench",
		"object":  "chat.completion",
		"created": 1700000000,
		"model":   benchModel,
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": "Hello there, nice to meet you today!"},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage":              usage,
		"system_fingerprint": "fp_bench",
	}
	m.chatBody, _ = json.Marshal(chat)
	for i := 0; i < mockStreamEvents; i++ {
		delta := map[string]any{"content": fmt.Sprintf("w%d ", i)}
		var finish any
		switch i {
		case 0:
			delta = map[string]any{"role": "assistant", "content": ""}
		case mockStreamEvents - 1:
			delta = map[string]any{}
			finish = "stop"
		}
		c := map[string]any{
			"id":                 "chatcmpl-bench",
			"object":             "chat.completion.chunk",
			"created":            1700000000,
			"model":              benchModel,
			"system_fingerprint": "fp_bench",
			"choices": []any{map[string]any{
				"index":         0,
				"delta":         delta,
				"logprobs":      nil,
				"finish_reason": finish,
			}},
		}
		b, _ := json.Marshal(c)
		m.chunks = append(m.chunks, []byte("data: "+string(b)+"\n\n"))
	}
	u := map[string]any{
		"id":                 "chatcmpl-bench",
		"object":             "chat.completion.chunk",
		"created":            1700000000,
		"model":              benchModel,
		"system_fingerprint": "fp_bench",
		"choices":            []any{},
		"usage":              usage,
	}
	b, _ := json.Marshal(u)
	m.usageChunk = []byte("data: " + string(b) + "\n\n")
	m.done = []byte("data: [DONE]\n\n")
	m.tgiEvents = tgiEvents()
	return m
}

type mockChatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// count attributes a request to the path it came through, by its key.
func (m *mockServer) count(r *http.Request) {
	switch r.Header.Get("Authorization") {
	case "Bearer " + directKey:
		m.direct.Add(1)
	case "Bearer " + proxyKey:
		m.proxy.Add(1)
	default:
		m.other.Add(1)
	}
}

func (m *mockServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if m.serveTGI(w, r) {
		return
	}
	switch {
	case r.URL.Path == "/count" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(mockCounts{Direct: m.direct.Load(), Proxy: m.proxy.Load(), Other: m.other.Load()})
	case strings.HasSuffix(r.URL.Path, "/chat/completions") && r.Method == http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, `{"error":{"message":"read error"}}`, http.StatusBadRequest)
			return
		}
		var req mockChatRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
			return
		}
		m.count(r)
		h := w.Header()
		if !req.Stream {
			h.Set("Content-Type", "application/json")
			h.Set("Content-Length", fmt.Sprint(len(m.chatBody)))
			_, _ = w.Write(m.chatBody)
			return
		}
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fl, _ := w.(http.Flusher)
		for _, c := range m.chunks {
			if _, err := w.Write(c); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
			_, _ = w.Write(m.usageChunk)
			if fl != nil {
				fl.Flush()
			}
		}
		_, _ = w.Write(m.done)
	default:
		http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
	}
}

// mockMain runs the mock upstream as a child process: `bench mock -addr 127.0.0.1:0`.
// It prints "LISTEN host:port" on stdout and exits when stdin reaches EOF.
func mockMain(args []string) {
	fs := flag.NewFlagSet("mock", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	_ = fs.Parse(args)
	ln, err := listenLoopback(*addr)
	if err != nil {
		log.Fatalf("mock: %v", err)
	}
	srv := &http.Server{Handler: newMockServer(), ErrorLog: log.New(io.Discard, "", 0)}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	exitOnStdinEOF()
	log.Fatal(srv.Serve(ln))
}

func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("refusing non-loopback address %q", addr)
	}
	return net.Listen("tcp", addr)
}

// exitOnStdinEOF makes a child process exit when its parent closes (or loses) the pipe.
func exitOnStdinEOF() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}
