package relay

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/genai"

	"oneapi/pricing"
	"oneapi/relay/adaptor"
)

// The Gemini entrance driven by Google's own Go SDK (what Gemini CLI's
// JavaScript twin does): generateContent, the SSE stream, countTokens and
// embeddings against an OpenAI, an Anthropic and a Gemini channel, each
// billed once with the usage upstream reported, and a refusal as an
// APIError with Gemini's status.

func genaiClient(t *testing.T, b *bundle, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: key, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: b.srv.URL + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGeminiEntranceWithGenaiSDK(t *testing.T) {
	b := setup(t)
	b.channel(newUpstream(t, okChat).URL, channelOpts{models: "gpt-4o-mini"})
	b.channel(anthropicUpstream(t).URL, channelOpts{typ: adaptor.TypeAnthropic, models: claudeModel, systemPrompt: "You are terse."})
	b.channel(geminiUpstream(t).URL, channelOpts{typ: adaptor.TypeGemini, models: geminiModel + ",text-embedding-004"})
	client := genaiClient(t, b, b.token(tokenOpts{}))
	ctx := context.Background()
	cfg := &genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("Answer briefly.", genai.RoleUser), MaxOutputTokens: 256}
	ask := genai.Text("Say hello")

	for _, tc := range []struct{ model, streamed string }{
		{"gpt-4o-mini", "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 w19 "},
		{claudeModel, "w0 w1 w2 w3 w4 "},
		{geminiModel, "w0 w1 w2 w3 end"},
	} {
		resp, err := client.Models.GenerateContent(ctx, tc.model, ask, cfg)
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if resp.Text() != "Hello there!" || resp.Candidates[0].FinishReason != genai.FinishReasonStop || resp.UsageMetadata == nil ||
			resp.UsageMetadata.PromptTokenCount != 12 || resp.UsageMetadata.CandidatesTokenCount != 20 || resp.UsageMetadata.TotalTokenCount != 32 {
			t.Errorf("%s reply: %+v", tc.model, resp)
		}

		var text strings.Builder
		var last *genai.GenerateContentResponse
		for r, err := range client.Models.GenerateContentStream(ctx, tc.model, ask, cfg) {
			if err != nil {
				t.Fatalf("%s stream: %v", tc.model, err)
			}
			text.WriteString(r.Text())
			last = r
		}
		if text.String() != tc.streamed || last == nil || last.UsageMetadata == nil || last.UsageMetadata.CandidatesTokenCount != 20 ||
			last.Candidates[0].FinishReason != genai.FinishReasonStop {
			t.Errorf("%s stream %q, last %+v", tc.model, text.String(), last)
		}

		n, err := client.Models.CountTokens(ctx, tc.model, ask, nil)
		if err != nil || n.TotalTokens <= 0 {
			t.Errorf("%s countTokens: %v %+v", tc.model, err, n)
		}
	}

	emb, err := client.Models.EmbedContent(ctx, "text-embedding-004", ask, nil)
	if err != nil || len(emb.Embeddings) != 1 || len(emb.Embeddings[0].Values) != 3 {
		t.Errorf("embed: %v %+v", err, emb)
	}

	bad := genaiClient(t, b, "sk-wrong")
	_, err = bad.Models.GenerateContent(ctx, "gpt-4o-mini", ask, nil)
	var ae genai.APIError
	if !errors.As(err, &ae) || ae.Code != 400 || ae.Status != "INVALID_ARGUMENT" {
		t.Errorf("bad key: %v", err)
	}

	b.settled(7)
	for _, m := range []string{"gpt-4o-mini", claudeModel, geminiModel} {
		want := testCost(12, 20, pricing.DefaultModelRatio[m], pricing.DefaultCompletionRatio[m])
		if n := b.scalar("SELECT count(*) FROM logs WHERE type = 2 AND model_name = $1 AND quota = $2 AND prompt_tokens = 12 AND completion_tokens = 20", m, want); n != 2 {
			t.Errorf("%s: %d log rows billed %d, want 2", m, n, want)
		}
	}
	if n := b.scalar("SELECT count(*) FROM logs"); n != 7 {
		t.Errorf("%d log rows, want 7 (countTokens is not billed)", n)
	}
}
