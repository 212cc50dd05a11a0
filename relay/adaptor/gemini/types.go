package gemini

import "encoding/json"

// The Generative Language API's JSON (v1beta), reduced to the fields this
// adaptor writes or reads. Google's JSON omits fields at their zero value: a
// candidate's index 0, an empty parts list.

// generateContentRequest is the body of models/{model}:generateContent and
// :streamGenerateContent.
type generateContentRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []tool            `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
	SafetySettings    []safetySetting   `json:"safetySettings,omitempty"` // GEMINI_SAFETY_SETTING
}

// content is one turn: role "user" or "model" (none for systemInstruction).
type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part holds exactly one of text, inlineData, functionCall or
// functionResponse.
type part struct {
	Text    string `json:"text,omitempty"`
	Thought bool   `json:"thought,omitempty"` // a thought summary, not answer text
	// ThoughtSignature must be sent back with the function call it came with
	// (Gemini 3 rejects a function call turn without it).
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

type blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"` // base64
}

type functionCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"` // a JSON object
}

type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"` // a JSON object
}

type tool struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

// functionDeclaration uses parametersJsonSchema, which takes JSON Schema as
// OpenAI clients write it. The older "parameters" field takes an OpenAPI
// subset and rejects keys such as additionalProperties, which OpenAI's
// strict mode requires.
type functionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"` // AUTO, ANY or NONE
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	Temperature      *float64 `json:"temperature,omitempty"`
	TopP             *float64 `json:"topP,omitempty"`
	MaxOutputTokens  int      `json:"maxOutputTokens,omitempty"`
	StopSequences    []string `json:"stopSequences,omitempty"`
	CandidateCount   int      `json:"candidateCount,omitempty"`
	PresencePenalty  *float64 `json:"presencePenalty,omitempty"`
	FrequencyPenalty *float64 `json:"frequencyPenalty,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	ResponseMimeType string   `json:"responseMimeType,omitempty"`
	// ResponseJSONSchema takes JSON Schema as is, like parametersJsonSchema
	// (responseSchema is the OpenAPI subset).
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
}

// generateContentResponse is the reply of generateContent and each event of
// streamGenerateContent?alt=sse.
type generateContentResponse struct {
	Candidates     []candidate     `json:"candidates"`
	PromptFeedback *promptFeedback `json:"promptFeedback"`
	UsageMetadata  *usageMetadata  `json:"usageMetadata"`
	ResponseID     string          `json:"responseId"`
	// Error is set when a stream reports a failure as an event.
	Error *googleError `json:"error"`
}

type candidate struct {
	Content      content `json:"content"`
	FinishReason string  `json:"finishReason"`
	Index        int     `json:"index"`
}

// promptFeedback.blockReason is set when the prompt itself was refused;
// there are no candidates then.
type promptFeedback struct {
	BlockReason string `json:"blockReason"`
}

type usageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
	// Per-modality counts (TEXT, IMAGE, AUDIO, VIDEO) of the prompt and the answer.
	PromptTokensDetails     []modalityCount `json:"promptTokensDetails"`
	CandidatesTokensDetails []modalityCount `json:"candidatesTokensDetails"`
}

type modalityCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

// batchEmbedRequest is the body of models/{model}:batchEmbedContents.
type batchEmbedRequest struct {
	Requests []embedContentRequest `json:"requests"`
}

type embedContentRequest struct {
	Model                string  `json:"model"` // "models/" + name
	Content              content `json:"content"`
	OutputDimensionality int     `json:"outputDimensionality,omitempty"`
}

type batchEmbedResponse struct {
	Embeddings []struct {
		Values []float64 `json:"values"`
	} `json:"embeddings"`
}

// googleError is the error object of Google APIs:
// {"error":{"code":400,"message":"...","status":"INVALID_ARGUMENT","details":[...]}}.
type googleError struct {
	Code    int           `json:"code"`
	Message string        `json:"message"`
	Status  string        `json:"status"`
	Details []errorDetail `json:"details"`
}

// errorDetail covers the two details this adaptor reads: ErrorInfo
// (reason) and RetryInfo (retryDelay, such as "39s").
type errorDetail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
}

// OpenAI's embeddings reply; relay/oai has only the request side.
type embeddingResponse struct {
	Object string          `json:"object"` // "list"
	Data   []embeddingData `json:"data"`
	Model  string          `json:"model"`
	Usage  embeddingUsage  `json:"usage"`
}

type embeddingData struct {
	Object    string `json:"object"` // "embedding"
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float64, or a base64 string of float32s
}

type embeddingUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}
