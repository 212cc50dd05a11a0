package ali

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"oneapi/relay/adaptor"
	"oneapi/relay/adaptor/convert"
	"oneapi/relay/adaptor/outbound"
	"oneapi/relay/oai"
)

type imageRequest struct {
	Model string `json:"model"`
	Input struct {
		Prompt         string `json:"prompt"`
		NegativePrompt string `json:"negative_prompt,omitempty"`
	} `json:"input"`
	Parameters struct {
		Size string `json:"size,omitempty"`
		N    int    `json:"n,omitempty"`
	} `json:"parameters"`
}

// toImageRequest converts an OpenAI image request: size "1024x1024" is
// DashScope's "1024*1024". Results come as URLs; b64_json is refused
// rather than fetched from wherever the task's result points.
func toImageRequest(body []byte, model string) (*imageRequest, error) {
	var ir struct {
		oai.ImageRequest
		ResponseFormat string `json:"response_format"`
		NegativePrompt string `json:"negative_prompt"`
	}
	if err := json.Unmarshal(body, &ir); err != nil {
		return nil, convert.ClientError("the request body is not an image request: %v", err)
	}
	if ir.Prompt == "" {
		return nil, convert.ClientError("prompt must not be empty")
	}
	if ir.ResponseFormat == "b64_json" {
		return nil, convert.ClientError(`Ali DashScope image tasks return URLs: ask for response_format "url"`)
	}
	out := &imageRequest{Model: model}
	out.Input.Prompt, out.Input.NegativePrompt = ir.Prompt, ir.NegativePrompt
	out.Parameters.Size = strings.ReplaceAll(ir.Size, "x", "*")
	if ir.N != nil {
		out.Parameters.N = *ir.N
	}
	return out, nil
}

// task is an asynchronous task's status (the submission and each poll).
type task struct {
	Output struct {
		TaskID     string `json:"task_id"`
		TaskStatus string `json:"task_status"`
		Code       string `json:"code"`
		Message    string `json:"message"`
		Results    []struct {
			URL  string `json:"url"`
			Code string `json:"code"`
		} `json:"results"`
	} `json:"output"`
	RequestID string `json:"request_id"`
	Code      string `json:"code"`
	Message   string `json:"message"`
}

// pollPolicy is how a task is waited for.
type pollPolicy struct {
	first, every, most time.Duration
}

// defaultPoll: image tasks take from a few seconds to a minute or two.
var defaultPoll = pollPolicy{first: time.Second, every: 2 * time.Second, most: 5 * time.Minute}

// decodeImageTask reads the submission and polls GET /api/v1/tasks/{id} on
// the channel's base URL until the task ends. The images are billed per
// image by the relay (usage is not reported).
func (a *Adaptor) decodeImageTask(ctx context.Context, c *call, body []byte) ([]byte, adaptor.Usage, error) {
	var t task
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	if t.Code != "" {
		return nil, adaptor.Usage{}, apiError(http.StatusBadGateway, nil, t.Code, t.Message, c.ch.Key)
	}
	if t.Output.TaskID == "" {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	client, err := outbound.Client(ctx)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	base, err := convert.BaseURL(c.ch)
	if err != nil {
		return nil, adaptor.Usage{}, err
	}
	taskURL := convert.JoinPath(base, "api", "v1", "tasks", t.Output.TaskID)
	deadline := time.Now().Add(a.poll.most)
	wait := a.poll.first
	for {
		switch t.Output.TaskStatus {
		case "SUCCEEDED":
			return imagesOf(&t, body)
		case "FAILED", "CANCELED", "UNKNOWN":
			class := adaptor.ClassRetry
			status := http.StatusBadGateway
			if t.Output.Code == "DataInspectionFailed" || strings.HasPrefix(t.Output.Code, "InvalidParameter") {
				class, status = adaptor.ClassClient, http.StatusBadRequest
			}
			msg := t.Output.Message
			if msg == "" {
				msg = "the image task ended " + t.Output.TaskStatus
			}
			return nil, adaptor.Usage{}, convert.Error(status, nil, "ali_task_error", t.Output.Code, msg, class, c.ch.Key)
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, adaptor.Usage{}, &adaptor.UpstreamError{Status: http.StatusGatewayTimeout, Message: "the image task did not finish in time",
				Type: "upstream_error", Code: "timeout", Class: adaptor.ClassRetry}
		}
		select {
		case <-ctx.Done():
			return nil, adaptor.Usage{}, adaptor.TransportError(ctx.Err())
		case <-time.After(wait):
		}
		wait = a.poll.every
		if body, err = getTask(ctx, client, taskURL, c.ch.Key); err != nil {
			return nil, adaptor.Usage{}, err
		}
		t = task{}
		if err := json.Unmarshal(body, &t); err != nil {
			return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
		}
	}
}

func getTask(ctx context.Context, client outbound.Doer, u, key string) ([]byte, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build task request: %w", err)
	}
	r.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(r)
	if err != nil {
		return nil, adaptor.TransportError(err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Request = r
		return nil, decodeError(resp, key)
	}
	return convert.ReadReply(resp)
}

func imagesOf(t *task, body []byte) ([]byte, adaptor.Usage, error) {
	var images []convert.Image
	for _, r := range t.Output.Results {
		if r.URL != "" {
			images = append(images, convert.Image{URL: r.URL})
		}
	}
	if len(images) == 0 {
		return nil, adaptor.Usage{}, convert.BadReply("DashScope", body)
	}
	out, err := convert.Images(images)
	return out, adaptor.Usage{}, err
}
