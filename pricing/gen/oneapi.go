package main

// One API's fallback: One API (v0.6.x) ships ratios for ~565 models, and
// operators moving from it expect each of them to stay priced. LiteLLM's
// price, where it has the name (after the rules of names.go), is newer and
// wins; the other names keep One API's own default ratio, with One API's
// completion ratio for them (its table where it has one, else its built-in
// rules by name, oneAPICompletion below).
//
// The ratios are read from the options of a fresh One API database, as
// recorded in /work/shared/oneapi's ground-truth file: options.ModelRatio
// and options.CompletionRatio, less the entries the file's provisioning added
// itself (custom_model_ratio, custom_completion_ratio). Invalid entries (One
// API's "openrouter/auto": -500000) are left out.

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
)

type oneAPIRatio struct {
	ratio         float64
	completion    float64
	hasCompletion bool
}

type ratioRow struct {
	name              string
	ratio, completion float64
}

func parseOneAPI(data []byte) (map[string]oneAPIRatio, error) {
	var f struct {
		Options struct {
			ModelRatio      string
			CompletionRatio string
		} `json:"options"`
		CustomModelRatio      map[string]float64 `json:"custom_model_ratio"`
		CustomCompletionRatio map[string]float64 `json:"custom_completion_ratio"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	var model, completion map[string]float64
	if err := json.Unmarshal([]byte(f.Options.ModelRatio), &model); err != nil {
		return nil, errors.New("options.ModelRatio: " + err.Error())
	}
	if err := json.Unmarshal([]byte(f.Options.CompletionRatio), &completion); err != nil {
		return nil, errors.New("options.CompletionRatio: " + err.Error())
	}
	if len(model) < 500 {
		return nil, errors.New("options.ModelRatio has too few entries to be One API's defaults")
	}
	out := make(map[string]oneAPIRatio, len(model))
	for name, r := range model {
		if _, custom := f.CustomModelRatio[name]; custom || !(r >= 0) || math.IsInf(r, 0) {
			continue
		}
		o := oneAPIRatio{ratio: r * oneAPIScale(name)}
		if c, ok := completion[name]; ok && c >= 0 {
			if _, custom := f.CustomCompletionRatio[name]; !custom {
				o.completion, o.hasCompletion = c, true
			}
		}
		out[name] = o
	}
	return out, nil
}

// oneAPIFallback lists One API's ratios for the names LiteLLM did not price.
func oneAPIFallback(ratios map[string]oneAPIRatio, chosen []choice) []ratioRow {
	priced := make(map[string]bool, len(chosen))
	for _, c := range chosen {
		priced[c.name] = true
	}
	var rows []ratioRow
	for _, name := range sortedKeys(ratios) {
		if priced[name] {
			continue
		}
		r := ratios[name]
		c := r.completion
		if !r.hasCompletion {
			c = oneAPICompletion(name)
		}
		rows = append(rows, ratioRow{name: name, ratio: round10(r.ratio), completion: round10(c)})
	}
	return rows
}

// oneAPIScale corrects unit slips in One API's table, found by comparing
// with the providers' list prices: its Groq and StepFun sections divide
// USD (RMB) per 1M tokens by 1e6 where its ratio unit needs 1e3, pricing
// those models 1000 times too low (llama3-70b-8192 at 0.000295 instead of
// Groq's $0.59/1M = 0.295), and its Replicate chat models multiply USD per
// 1M tokens by 500 as if it were per 1K, 1000 times too high
// (meta/meta-llama-3.1-405b-instruct at 4750 instead of $9.50/1M = 4.75).
func oneAPIScale(name string) float64 {
	switch {
	case strings.HasPrefix(name, "step-"), groqNames[name]:
		return 1000
	case strings.HasPrefix(name, "ibm-granite/"), strings.HasPrefix(name, "meta/"),
		name == "mistralai/mistral-7b-instruct-v0.2", name == "mistralai/mistral-7b-v0.1",
		name == "mistralai/mixtral-8x7b-instruct-v0.1":
		return 1.0 / 1000
	}
	return 1
}

// groqNames is One API's Groq section.
var groqNames = map[string]bool{
	"gemma-7b-it": true, "gemma2-9b-it": true, "llama-3.1-70b-versatile": true, "llama-3.1-8b-instant": true,
	"llama-3.2-11b-text-preview": true, "llama-3.2-11b-vision-preview": true, "llama-3.2-1b-preview": true,
	"llama-3.2-3b-preview": true, "llama-3.2-90b-text-preview": true, "llama-guard-3-8b": true,
	"llama3-70b-8192": true, "llama3-8b-8192": true, "llama3-groq-70b-8192-tool-use-preview": true,
	"llama3-groq-8b-8192-tool-use-preview": true, "mixtral-8x7b-32768": true,
}

// oneAPICompletion is One API's completion ratio for a name its
// CompletionRatio table does not list (One API decides by name prefix in
// relay/billing/ratio's GetCompletionRatio); 1 = output priced as input.
func oneAPICompletion(name string) float64 {
	has := func(p string) bool { return strings.HasPrefix(name, p) }
	switch {
	case has("gpt-3.5"):
		switch {
		case name == "gpt-3.5-turbo", strings.HasSuffix(name, "0125"):
			return 3
		case strings.HasSuffix(name, "1106"):
			return 2
		}
		return 4.0 / 3
	case has("gpt-4o"):
		if name == "gpt-4o-2024-05-13" {
			return 3
		}
		return 4
	case has("gpt-4"):
		if has("gpt-4-turbo") || strings.HasSuffix(name, "preview") {
			return 3
		}
		return 2
	case has("o1"):
		return 4
	case name == "chatgpt-4o-latest":
		return 3
	case has("claude-3"):
		return 5
	case has("claude-"), has("mistral-"), has("gemini-"):
		return 3
	case has("deepseek-"):
		return 2
	}
	if c, ok := oneAPICompletionByName[name]; ok {
		return c
	}
	return 1
}

var oneAPICompletionByName = map[string]float64{
	"llama2-70b-4096": 0.8 / 0.64, "llama3-8b-8192": 2, "llama3-70b-8192": 0.79 / 0.59,
	"command": 2, "command-light": 2, "command-nightly": 2, "command-light-nightly": 2,
	"command-r": 3, "command-r-plus": 5, "grok-beta": 3,
	// Replicate's list prices, output ÷ input.
	"ibm-granite/granite-20b-code-instruct-8k": 5, "ibm-granite/granite-3.0-2b-instruct": 0.25 / 0.03,
	"ibm-granite/granite-3.0-8b-instruct": 5, "ibm-granite/granite-8b-code-instruct-128k": 5,
	"meta/llama-2-13b": 5, "meta/llama-2-13b-chat": 5, "meta/llama-2-7b": 5, "meta/llama-2-7b-chat": 5,
	"meta/meta-llama-3-8b": 5, "meta/meta-llama-3-8b-instruct": 5,
	"meta/llama-2-70b": 2.75 / 0.65, "meta/llama-2-70b-chat": 2.75 / 0.65,
	"meta/meta-llama-3-70b": 2.75 / 0.65, "meta/meta-llama-3-70b-instruct": 2.75 / 0.65,
	"mistralai/mistral-7b-instruct-v0.2": 5, "mistralai/mistral-7b-v0.1": 5,
	"mistralai/mixtral-8x7b-instruct-v0.1": 1 / 0.3,
}
