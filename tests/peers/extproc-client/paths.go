package main

// The FULL_DUPLEX_STREAMED sequences of docs/extproc.md, as Envoy plays them:
// it sends headers, body and trailers without waiting for any reply, and
// expects the replies in the order headers → body chunks → trailers.

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

// earlyReplyWindow is how long the client waits before a direction's last
// message for a reply that would come too early (see exchange.observe).
const earlyReplyWindow = 50 * time.Millisecond

// httpRequest is one HTTP request as Envoy hands it to the picker.
type httpRequest struct {
	extra    []header // headers beyond the pseudo-headers and content-type
	body     []byte   // nil: no body, end_of_stream on the headers
	chunks   []int    // sizes of the request_body messages; nil: one message
	trailers bool     // end the body with eos=false, then send request_trailers
}

// httpResponse is one upstream response as Envoy hands it to the picker.
type httpResponse struct {
	contentType string
	body        []byte
	chunks      []int
	trailers    bool
}

func (r httpRequest) headers(requestID string) []header {
	hs := []header{
		{":method", "POST"}, {":path", "/v1/chat/completions"}, {":authority", "localhost:8081"},
		{":scheme", "http"}, {"content-type", "application/json"}, {"x-request-id", requestID},
	}
	if r.body != nil && !r.trailers {
		hs = append(hs, header{"content-length", strconv.Itoa(len(r.body))})
	}
	return append(hs, r.extra...)
}

func chunkSizes(body []byte, chunks []int) []int {
	if chunks == nil {
		return []int{len(body)}
	}
	return chunks
}

// sendRequest plays the request path and returns the position of its last
// message. With stopOnReply it stops early once any reply is queued (an
// ImmediateResponse may come before the body has all been sent).
func sendRequest(x *exchange, r httpRequest, stopOnReply bool) (int64, error) {
	last, err := x.send(requestHeadersMsg(r.headers(x.label), r.body == nil))
	if err != nil || r.body == nil {
		return last, err
	}
	off := 0
	sizes := chunkSizes(r.body, r.chunks)
	for i, n := range sizes {
		if stopOnReply && x.arrived() {
			return last, nil
		}
		eos := i == len(sizes)-1 && !r.trailers
		if eos && !stopOnReply {
			x.observe(earlyReplyWindow)
		}
		if last, err = x.send(requestBodyMsg(r.body[off:off+n], eos)); err != nil {
			return last, err
		}
		off += n
	}
	if r.trailers {
		if !stopOnReply {
			x.observe(earlyReplyWindow)
		}
		return x.send(requestTrailersMsg())
	}
	return last, nil
}

// premature fails a reply that left the picker before it could have seen
// the last message it depends on.
func premature(x *exchange, rep reply, last int64, what string) error {
	if rep.sendsStarted < last {
		return fmt.Errorf("%s: %s arrived when only %d of the %d messages it must wait for had been sent; "+
			"the picker must hold its replies until the body's end (end_of_stream or trailers)",
			x.label, what, rep.sendsStarted, last)
	}
	return nil
}

// expectRequestReplies checks the request path's replies and returns the
// picked endpoint. last is the position of the request's last message.
func expectRequestReplies(x *exchange, r httpRequest, last int64, endpoints []string, wantModel string) (string, error) {
	rep, err := x.next("request_headers reply")
	if err != nil {
		return "", err
	}
	hr := rep.msg.GetRequestHeaders()
	if hr == nil {
		return "", fmt.Errorf("%s: expected the request_headers reply first, got %s", x.label, describeResponse(rep.msg))
	}
	where := x.label + " request_headers reply"
	if err := premature(x, rep, last, "the request_headers reply"); err != nil {
		return "", err
	}
	if err := checkNoTimeoutOverride(where, rep.msg); err != nil {
		return "", err
	}
	if err := checkCommon(where, hr.Response); err != nil {
		return "", err
	}
	if hr.Response.BodyMutation != nil {
		return "", fmt.Errorf("%s: carries a body mutation; in FULL_DUPLEX_STREAMED the body goes in request_body replies", where)
	}
	dest, err := checkRouting(where, hr.Response, rep.msg.DynamicMetadata, endpoints)
	if err != nil {
		return "", err
	}
	if r.body == nil {
		return dest, checkContentLength(where, hr.Response.HeaderMutation, 0)
	}
	got, err := collectStreamedBody(x, last, r.trailers, len(r.body), true)
	if err != nil {
		return "", err
	}
	if err := checkJSONBody(x.label+" request body", got, r.body, wantModel); err != nil {
		return "", err
	}
	return dest, checkContentLength(where, hr.Response.HeaderMutation, len(got))
}

// collectStreamedBody reads body replies of one direction until the one with
// end_of_stream (or, with trailers, until the TrailersResponse that must
// follow chunks that all have end_of_stream=false).
func collectStreamedBody(x *exchange, last int64, trailers bool, sentLen int, request bool) ([]byte, error) {
	dir := map[bool]string{true: "request", false: "response"}[request]
	var body []byte
	for n := 1; ; n++ {
		what := fmt.Sprintf("%s_body reply %d", dir, n)
		rep, err := x.next(what)
		if err != nil {
			return nil, err
		}
		if err := premature(x, rep, last, "a "+dir+"_body reply"); err != nil {
			return nil, err
		}
		if trailers {
			if tr := trailersReply(rep, request); tr != nil {
				if err := checkHeaderMutation(x.label+" "+dir+"_trailers reply", tr.HeaderMutation); err != nil {
					return nil, err
				}
				return body, nil
			}
		}
		br := bodyReply(rep, request)
		if br == nil {
			expect := map[bool]string{true: " or the " + dir + "_trailers reply", false: ""}[trailers]
			return nil, fmt.Errorf("%s: after %d body bytes, expected a %s_body reply%s, got %s",
				x.label, len(body), dir, expect, describeResponse(rep.msg))
		}
		if err := checkNoTimeoutOverride(x.label+" "+what, rep.msg); err != nil {
			return nil, err
		}
		sr, err := streamedChunk(x.label+" "+what, br.Response)
		if err != nil {
			return nil, err
		}
		body = append(body, sr.Body...)
		if len(body) > 2*sentLen+4096 {
			return nil, fmt.Errorf("%s: the picker streamed back %d bytes for a %d-byte body without end_of_stream",
				x.label, len(body), sentLen)
		}
		if sr.EndOfStream {
			if trailers {
				return nil, fmt.Errorf("%s: %s has end_of_stream=true, but trailers follow the body: "+
					"every chunk must have end_of_stream=false and a %s_trailers reply must come last", x.label, what, dir)
			}
			return body, nil
		}
	}
}

