package main

// Plain FULL_DUPLEX_STREAMED requests: no body, a chunked body, a large body,
// and a body whose model is rewritten.

func runHeadersOnly(e *env) error {
	x, err := e.open(fdsOpts())
	if err != nil {
		return err
	}
	defer x.cancel()
	req := httpRequest{}
	last, err := sendRequest(x, req, false)
	if err != nil {
		return err
	}
	if _, err := expectRequestReplies(x, req, last, e.opts.endpoints, e.upstreamModel()); err != nil {
		return err
	}
	// The next reply must answer response_headers: any body reply here fails.
	resp := httpResponse{contentType: "application/json", body: []byte(`{"object":"list","data":[]}`)}
	return playJSONResponse(x, resp, e.opts.model)
}

func runChunked(e *env) error {
	body := chatBody(e.opts.model, promptText(20000), false)
	return e.roundTrip(fdsOpts(), httpRequest{body: body, chunks: varyingChunks(body, 37, 1)})
}

func runLarge(e *env) error {
	body := chatBody(e.opts.model, promptText(1536*1024), false)
	return e.roundTrip(fdsOpts(), httpRequest{body: body, chunks: fixedChunks(len(body), 64*1024)})
}

func runRewrite(e *env) error { // --target-model is required by parseFlags
	body := chatBody(e.opts.model, promptText(20000), false)
	return e.roundTrip(fdsOpts(), httpRequest{body: body, chunks: varyingChunks(body, 37, 2)})
}

// roundTrip plays one whole request: the request path, then a JSON response
// with usage in three chunks, then the end of the stream.
func (e *env) roundTrip(o streamOpts, req httpRequest) error {
	_, err := e.roundTripTo(o, req)
	return err
}

func (e *env) roundTripTo(o streamOpts, req httpRequest) (string, error) {
	x, err := e.open(o)
	if err != nil {
		return "", err
	}
	defer x.cancel()
	last, err := sendRequest(x, req, false)
	if err != nil {
		return "", err
	}
	dest, err := expectRequestReplies(x, req, last, e.opts.endpoints, e.upstreamModel())
	if err != nil {
		return "", err
	}
	return dest, playJSONResponse(x, e.jsonResponse(false), e.opts.model)
}

// jsonResponse is what the model server answers, naming the model it serves.
func (e *env) jsonResponse(trailers bool) httpResponse {
	body := chatCompletion(e.upstreamModel(), "Hello! How can I help you today?")
	return httpResponse{contentType: "application/json", body: body, chunks: varyingChunks(body, 3, 7), trailers: trailers}
}
