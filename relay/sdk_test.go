package relay

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// TestOfficialGoSDK drives the gateway with OpenAI's own Go SDK and checks
// each request is billed exactly once.
func TestOfficialGoSDK(t *testing.T) {
	b := setup(t)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			okChat(w, r, body)
		case "/v1/embeddings":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,0.25]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}`))
		case "/v1/images/generations":
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"created":1,"data":[{"url":"https://example.com/cat.png"}]}`))
		}
	})
	b.channel(up.URL, channelOpts{models: "gpt-4o-mini,text-embedding-3-small,dall-e-3"})
	client := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey(b.token(tokenOpts{})), option.WithMaxRetries(0))
	ctx := context.Background()

	chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
	})
	if err != nil || chat.Choices[0].Message.Content != "Hello there!" || chat.Usage.CompletionTokens != usageCompletion {
		t.Fatalf("chat: %v %+v", err, chat)
	}

	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "gpt-4o-mini",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if !strings.HasPrefix(acc.Choices[0].Message.Content, "w0 w1") || acc.Usage.PromptTokens != usagePrompt {
		t.Errorf("stream content %q usage %+v", acc.Choices[0].Message.Content, acc.Usage)
	}

	emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")},
	})
	if err != nil || len(emb.Data) != 1 || emb.Data[0].Embedding[0] != 0.5 {
		t.Fatalf("embeddings: %v %+v", err, emb)
	}

	img, err := client.Images.Generate(ctx, openai.ImageGenerateParams{Model: "dall-e-3", Prompt: "a cat"})
	if err != nil || len(img.Data) != 1 || img.Data[0].URL != "https://example.com/cat.png" {
		t.Fatalf("images: %v %+v", err, img)
	}

	models, err := client.Models.List(ctx)
	if err != nil || len(models.Data) != 3 {
		t.Fatalf("models: %v %+v", err, models)
	}
	if m, err := client.Models.Get(ctx, "gpt-4o-mini"); err != nil || m.ID != "gpt-4o-mini" {
		t.Fatalf("model: %v %+v", err, m)
	}

	// A wrong key is an *openai.Error the SDK understands.
	bad := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey("sk-wrong"), option.WithMaxRetries(0))
	_, err = bad.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	var apiErr *openai.Error
	if !asOpenAIError(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
		t.Errorf("wrong key error = %v", err)
	}

	b.settled(4)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2"); n != 4 {
		t.Errorf("log rows = %d, want 4 (chat, stream, embeddings, image)", n)
	}
	if n := b.scalar("SELECT request_count FROM users WHERE id = $1", b.root.ID); n != 4 {
		t.Errorf("request_count = %d, want 4", n)
	}
	if up.hits.Load() != 4 {
		t.Errorf("upstream served %d, want 4", up.hits.Load())
	}
}

func asOpenAIError(err error, target **openai.Error) bool {
	e, ok := err.(*openai.Error)
	if ok {
		*target = e
	}
	return ok
}
