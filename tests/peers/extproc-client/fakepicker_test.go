package main

// A small picker written from docs/extproc.md, used only to test this client: every
// scenario must pass against it, and each named bug must make one fail.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	procmodev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

type fakePicker struct {
	extprocv3.UnimplementedExternalProcessorServer
	endpoints []string
	rewrite   map[string]string // client model → model-server model
	maxBody   int
	capacity  int    // requests in flight before a "sheddable" request is shed
	bug       string // a named deviation from the spec, for negative tests

	mu       sync.Mutex
	inflight int
	next     int
}

// fakeStream is one request's state.
type fakeStream struct {
	f          *fakePicker
	s          extprocv3.ExternalProcessor_ProcessServer
	reqMode    procmodev3.ProcessingMode_BodySendMode
	headers    map[string]string
	hint       []string
	hasHint    bool
	body       []byte
	model      string // the client's model name
	target     string
	sse        bool
	counted    bool
	respBuffer []byte
}

func (f *fakePicker) Process(s extprocv3.ExternalProcessor_ProcessServer) error {
	st := &fakeStream{f: f, s: s}
	defer st.release()
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if pc := req.ProtocolConfig; pc != nil {
			st.reqMode = pc.RequestBodyMode
		}
		done, err := st.handle(req)
		if err != nil || done {
			return err
		}
	}
}

func (st *fakeStream) release() {
	if st.counted {
		st.f.mu.Lock()
		st.f.inflight--
		st.f.mu.Unlock()
	}
}

func (st *fakeStream) handle(req *extprocv3.ProcessingRequest) (bool, error) {
	buffered := st.reqMode == procmodev3.ProcessingMode_BUFFERED
	switch r := req.Request.(type) {
	case *extprocv3.ProcessingRequest_RequestHeaders:
		st.headers = map[string]string{}
		for _, h := range r.RequestHeaders.GetHeaders().GetHeaders() {
			st.headers[h.Key] = string(h.RawValue)
		}
		if hint, ok := req.GetMetadataContext().GetFilterMetadata()[subsetHintNamespace]; ok {
			st.hasHint = true
			for _, v := range hint.Fields[subsetHintKey].GetListValue().GetValues() {
				st.hint = append(st.hint, v.GetStringValue())
			}
		}
		if r.RequestHeaders.EndOfStream {
			return st.schedule(false)
		}
		if buffered || st.f.bug == "early-headers" {
			return false, st.send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestHeaders{
				RequestHeaders: &extprocv3.HeadersResponse{}}})
		}
	case *extprocv3.ProcessingRequest_RequestBody:
		st.body = append(st.body, r.RequestBody.Body...)
		if len(st.body) > st.f.maxBody {
			return true, st.reject(typev3.StatusCode_PayloadTooLarge, "request body too large")
		}
		if r.RequestBody.EndOfStream {
			return st.schedule(false)
		}
	case *extprocv3.ProcessingRequest_RequestTrailers:
		return st.schedule(true)
	case *extprocv3.ProcessingRequest_ResponseHeaders:
		for _, h := range r.ResponseHeaders.GetHeaders().GetHeaders() {
			st.sse = st.sse || h.Key == "content-type" && strings.Contains(string(h.RawValue), "text/event-stream")
		}
		return false, st.send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
			ResponseHeaders: &extprocv3.HeadersResponse{Response: &extprocv3.CommonResponse{HeaderMutation: setHeaders(
				header{"x-went-into-resp-headers", "true"})}}}})
	case *extprocv3.ProcessingRequest_ResponseBody:
		return false, st.responseBody(r.ResponseBody, buffered)
	case *extprocv3.ProcessingRequest_ResponseTrailers:
		if err := st.streamBody(st.backToClient(st.respBuffer), false, false); err != nil {
			return false, err
		}
		return false, st.send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
			ResponseTrailers: &extprocv3.TrailersResponse{}}})
	}
	return false, nil
}

