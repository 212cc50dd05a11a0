package relay

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"oneapi/relay/adaptor"
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

// TestOfficialGoSDKConvertedProviders: the SDK reads what the Anthropic and
// Gemini adaptors produce (a reply, and a stream its accumulator rebuilds,
// usage included) as it reads OpenAI's own.
func TestOfficialGoSDKConvertedProviders(t *testing.T) {
	b := setup(t)
	b.channel(anthropicUpstream(t).URL, channelOpts{typ: adaptor.TypeAnthropic, models: claudeModel, systemPrompt: "You are terse."})
	b.channel(geminiUpstream(t).URL, channelOpts{typ: adaptor.TypeGemini, models: geminiModel})
	client := openai.NewClient(option.WithBaseURL(b.srv.URL+"/v1/"), option.WithAPIKey(b.token(tokenOpts{})), option.WithMaxRetries(0))
	ctx := context.Background()
	for _, tc := range []struct{ model, streamed string }{
		{claudeModel, "w0 w1 w2 w3 w4 "},
		{geminiModel, "w0 w1 w2 w3 end"},
	} {
		chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    tc.model,
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
		})
		if err != nil || chat.Choices[0].Message.Content != "Hello there!" || chat.Choices[0].FinishReason != "stop" ||
			chat.Usage.PromptTokens != 12 || chat.Usage.CompletionTokens != 20 {
			t.Fatalf("%s chat: %v %+v", tc.model, err, chat)
		}
		stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
			Model:         tc.model,
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hello")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatalf("%s stream: %v", tc.model, err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != tc.streamed || acc.Choices[0].FinishReason != "stop" ||
			acc.Usage.PromptTokens != 12 || acc.Usage.CompletionTokens != 20 {
			t.Errorf("%s stream: %+v usage %+v", tc.model, acc.Choices, acc.Usage)
		}
	}
	b.settled(4)
	if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND prompt_tokens = 12 AND completion_tokens = 20"); n != 4 {
		t.Errorf("log rows = %d, want 4", n)
	}
}
