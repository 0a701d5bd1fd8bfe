package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

type header struct{ key, value string }

// headerMap writes every value in raw_value, as Envoy does.
func headerMap(hs []header) *corev3.HeaderMap {
	m := &corev3.HeaderMap{}
	for _, h := range hs {
		m.Headers = append(m.Headers, &corev3.HeaderValue{Key: h.key, RawValue: []byte(h.value)})
	}
	return m
}

func requestHeadersMsg(hs []header, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestHeaders{
		RequestHeaders: &extprocv3.HttpHeaders{Headers: headerMap(hs), EndOfStream: eos}}}
}

func responseHeadersMsg(hs []header, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseHeaders{
		ResponseHeaders: &extprocv3.HttpHeaders{Headers: headerMap(hs), EndOfStream: eos}}}
}

func requestBodyMsg(chunk []byte, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestBody{
		RequestBody: &extprocv3.HttpBody{Body: chunk, EndOfStream: eos}}}
}

func responseBodyMsg(chunk []byte, eos bool) *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseBody{
		ResponseBody: &extprocv3.HttpBody{Body: chunk, EndOfStream: eos}}}
}

func requestTrailersMsg() *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_RequestTrailers{
		RequestTrailers: &extprocv3.HttpTrailers{Trailers: &corev3.HeaderMap{}}}}
}

func responseTrailersMsg() *extprocv3.ProcessingRequest {
	return &extprocv3.ProcessingRequest{Request: &extprocv3.ProcessingRequest_ResponseTrailers{
		ResponseTrailers: &extprocv3.HttpTrailers{Trailers: &corev3.HeaderMap{}}}}
}

// chatRequest is the request body, fields in the order clients write them.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func chatBody(model, content string, stream bool) []byte {
	req := chatRequest{Model: model, Messages: []chatMessage{{Role: "user", Content: content}}, Stream: stream}
	if stream {
		req.StreamOptions = &struct {
			IncludeUsage bool `json:"include_usage"`
		}{IncludeUsage: true}
	}
	b, err := json.Marshal(req)
	if err != nil {
		panic(err) // a struct of strings always marshals
	}
	return b
}

// promptWords mixes multi-byte UTF-8, quotes, backslashes and characters Go
// escapes (<, >, &) so that a picker rewriting the body must really parse it.
var promptWords = []string{
	"the", "scheduler", "naïve", "“quoted”", "back\\slash", "<tag>", "a&b", "模型", "tab\there",
	"line\nbreak", "\"model\":\"decoy\"", "prefix", "cache", "endpoint", "🚀", "tokens",
}

// promptText returns deterministic text of about n bytes.
func promptText(n int) string {
	var sb strings.Builder
	for i := 0; sb.Len() < n; i++ {
		sb.WriteString(promptWords[(i*7+i/16)%len(promptWords)])
		sb.WriteByte(' ')
	}
	return sb.String()
}

// asciiBodyOfSize returns a chat body of exactly size bytes (at least the
// size of the empty body).
func asciiBodyOfSize(model string, size int) []byte {
	overhead := len(chatBody(model, "", false))
	n := max(size-overhead, 0)
	content := strings.Repeat("lorem ipsum dolor sit amet ", n/27+1)[:n]
	return chatBody(model, content, false)
}

// fixedChunks cuts n bytes into chunks of size bytes (the last may be shorter).
func fixedChunks(n, size int) []int {
	var out []int
	for n > 0 {
		c := min(n, size)
		out = append(out, c)
		n -= c
	}
	return out
}

