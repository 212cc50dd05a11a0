package main

import "strings"

// The messages:N scenarios: (a) and (b) are the chat scenario's non-stream
// calls, directly and through the bare proxy; (c) is the same question
// asked in Anthropic's Messages API at the gateway's /v1/messages, which
// converts it to chat for the OpenAI-type mock channel and the reply back,
// billed from the mock's usage: the expected quota per request is chat's.

// messagesBody is the gateway's request in the messages scenarios.
func messagesBody() []byte {
	return []byte(`{"model":"` + benchModel + `","max_tokens":64,"messages":[{"role":"user","content":"Say hello in one short sentence."}]}`)
}

// messagesTargets points (c) at /v1/messages.
func messagesTargets(targets []*target) []*target {
	out := make([]*target, 0, len(targets))
	for _, t := range targets {
		cp := *t
		if t.name == "c" {
			cp.url = strings.TrimSuffix(t.url, "/v1/chat/completions") + "/v1/messages"
			cp.body = messagesBody()
		}
		out = append(out, &cp)
	}
	return out
}
