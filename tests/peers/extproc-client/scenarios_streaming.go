package main

// Streamed responses (SSE), a stream reset mid-response, and trailers.

import "bytes"

// sseRequest is a streamed chat request, in three body chunks.
func (e *env) sseRequest() httpRequest {
	body := chatBody(e.opts.model, "Tell me a very short story.", true)
	return httpRequest{body: body, chunks: varyingChunks(body, 3, 5)}
}

// sseChunks is the model server's answer in 5 chunks; the last carries the
// usage event and [DONE].
func (e *env) sseChunks() [][]byte {
	m := e.upstreamModel()
	return [][]byte{
		sseEvent(m, 0, "Once", false),
		bytes.Join([][]byte{sseEvent(m, 1, " upon", false), sseEvent(m, 2, " a time", false)}, nil),
		sseEvent(m, 3, ", a gateway", false),
		sseEvent(m, 4, " routed well.", true),
		append(sseUsageEvent(m, 14, 5), []byte("data: [DONE]\n\n")...),
	}
}

// requestPath opens a stream and plays a request whose replies must pass.
func (e *env) requestPath(req httpRequest) (*exchange, error) {
	x, err := e.open(fdsOpts())
	if err != nil {
		return nil, err
	}
	last, err := sendRequest(x, req, false)
	if err == nil {
		_, err = expectRequestReplies(x, req, last, e.opts.endpoints, e.upstreamModel())
	}
	if err != nil {
		x.cancel()
		return nil, err
	}
	return x, nil
}

func runSSE(e *env) error {
	x, err := e.requestPath(e.sseRequest())
	if err != nil {
		return err
	}
	defer x.cancel()
	return playSSEResponse(x, e.sseChunks(), e.upstreamModel(), e.opts.model, 0)
}

// runCancel resets the stream after two answered SSE chunks, as Envoy does
// when the client goes away; the picker's counters are checked by the caller.
func runCancel(e *env) error {
	x, err := e.requestPath(e.sseRequest())
	if err != nil {
		return err
	}
	defer x.cancel()
	if err := playSSEResponse(x, e.sseChunks(), e.upstreamModel(), e.opts.model, 2); err != nil {
		return err
	}
	x.abort()
	return nil
}

func runTrailers(e *env) error {
	body := chatBody(e.opts.model, promptText(3000), false)
	x, err := e.requestPath(httpRequest{body: body, chunks: varyingChunks(body, 5, 3), trailers: true})
	if err != nil {
		return err
	}
	defer x.cancel()
	return playJSONResponse(x, e.jsonResponse(true), e.opts.model)
}