// varyingChunks cuts body into parts chunks of pseudo-random sizes, always
// cutting inside the "model" key and inside its value so a picker that
// rewrites the model must join chunks first.
func varyingChunks(body []byte, parts int, seed uint64) []int {
	cuts := map[int]bool{}
	if i := bytes.Index(body, []byte(`"model"`)); i >= 0 {
		cuts[i+3] = true
		cuts[i+len(`"model":"`)+1] = true
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for len(cuts) < parts-1 && len(cuts) < len(body)-1 {
		// Square the draw so small chunks (a few bytes) are common.
		f := rng.Float64()
		cuts[1+int(f*f*float64(len(body)-1))%(len(body)-1)] = true
	}
	points := make([]int, 0, len(cuts)+1)
	for c := range cuts {
		if c > 0 && c < len(body) {
			points = append(points, c)
		}
	}
	slices.Sort(points)
	sizes := make([]int, 0, len(points)+1)
	prev := 0
	for _, p := range append(points, len(body)) {
		sizes = append(sizes, p-prev)
		prev = p
	}
	return sizes
}

// sseEvent formats one OpenAI chat.completion.chunk event.
func sseEvent(model string, index int, delta string, finish bool) []byte {
	choice := map[string]any{"index": 0, "delta": map[string]any{"content": delta}, "finish_reason": nil}
	if finish {
		choice["finish_reason"] = "stop"
	}
	ev := map[string]any{
		"id": "chatcmpl-extproc", "object": "chat.completion.chunk", "created": 1700000000 + index,
		"model": model, "choices": []any{choice},
	}
	return dataLine(ev)
}

func sseUsageEvent(model string, prompt, completion int) []byte {
	ev := map[string]any{
		"id": "chatcmpl-extproc", "object": "chat.completion.chunk", "created": 1700000100,
		"model": model, "choices": []any{},
		"usage": map[string]any{"prompt_tokens": prompt, "completion_tokens": completion,
			"total_tokens": prompt + completion},
	}
	return dataLine(ev)
}

func dataLine(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return append(append([]byte("data: "), b...), '\n', '\n')
}

// chatCompletion is a non-streamed response body with usage.
func chatCompletion(model string, text string) []byte {
	b, err := json.Marshal(map[string]any{
		"id": "chatcmpl-extproc", "object": "chat.completion", "created": 1700000000, "model": model,
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": text}}},
		"usage": map[string]any{"prompt_tokens": 17, "completion_tokens": 9, "total_tokens": 26},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func describeRequest(req *extprocv3.ProcessingRequest) string {
	switch r := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		return fmt.Sprintf("request_headers(eos=%t)", r.RequestHeaders.EndOfStream)
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		return fmt.Sprintf("response_headers(eos=%t)", r.ResponseHeaders.EndOfStream)
	case *extprocv3.ProcessingRequest_RequestBody:
		return fmt.Sprintf("request_body(%d bytes, eos=%t)", len(r.RequestBody.Body), r.RequestBody.EndOfStream)
	case *extprocv3.ProcessingRequest_ResponseBody:
		return fmt.Sprintf("response_body(%d bytes, eos=%t)", len(r.ResponseBody.Body), r.ResponseBody.EndOfStream)
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return "request_trailers"
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		return "response_trailers"
	}
	return "empty ProcessingRequest"
}

// describeResponse names a reply precisely enough for a failure message.
func describeResponse(resp *extprocv3.ProcessingResponse) string {
	if resp == nil {
		return "nil"
	}
	switch r := resp.Response.(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		return "request_headers reply"
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		return "response_headers reply"
	case *extprocv3.ProcessingResponse_RequestBody:
		return "request_body reply" + describeBodyMutation(r.RequestBody.GetResponse().GetBodyMutation())
	case *extprocv3.ProcessingResponse_ResponseBody:
		return "response_body reply" + describeBodyMutation(r.ResponseBody.GetResponse().GetBodyMutation())
	case *extprocv3.ProcessingResponse_RequestTrailers:
		return "request_trailers reply"
	case *extprocv3.ProcessingResponse_ResponseTrailers:
		return "response_trailers reply"
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		ir := r.ImmediateResponse
		return fmt.Sprintf("immediate_response(%d, body %q)", ir.GetStatus().GetCode(), clip(ir.Body, 200))
	case *extprocv3.ProcessingResponse_StreamedImmediateResponse:
		return "streamed_immediate_response"
	}
	return "ProcessingResponse with no response set"
}

func describeBodyMutation(m *extprocv3.BodyMutation) string {
	switch b := m.GetMutation().(type) {
	case *extprocv3.BodyMutation_StreamedResponse:
		return fmt.Sprintf("(streamed %d bytes, eos=%t)", len(b.StreamedResponse.Body), b.StreamedResponse.EndOfStream)
	case *extprocv3.BodyMutation_Body:
		return fmt.Sprintf("(body %d bytes)", len(b.Body))
	case *extprocv3.BodyMutation_ClearBody:
		return "(clear_body)"
	}
	return "(no body mutation)"
}

func clip(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + fmt.Sprintf("…(%d bytes)", len(b))
}
