package main

// BUFFERED mode (docs/extproc.md): Envoy waits for the headers
// reply before sending the body, sends the whole body in one message, and
// applies the header mutation of the body reply, checking that a
// content-length still present equals the new body's length.

import (
	"fmt"
	"strconv"
	"strings"

	procmodev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
)

func runBuffered(e *env) error {
	x, err := e.open(streamOpts{
		requestMode:  procmodev3.ProcessingMode_BUFFERED,
		responseMode: procmodev3.ProcessingMode_BUFFERED,
	})
	if err != nil {
		return err
	}
	defer x.cancel()
	if err := bufferedRequest(e, x); err != nil {
		return err
	}
	return bufferedResponse(e, x)
}

func bufferedRequest(e *env, x *exchange) error {
	body := chatBody(e.opts.model, promptText(20000), false)
	if _, err := x.send(requestHeadersMsg(httpRequest{body: body}.headers(x.label), false)); err != nil {
		return err
	}
	rep, err := x.next("request_headers reply (BUFFERED: Envoy waits for it before sending the body)")
	if err != nil {
		return err
	}
	if err := expectHeadersReply(x.label, rep.msg, rep.msg.GetRequestHeaders(), "request_headers"); err != nil {
		return err
	}
	if _, err := x.send(requestBodyMsg(body, true)); err != nil {
		return err
	}
	rep, err = x.next("request_body reply")
	if err != nil {
		return err
	}
	where := x.label + " request_body reply"
	br := rep.msg.GetRequestBody()
	if br == nil {
		return fmt.Errorf("%s: expected a request_body reply, got %s", x.label, describeResponse(rep.msg))
	}
	if err := checkNoTimeoutOverride(where, rep.msg); err != nil {
		return err
	}
	if err := checkCommon(where, br.Response); err != nil {
		return err
	}
	got, ok := br.Response.GetBodyMutation().GetMutation().(*extprocv3.BodyMutation_Body)
	if !ok {
		return fmt.Errorf("%s: expected body_mutation.body (BUFFERED takes the whole body in one reply), got %s",
			where, describeBodyMutation(br.Response.GetBodyMutation()))
	}
	if _, err := checkRouting(where, br.Response, rep.msg.DynamicMetadata, e.opts.endpoints); err != nil {
		return err
	}
	if err := checkContentLength(where, br.Response.HeaderMutation, len(got.Body)); err != nil {
		return err
	}
	return checkJSONBody(x.label+" request body", got.Body, body, e.upstreamModel())
}

func bufferedResponse(e *env, x *exchange) error {
	resp := e.jsonResponse(false)
	if _, err := sendResponseHeaders(x, resp); err != nil {
		return err
	}
	rep, err := x.next("response_headers reply (BUFFERED: Envoy waits for it before sending the body)")
	if err != nil {
		return err
	}
	hr := rep.msg.GetResponseHeaders()
	if err := expectHeadersReply(x.label, rep.msg, hr, "response_headers"); err != nil {
		return err
	}
	// Envoy's view of content-length after the headers reply.
	contentLength := applyContentLength(headerState{strconv.Itoa(len(resp.body)), true}, hr.GetResponse().GetHeaderMutation())
	if _, err := x.send(responseBodyMsg(resp.body, true)); err != nil {
		return err
	}
	rep, err = x.next("response_body reply")
	if err != nil {
		return err
	}
	where := x.label + " response_body reply"
	br := rep.msg.GetResponseBody()
	if br == nil {
		return fmt.Errorf("%s: expected a response_body reply, got %s", x.label, describeResponse(rep.msg))
	}
	if err := checkNoTimeoutOverride(where, rep.msg); err != nil {
		return err
	}
	if br.Response != nil {
		if err := checkCommon(where, br.Response); err != nil {
			return err
		}
	}
	newBody := resp.body
	switch m := br.GetResponse().GetBodyMutation().GetMutation().(type) {
	case nil:
		if e.opts.targetModel != "" {
			return fmt.Errorf("%s: no body mutation, but the model must be rewritten from %q back to %q",
				where, e.opts.targetModel, e.opts.model)
		}
	case *extprocv3.BodyMutation_Body:
		newBody = m.Body
	default:
		return fmt.Errorf("%s: expected body_mutation.body or none, got %s", where, describeBodyMutation(br.Response.BodyMutation))
	}
	if err := checkJSONBody(x.label+" response body", newBody, resp.body, e.opts.model); err != nil {
		return err
	}
	after := applyContentLength(contentLength, br.GetResponse().GetHeaderMutation())
	if after.present && after.value != strconv.Itoa(len(newBody)) {
		return fmt.Errorf("%s: content-length would be %q but the body is %d bytes; Envoy answers 500 "+
			"(\"mismatch between content length and the length of the mutated body\")", where, after.value, len(newBody))
	}
	return x.finish()
}

func expectHeadersReply(label string, msg *extprocv3.ProcessingResponse, hr *extprocv3.HeadersResponse, kind string) error {
	where := label + " " + kind + " reply"
	if hr == nil {
		return fmt.Errorf("%s: expected the %s reply, got %s", label, kind, describeResponse(msg))
	}
	if err := checkNoTimeoutOverride(where, msg); err != nil {
		return err
	}
	if hr.Response == nil {
		return nil // an empty HeadersResponse is a plain CONTINUE
	}
	return checkCommon(where, hr.Response)
}

type headerState struct {
	value   string
	present bool
}

// applyContentLength applies a mutation to content-length as Envoy does:
// removals first, then set_headers (which overwrite).
func applyContentLength(s headerState, m *extprocv3.HeaderMutation) headerState {
	for _, k := range m.GetRemoveHeaders() {
		if strings.EqualFold(k, "content-length") {
			s = headerState{}
		}
	}
	if v := setHeaderValues(m, "content-length"); len(v) > 0 {
		s = headerState{v[len(v)-1], true}
	}
	return s
}
