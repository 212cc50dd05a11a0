package relay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"oneapi/pricing"
	"oneapi/queries"
	"oneapi/state"
)

// Channels of the Chinese providers and the other One API types with
// their own wire format, end to end: an OpenAI client in front, an
// httptest upstream speaking the provider's format behind (its auth
// checked), billing from the usage the provider reports.

// cnChannel adds an enabled channel of type typ with the key and config
// (JSON) given, in One API's shapes.
func (b *bundle) cnChannel(typ int, baseURL, models, key, config string) int64 {
	b.t.Helper()
	ch, err := b.q.ChannelCreate(context.Background(), queries.ChannelCreateParams{
		Type: int32(typ), Name: "cn", KeyCiphertext: b.cipher.Seal(key), KeyHint: "…",
		BaseURL: baseURL, Models: models, Groups: "default", Status: state.StatusEnabled, Config: config,
	})
	if err != nil {
		b.t.Fatal(err)
	}
	b.reload()
	return ch.ID
}

// price is what input and output tokens of model cost on a channel type
// under the default prices.
func (b *bundle) price(model string, typ, input, output int) int64 {
	p, _ := b.st.Options().Price(model, "default", typ)
	return pricing.Cost(p, pricing.Usage{Input: input, Output: output})
}

// chatTwice sends a chat and a stream (with usage) for model and checks
// the answers: content in the reply, the stream's text deltas, the
// provider's usage in both, [DONE] at the end. It returns the stream.
func chatTwice(t *testing.T, b *bundle, key, model, wantContent string, wantDeltas, in, out int) string {
	t.Helper()
	res := b.post("/v1/chat/completions", key, `{"model":"`+model+`","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`)
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var reply struct {
		Object  string `json:"object"`
		Choices []struct {
			Message      struct{ Content string } `json:"message"`
			FinishReason string                   `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(raw, &reply); err != nil || res.StatusCode != 200 || reply.Object != "chat.completion" || len(reply.Choices) != 1 ||
		reply.Choices[0].Message.Content != wantContent || reply.Choices[0].FinishReason != "stop" ||
		reply.Usage.PromptTokens != in || reply.Usage.CompletionTokens != out {
		t.Fatalf("chat = %d %s", res.StatusCode, raw)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("chat Content-Type %q", ct)
	}
	res = b.post("/v1/chat/completions", key, `{"model":"`+model+`","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	raw, _ = io.ReadAll(res.Body)
	res.Body.Close()
	s := string(raw)
	if res.StatusCode != 200 || strings.Count(s, `"content":"`) < wantDeltas || !strings.Contains(s, `"finish_reason":"stop"`) ||
		!strings.Contains(s, `"prompt_tokens":`+itoa(in)) || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Fatalf("stream = %d %s", res.StatusCode, s)
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }

// billedTwice checks that the two calls of chatTwice were logged at the
// provider's counts.
func billedTwice(t *testing.T, b *bundle, model string, typ, in, out int) {
	t.Helper()
	b.settled(2)
	want := b.price(model, typ, in, out)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = $1 AND prompt_tokens = $2 AND completion_tokens = $3 AND quota = $4 AND NOT usage_counted",
		model, in, out, want); n != 2 {
		rows, _ := b.pool.Query(context.Background(), "SELECT model_name, prompt_tokens, completion_tokens, quota, usage_counted FROM logs WHERE type = 2")
		var got []string
		for rows.Next() {
			var m string
			var p, c, q int64
			var counted bool
			_ = rows.Scan(&m, &p, &c, &q, &counted)
			got = append(got, m+" "+itoa(int(p))+"/"+itoa(int(c))+" quota "+itoa(int(q))+" counted="+map[bool]string{true: "yes", false: "no"}[counted])
		}
		rows.Close()
		t.Errorf("%d log rows at %d/%d billed %d, want 2; rows: %v", n, in, out, want, got)
	}
}

// clientErrorNotBlamed posts body, expects status and checks the channel
// stays enabled.
func clientErrorNotBlamed(t *testing.T, b *bundle, key string, chID int64, body string, status int) {
	t.Helper()
	res := b.post("/v1/chat/completions", key, body)
	if res.StatusCode != status {
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("status %d, want %d: %s", res.StatusCode, status, raw)
	}
	decodeError(t, res)
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", chID); st != int64(state.StatusEnabled) {
		t.Errorf("channel status %d after the client's error", st)
	}
}

// keyRejected expects the channel to be disabled and the client told 502.
func keyRejected(t *testing.T, b *bundle, key string, chID int64, body string) {
	t.Helper()
	res := b.post("/v1/chat/completions", key, body)
	if res.StatusCode != http.StatusBadGateway {
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		t.Fatalf("status %d, want 502: %s", res.StatusCode, raw)
	}
	decodeError(t, res)
	if st := b.scalar("SELECT status FROM channels WHERE id = $1", chID); st != 3 {
		t.Errorf("channel status %d, want 3 (disabled automatically)", st)
	}
}