func bodyReply(rep reply, request bool) *extprocv3.BodyResponse {
	if request {
		return rep.msg.GetRequestBody()
	}
	return rep.msg.GetResponseBody()
}

func trailersReply(rep reply, request bool) *extprocv3.TrailersResponse {
	if request {
		return rep.msg.GetRequestTrailers()
	}
	return rep.msg.GetResponseTrailers()
}

func sendResponseHeaders(x *exchange, r httpResponse) (int64, error) {
	hs := []header{{":status", "200"}, {"content-type", r.contentType}}
	if !r.trailers && r.contentType == "application/json" {
		hs = append(hs, header{"content-length", strconv.Itoa(len(r.body))})
	}
	return x.send(responseHeadersMsg(hs, false))
}

func expectResponseHeadersReply(x *exchange) error {
	rep, err := x.next("response_headers reply")
	if err != nil {
		return err
	}
	hr := rep.msg.GetResponseHeaders()
	if hr == nil {
		return fmt.Errorf("%s: expected the response_headers reply, got %s", x.label, describeResponse(rep.msg))
	}
	where := x.label + " response_headers reply"
	if err := checkNoTimeoutOverride(where, rep.msg); err != nil {
		return err
	}
	if err := checkCommon(where, hr.Response); err != nil {
		return err
	}
	if hr.Response.BodyMutation != nil {
		return fmt.Errorf("%s: carries a body mutation; in FULL_DUPLEX_STREAMED the body goes in response_body replies", where)
	}
	return nil
}

// playJSONResponse sends a non-streamed response and checks that the picker
// buffers it to the end, streams it back with "model" reading wantModel,
// then ends the stream with OK after the client half-closes.
func playJSONResponse(x *exchange, r httpResponse, wantModel string) error {
	last, err := sendResponseHeaders(x, r)
	if err != nil {
		return err
	}
	off := 0
	sizes := chunkSizes(r.body, r.chunks)
	for i, n := range sizes {
		eos := i == len(sizes)-1 && !r.trailers
		if eos {
			x.observe(earlyReplyWindow)
		}
		if last, err = x.send(responseBodyMsg(r.body[off:off+n], eos)); err != nil {
			return err
		}
		off += n
	}
	if r.trailers {
		x.observe(earlyReplyWindow)
		if last, err = x.send(responseTrailersMsg()); err != nil {
			return err
		}
	}
	if err := expectResponseHeadersReply(x); err != nil {
		return err
	}
	got, err := collectStreamedBody(x, last, r.trailers, len(r.body), false)
	if err != nil {
		return err
	}
	if err := checkJSONBody(x.label+" response body", got, r.body, wantModel); err != nil {
		return err
	}
	return x.finish()
}

// playSSEResponse sends events one chunk at a time; each must be answered
// before the next is sent, with "model":"<from>" turned into
// "model":"<to>". With stopAfter > 0 it returns after that many chunks,
// leaving the stream open.
func playSSEResponse(x *exchange, chunks [][]byte, from, to string, stopAfter int) error {
	if _, err := sendResponseHeaders(x, httpResponse{contentType: "text/event-stream"}); err != nil {
		return err
	}
	headersAnswered := false
	for i, chunk := range chunks {
		if stopAfter > 0 && i == stopAfter {
			return nil
		}
		eos := i == len(chunks)-1
		if _, err := x.send(responseBodyMsg(chunk, eos)); err != nil {
			return err
		}
		if !headersAnswered {
			if err := expectResponseHeadersReply(x); err != nil {
				return err
			}
			headersAnswered = true
		}
		what := fmt.Sprintf("the reply to SSE chunk %d of %d (each chunk must be answered before the next is sent)", i+1, len(chunks))
		rep, err := x.next(what)
		if err != nil {
			return err
		}
		br := rep.msg.GetResponseBody()
		if br == nil {
			return fmt.Errorf("%s: expected %s, got %s", x.label, what, describeResponse(rep.msg))
		}
		where := fmt.Sprintf("%s SSE chunk %d reply", x.label, i+1)
		sr, err := streamedChunk(where, br.Response)
		if err != nil {
			return err
		}
		if sr.EndOfStream != eos {
			return fmt.Errorf("%s: end_of_stream=%t, expected %t", where, sr.EndOfStream, eos)
		}
		want := chunk
		if from != to {
			want = bytes.ReplaceAll(chunk, []byte(`"model":"`+from+`"`), []byte(`"model":"`+to+`"`))
		}
		if !bytes.Equal(sr.Body, want) {
			return fmt.Errorf("%s: body differs from the chunk sent (model %q → %q)\n  got:      %q\n  expected: %q",
				where, from, to, clip(sr.Body, 400), clip(want, 400))
		}
	}
	return x.finish()
}