// schedule picks an endpoint once the whole request is in and sends the
// request path's replies.
func (st *fakeStream) schedule(trailers bool) (bool, error) {
	f := st.f
	candidates := f.endpoints
	if st.hasHint {
		candidates = nil
		for _, ep := range f.endpoints {
			for _, h := range st.hint {
				if ep[:strings.LastIndex(ep, ":")] == h[:strings.LastIndex(h, ":")] {
					candidates = append(candidates, ep)
				}
			}
		}
	}
	if len(candidates) == 0 {
		return true, st.reject(typev3.StatusCode_ServiceUnavailable, "failed to find endpoint candidates for serving the request")
	}
	f.mu.Lock()
	if st.headers["x-gateway-inference-objective"] == "sheddable" && f.inflight >= f.capacity {
		f.mu.Unlock()
		return true, st.reject(typev3.StatusCode_TooManyRequests, "system saturated, sheddable request dropped")
	}
	f.inflight++
	st.counted = true
	dest := candidates[f.next%len(candidates)]
	f.next++
	f.mu.Unlock()

	body := st.body
	if len(body) > 0 {
		body = st.rewriteRequest(body)
	}
	hm := setHeaders(header{destinationHeader, dest})
	if len(body) > 0 {
		hm.SetHeaders = append(hm.SetHeaders, setHeaders(header{"content-length", strconv.Itoa(len(body))}).SetHeaders...)
	}
	if f.bug == "value-not-raw" {
		hm.SetHeaders[0].Header.Value, hm.SetHeaders[0].Header.RawValue = dest, nil
	}
	if f.bug == "wrong-content-length" && len(body) > 0 {
		hm.SetHeaders[1].Header.RawValue = []byte(strconv.Itoa(len(st.body) + 1))
	}
	meta, _ := structpb.NewStruct(map[string]any{lbNamespace: map[string]any{destinationHeader: dest}})
	if f.bug == "no-metadata" {
		meta = nil
	}
	common := &extprocv3.CommonResponse{HeaderMutation: hm, ClearRouteCache: true}
	if st.reqMode == procmodev3.ProcessingMode_BUFFERED {
		common.BodyMutation = &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}}
		return false, st.send(&extprocv3.ProcessingResponse{DynamicMetadata: meta,
			Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{Response: common}}})
	}
	if f.bug != "early-headers" {
		if err := st.send(&extprocv3.ProcessingResponse{DynamicMetadata: meta,
			Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{Response: common}}}); err != nil {
			return false, err
		}
	}
	if st.body == nil && !trailers {
		return false, nil // headers only
	}
	if err := st.streamBody(body, true, !trailers); err != nil {
		return false, err
	}
	if trailers {
		return false, st.send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
			RequestTrailers: &extprocv3.TrailersResponse{}}})
	}
	return false, nil
}

func (st *fakeStream) rewriteRequest(body []byte) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	st.model, _ = m["model"].(string)
	st.target = st.f.rewrite[st.model]
	if st.target == "" {
		return body
	}
	m["model"] = st.target
	out, _ := json.Marshal(m)
	return out
}

func (st *fakeStream) backToClient(body []byte) []byte {
	if st.target == "" || st.f.bug == "no-rewrite-back" {
		return body
	}
	if st.sse {
		return bytes.ReplaceAll(body, []byte(`"model":"`+st.target+`"`), []byte(`"model":"`+st.model+`"`))
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil || m["model"] != st.target {
		return body
	}
	m["model"] = st.model
	out, _ := json.Marshal(m)
	return out
}

func (st *fakeStream) responseBody(b *extprocv3.HttpBody, buffered bool) error {
	switch {
	case buffered:
		body := st.backToClient(b.Body)
		hm := setHeaders(header{"content-length", strconv.Itoa(len(body))})
		if st.f.bug == "buffered-stale-length" {
			hm = nil
		}
		return st.send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{
			ResponseBody: &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{HeaderMutation: hm,
				BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: body}}}}}})
	case st.sse && st.f.bug != "sse-buffer", st.f.bug == "json-unbuffered":
		return st.streamBody(st.backToClient(b.Body), false, b.EndOfStream)
	}
	st.respBuffer = append(st.respBuffer, b.Body...)
	if b.EndOfStream {
		return st.streamBody(st.backToClient(st.respBuffer), false, true)
	}
	return nil
}

// streamBody sends body as streamed_response chunks of at most the limit.
func (st *fakeStream) streamBody(body []byte, request bool, eos bool) error {
	limit := bodyByteLimit
	if st.f.bug == "big-chunk" {
		limit = 64 * 1024
	}
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), limit)
		sr := &extprocv3.StreamedBodyResponse{Body: body[:n], EndOfStream: eos && n == len(body)}
		br := &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{
			Mutation: &extprocv3.BodyMutation_StreamedResponse{StreamedResponse: sr}}}}
		resp := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: br}}
		if request {
			resp.Response = &extprocv3.ProcessingResponse_RequestBody{RequestBody: br}
		}
		if err := st.send(resp); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

func (st *fakeStream) reject(code typev3.StatusCode, msg string) error {
	body := fmt.Sprintf(`{"error":{"message":%q,"type":"invalid_request_error","code":%d}}`, msg, code)
	return st.send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
		ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: code}, Body: []byte(body)}}})
}

func (st *fakeStream) send(r *extprocv3.ProcessingResponse) error { return st.s.Send(r) }

func setHeaders(hs ...header) *extprocv3.HeaderMutation {
	m := &extprocv3.HeaderMutation{}
	for _, h := range hs {
		m.SetHeaders = append(m.SetHeaders, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.key, RawValue: []byte(h.value)}})
	}
	return m
}
