package bedrock

import (
	"encoding/json"

	"oneapi/relay/oai"
)

// The Bedrock Runtime JSON of Converse and ConverseStream
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html),
// reduced to the fields this adaptor writes or reads. Unions (content
// blocks, tool choice) are structs with one member set.

// converseRequest is the body of POST /model/{modelId}/converse and
// /converse-stream: the model is in the path.
type converseRequest struct {
	Messages        []message        `json:"messages"`
	System          []systemBlock    `json:"system,omitempty"`
	InferenceConfig *inferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig      *toolConfig      `json:"toolConfig,omitempty"`
	OutputConfig    *outputConfig    `json:"outputConfig,omitempty"`
}

type message struct {
	Role    string         `json:"role"` // "user" or "assistant"
	Content []contentBlock `json:"content"`
}

type systemBlock struct {
	Text string `json:"text"`
}

// contentBlock holds exactly one member.
type contentBlock struct {
	Text             string            `json:"text,omitempty"`
	Image            *imageBlock       `json:"image,omitempty"`
	Document         *documentBlock    `json:"document,omitempty"`
	ToolUse          *toolUseBlock     `json:"toolUse,omitempty"`
	ToolResult       *toolResultBlock  `json:"toolResult,omitempty"`
	ReasoningContent *reasoningContent `json:"reasoningContent,omitempty"` // replies only
}

// imageBlock and documentBlock carry their bytes inline: base64 in JSON.
type imageBlock struct {
	Format string      `json:"format"` // png, jpeg, gif, webp
	Source bytesSource `json:"source"`
}

type documentBlock struct {
	Format string      `json:"format"` // pdf, csv, doc, docx, xls, xlsx, html, txt, md
	Name   string      `json:"name"`
	Source bytesSource `json:"source"`
}

type bytesSource struct {
	Bytes string `json:"bytes"`
}

type toolUseBlock struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"` // a JSON object
}

type toolResultBlock struct {
	ToolUseID string              `json:"toolUseId"`
	Content   []toolResultContent `json:"content"`
}

type toolResultContent struct {
	Text  string          `json:"text,omitempty"`
	JSON  json.RawMessage `json:"json,omitempty"`
	Image *imageBlock     `json:"image,omitempty"`
}

type reasoningContent struct {
	ReasoningText *struct {
		Text string `json:"text"`
	} `json:"reasoningText"`
}

type inferenceConfig struct {
	MaxTokens     int      `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type toolConfig struct {
	Tools      []toolEntry `json:"tools"`
	ToolChoice *toolChoice `json:"toolChoice,omitempty"`
}

type toolEntry struct {
	ToolSpec toolSpec `json:"toolSpec"`
}

type toolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema inputSchema `json:"inputSchema"`
}

type inputSchema struct {
	JSON json.RawMessage `json:"json"`
}

// toolChoice holds one of auto, any or tool.
type toolChoice struct {
	Auto *struct{}  `json:"auto,omitempty"`
	Any  *struct{}  `json:"any,omitempty"`
	Tool *namedTool `json:"tool,omitempty"`
}

type namedTool struct {
	Name string `json:"name"`
}

// outputConfig asks for structured output (response_format json_schema).
type outputConfig struct {
	TextFormat textFormat `json:"textFormat"`
}

type textFormat struct {
	Type      string          `json:"type"` // "json_schema"
	Structure formatStructure `json:"structure"`
}

type formatStructure struct {
	JSONSchema jsonSchemaDefinition `json:"jsonSchema"`
}

type jsonSchemaDefinition struct {
	Schema      string `json:"schema"` // the schema as a JSON string
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// converseResponse is the reply of Converse.
type converseResponse struct {
	Output struct {
		Message *message `json:"message"`
	} `json:"output"`
	StopReason string      `json:"stopReason"`
	Usage      *tokenUsage `json:"usage"`
}

// tokenUsage is Bedrock's count. inputTokens leaves out the cached parts,
// which come apart (as Anthropic reports them).
type tokenUsage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens"`
}

// Stream events: the payload of each event-stream message, told apart by
// its :event-type header.

type contentBlockStartEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Start             struct {
		ToolUse *struct {
			ToolUseID string `json:"toolUseId"`
			Name      string `json:"name"`
		} `json:"toolUse"`
	} `json:"start"`
}

type contentBlockDeltaEvent struct {
	ContentBlockIndex int `json:"contentBlockIndex"`
	Delta             struct {
		Text    *string `json:"text"`
		ToolUse *struct {
			Input string `json:"input"` // a piece of the arguments' JSON
		} `json:"toolUse"`
		ReasoningContent *struct {
			Text string `json:"text"`
		} `json:"reasoningContent"`
	} `json:"delta"`
}

type messageStopEvent struct {
	StopReason string `json:"stopReason"`
}

type metadataEvent struct {
	Usage *tokenUsage `json:"usage"`
}

// errorBody is Bedrock's error payload, of an HTTP error and of a stream
// exception: {"message":"..."}; some front ends send "Message", "__type" or
// "code" (the error type).
type errorBody struct {
	Message  string `json:"message"`
	MessageC string `json:"Message"`
	Type     string `json:"__type"`
	Code     string `json:"code"`
}

// chatChunk is an OpenAI chat.completion.chunk (as in the anthropic
// package: the first chunk carries "content":"", which oai.Delta omits).
type chatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *oai.Usage    `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role             string         `json:"role,omitempty"`
	Content          *string        `json:"content,omitempty"`
	ReasoningContent string         `json:"reasoning_content,omitempty"`
	ToolCalls        []oai.ToolCall `json:"tool_calls,omitempty"`
}
