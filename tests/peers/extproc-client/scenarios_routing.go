package main

// Routing limits and rejections: the subset hint, shedding under load, and a
// body over the size limit. A rejection is an ImmediateResponse with an
// OpenAI-style error body, after which the picker ends the stream with OK.

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// subsetHint is the metadata_context Envoy forwards from the
// envoy.lb.subset_hint namespace.
func subsetHint(addrs []string) *corev3.Metadata {
	list := make([]*structpb.Value, 0, len(addrs))
	for _, a := range addrs {
		list = append(list, structpb.NewStringValue(a))
	}
	hint := &structpb.Struct{Fields: map[string]*structpb.Value{
		subsetHintKey: structpb.NewListValue(&structpb.ListValue{Values: list}),
	}}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{subsetHintNamespace: hint}}
}

func runSubset(e *env) error {
	only := e.opts.endpoints[len(e.opts.endpoints)-1]
	body := chatBody(e.opts.model, "Which endpoint am I on?", false)
	for i := range 5 {
		o := fdsOpts()
		o.metadata = subsetHint([]string{only})
		dest, err := e.roundTripTo(o, httpRequest{body: body, chunks: varyingChunks(body, 4, uint64(10+i))})
		if err != nil {
			return err
		}
		if dest != only {
			return fmt.Errorf("stream %d: the subset hint allowed only %q, the picker chose %q", i+1, only, dest)
		}
	}
	return nil
}

func runSubsetEmpty(e *env) error {
	o := fdsOpts()
	o.metadata = subsetHint(nil)
	body := chatBody(e.opts.model, "No endpoint may serve this.", false)
	return e.expectRejected(o, httpRequest{body: body}, typev3.StatusCode_ServiceUnavailable)
}

// runShed holds --hold requests in flight (request path answered, response
// path not yet played), then expects a request of --objective to be shed.
func runShed(e *env) error {
	body := chatBody(e.opts.model, "Hold this request open.", false)
	var held []*exchange
	defer func() {
		for _, x := range held {
			x.cancel()
		}
	}()
	for range e.opts.hold {
		x, err := e.open(fdsOpts())
		if err != nil {
			return err
		}
		held = append(held, x)
		req := httpRequest{body: body}
		last, err := sendRequest(x, req, false)
		if err != nil {
			return err
		}
		if _, err := expectRequestReplies(x, req, last, e.opts.endpoints, e.upstreamModel()); err != nil {
			return fmt.Errorf("held request %d of %d: %w", len(held), e.opts.hold, err)
		}
	}
	shed := httpRequest{body: chatBody(e.opts.model, "Shed me.", false), extra: []header{
		{"x-gateway-inference-objective", e.opts.objective},
		{"x-llm-d-inference-objective", e.opts.objective},
	}}
	if err := e.expectRejected(fdsOpts(), shed, typev3.StatusCode_TooManyRequests); err != nil {
		return fmt.Errorf("with %d requests held: %w", e.opts.hold, err)
	}
	for _, x := range held {
		if err := playJSONResponse(x, e.jsonResponse(false), e.opts.model); err != nil {
			return fmt.Errorf("finishing a held request: %w", err)
		}
	}
	return nil
}

func runOversized(e *env) error {
	body := asciiBodyOfSize(e.opts.model, e.opts.size)
	req := httpRequest{body: body, chunks: fixedChunks(len(body), 64*1024)}
	return e.expectRejected(fdsOpts(), req, typev3.StatusCode_PayloadTooLarge)
}

// expectRejected sends the request, stopping early if a reply comes, and
// expects an ImmediateResponse with code, then the end of the stream. Send
// errors are tolerated: the picker may end the stream while the body is
// still being sent.
func (e *env) expectRejected(o streamOpts, req httpRequest, code typev3.StatusCode) error {
	x, err := e.open(o)
	if err != nil {
		return err
	}
	defer x.cancel()
	_, sendErr := sendRequest(x, req, true)
	rep, err := x.next(fmt.Sprintf("immediate_response %d", code))
	if err != nil {
		if sendErr != nil {
			return fmt.Errorf("%w (sending had failed first: %v)", err, sendErr)
		}
		return err
	}
	if err := checkImmediate(x.label, rep.msg, code); err != nil {
		return err
	}
	return x.finish()
}
