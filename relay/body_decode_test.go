package relay

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"net/http"
	"testing"
)

// TestCompressedRequestBodies: gzip and deflate bodies are served and
// billed like plain ones; a zip bomb (1 KiB inflating past the 1 MiB
// limit) and an unknown encoding are refused before anything goes upstream.
func TestCompressedRequestBodies(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, okChat)
	b.channel(up.URL, channelOpts{})
	key := b.token(tokenOpts{})
	send := func(encoding string, body []byte) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Content-Encoding", encoding)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	var gz, zl bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write([]byte(chatBody))
	w.Close()
	zw := zlib.NewWriter(&zl)
	zw.Write([]byte(chatBody))
	zw.Close()
	for enc, body := range map[string][]byte{"gzip": gz.Bytes(), "deflate": zl.Bytes()} {
		res := send(enc, body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", enc, res.StatusCode)
		}
	}

	var bomb bytes.Buffer
	w = gzip.NewWriter(&bomb)
	w.Write([]byte(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`))
	w.Write(make([]byte, 2<<20)) // zeros: compresses to a few KiB
	w.Close()
	if bomb.Len() > 16<<10 {
		t.Fatalf("bomb is %d bytes", bomb.Len())
	}
	res := send("gzip", bomb.Bytes())
	if res.StatusCode != http.StatusRequestEntityTooLarge || decodeError(t, res) != "request_too_large" {
		t.Errorf("zip bomb: %d", res.StatusCode)
	}
	res = send("br", []byte(chatBody))
	if res.StatusCode != http.StatusUnsupportedMediaType || decodeError(t, res) != "unsupported_content_encoding" {
		t.Errorf("brotli: %d", res.StatusCode)
	}
	res = send("gzip", []byte(chatBody))
	if res.StatusCode != 400 || decodeError(t, res) != "invalid_body_encoding" {
		t.Errorf("not gzip: %d", res.StatusCode)
	}
	b.settled(2)
	if up.hits.Load() != 2 {
		t.Errorf("upstream hits %d, want 2", up.hits.Load())
	}
}
