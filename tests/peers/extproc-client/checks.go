package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	bodyByteLimit       = 62000 // GIE's BodyByteLimit: most bytes in one body reply
	destinationHeader   = "x-gateway-destination-endpoint"
	lbNamespace         = "envoy.lb"
	subsetHintNamespace = "envoy.lb.subset_hint"
	subsetHintKey       = "x-gateway-destination-endpoint-subset"
)

// checkHeaderMutation enforces what Envoy reads: values in raw_value only.
func checkHeaderMutation(where string, m *extprocv3.HeaderMutation) error {
	for _, o := range m.GetSetHeaders() {
		h := o.GetHeader()
		if h == nil {
			return fmt.Errorf("%s: set_headers entry without a header", where)
		}
		if h.Value != "" {
			return fmt.Errorf("%s: set_headers %q has value %q; Envoy reads only raw_value, so write the value there and leave value empty",
				where, h.Key, h.Value)
		}
		if h.Key == "" {
			return fmt.Errorf("%s: set_headers entry with an empty key", where)
		}
	}
	return nil
}

// setHeaderValues returns every raw_value set for key (case-insensitive).
func setHeaderValues(m *extprocv3.HeaderMutation, key string) []string {
	var out []string
	for _, o := range m.GetSetHeaders() {
		if strings.EqualFold(o.GetHeader().GetKey(), key) {
			out = append(out, string(o.GetHeader().GetRawValue()))
		}
	}
	return out
}

// checkRouting checks the destination header and the envoy.lb dynamic
// metadata that carries the same endpoint, and returns the endpoint.
func checkRouting(where string, cr *extprocv3.CommonResponse, dyn *structpb.Struct, endpoints []string) (string, error) {
	if !cr.GetClearRouteCache() {
		return "", fmt.Errorf("%s: clear_route_cache is false; Envoy must re-pick the route after the destination header is set", where)
	}
	dests := setHeaderValues(cr.GetHeaderMutation(), destinationHeader)
	if len(dests) != 1 {
		return "", fmt.Errorf("%s: expected exactly one %s in set_headers, got %d (%q); set_headers: %s",
			where, destinationHeader, len(dests), dests, describeSetHeaders(cr.GetHeaderMutation()))
	}
	dest := dests[0]
	if !slices.Contains(endpoints, dest) {
		return "", fmt.Errorf("%s: %s is %q, expected one of %q", where, destinationHeader, dest, endpoints)
	}
	lb, ok := dyn.GetFields()[lbNamespace]
	if !ok || lb.GetStructValue() == nil {
		return "", fmt.Errorf("%s: dynamic_metadata lacks the %q namespace (a Struct); got %v", where, lbNamespace, dyn)
	}
	v, ok := lb.GetStructValue().GetFields()[destinationHeader]
	if !ok {
		return "", fmt.Errorf("%s: dynamic_metadata[%q] lacks %q", where, lbNamespace, destinationHeader)
	}
	if s, isString := v.GetKind().(*structpb.Value_StringValue); !isString || s.StringValue != dest {
		return "", fmt.Errorf("%s: dynamic_metadata[%q][%q] is %v, expected string %q (the header's value)",
			where, lbNamespace, destinationHeader, v, dest)
	}
	return dest, nil
}

// checkContentLength: present iff the final body is non-empty, and then its
// length in decimal.
func checkContentLength(where string, m *extprocv3.HeaderMutation, bodyLen int) error {
	got := setHeaderValues(m, "content-length")
	switch {
	case bodyLen == 0 && len(got) != 0:
		return fmt.Errorf("%s: content-length %q set for an empty body; expected none", where, got)
	case bodyLen > 0 && len(got) != 1:
		return fmt.Errorf("%s: expected one content-length = %d, got %q", where, bodyLen, got)
	case bodyLen > 0 && got[0] != strconv.Itoa(bodyLen):
		return fmt.Errorf("%s: content-length is %q, the body the picker sent is %d bytes", where, got[0], bodyLen)
	}
	return nil
}

func checkCommon(where string, cr *extprocv3.CommonResponse) error {
	if cr == nil {
		return fmt.Errorf("%s: no CommonResponse", where)
	}
	if cr.Status != extprocv3.CommonResponse_CONTINUE {
		return fmt.Errorf("%s: status %s, expected CONTINUE (CONTINUE_AND_REPLACE stops Envoy's later messages)", where, cr.Status)
	}
	return checkHeaderMutation(where, cr.HeaderMutation)
}

func checkNoTimeoutOverride(where string, resp *extprocv3.ProcessingResponse) error {
	if resp.OverrideMessageTimeout != nil {
		return fmt.Errorf("%s: override_message_timeout is set, so Envoy would ignore every other field", where)
	}
	return nil
}

// streamedChunk returns the chunk of an FDS body reply.
func streamedChunk(where string, cr *extprocv3.CommonResponse) (*extprocv3.StreamedBodyResponse, error) {
	if err := checkCommon(where, cr); err != nil {
		return nil, err
	}
	sr := cr.GetBodyMutation().GetStreamedResponse()
	if sr == nil {
		return nil, fmt.Errorf("%s: body mutation is %s; FULL_DUPLEX_STREAMED accepts only streamed_response",
			where, describeBodyMutation(cr.GetBodyMutation()))
	}
	if len(sr.Body) > bodyByteLimit {
		return nil, fmt.Errorf("%s: streamed chunk of %d bytes, over the %d-byte limit", where, len(sr.Body), bodyByteLimit)
	}
	if sr.EndOfStreamWithoutMessage || sr.GrpcMessageCompressed {
		return nil, fmt.Errorf("%s: GRPC-mode fields set in an HTTP body reply", where)
	}
	return sr, nil
}

// checkImmediate checks an error reply: the status code and an OpenAI-style
// error body.
func checkImmediate(where string, resp *extprocv3.ProcessingResponse, code typev3.StatusCode) error {
	ir := resp.GetImmediateResponse()
	if ir == nil {
		return fmt.Errorf("%s: expected immediate_response %d, got %s", where, code, describeResponse(resp))
	}
	if got := ir.GetStatus().GetCode(); got != code {
		return fmt.Errorf("%s: expected immediate_response status %d, got %d (body %q)", where, code, got, clip(ir.Body, 300))
	}
	if err := checkHeaderMutation(where+" immediate_response headers", ir.Headers); err != nil {
		return err
	}
	var body struct {
		Error map[string]any `json:"error"`
	}
	if err := json.Unmarshal(ir.Body, &body); err != nil || body.Error == nil {
		return fmt.Errorf(`%s: immediate_response body is not an OpenAI error {"error":{"message":…,"type":…}}: %q`,
			where, clip(ir.Body, 300))
	}
	if msg, ok := body.Error["message"].(string); !ok || msg == "" {
		return fmt.Errorf("%s: immediate_response error.message missing or not a non-empty string: %q", where, clip(ir.Body, 300))
	}
	if _, ok := body.Error["type"].(string); !ok {
		return fmt.Errorf("%s: immediate_response error.type missing or not a string: %q", where, clip(ir.Body, 300))
	}
	return nil
}

// parseJSON keeps numbers exact so that a comparison sees every digit.
func parseJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return v, nil
}

// checkJSONBody compares what the picker sent with the original body whose
// "model" (if present) should now read wantModel. Byte layout may differ.
func checkJSONBody(where string, got, original []byte, wantModel string) error {
	g, err := parseJSON(got)
	if err != nil {
		return fmt.Errorf("%s: the body the picker sent (%d bytes) is not JSON: %v; starts %q", where, len(got), err, clip(got, 200))
	}
	want, err := parseJSON(original)
	if err != nil {
		return fmt.Errorf("%s: test bug, original body is not JSON: %v", where, err)
	}
	if obj, ok := want.(map[string]any); ok {
		if _, has := obj["model"]; has {
			obj["model"] = wantModel
		}
	}
	if reflect.DeepEqual(g, want) {
		return nil
	}
	return fmt.Errorf("%s: body differs from the expected one: %s", where, jsonDiff(g, want))
}

// jsonDiff names the first top-level difference.
func jsonDiff(got, want any) string {
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if !gok || !wok {
		return fmt.Sprintf("got %T, expected %T", got, want)
	}
	keys := map[string]bool{}
	for k := range gm {
		keys[k] = true
	}
	for k := range wm {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		gv, gHas := gm[k]
		wv, wHas := wm[k]
		switch {
		case !gHas:
			return fmt.Sprintf("key %q missing", k)
		case !wHas:
			return fmt.Sprintf("unexpected key %q", k)
		case !reflect.DeepEqual(gv, wv):
			return fmt.Sprintf("key %q is %s, expected %s", k, clipValue(gv), clipValue(wv))
		}
	}
	return "no difference found"
}

func clipValue(v any) string {
	b, _ := json.Marshal(v)
	return strconv.Quote(clip(b, 120))
}

func describeSetHeaders(m *extprocv3.HeaderMutation) string {
	var parts []string
	for _, o := range m.GetSetHeaders() {
		parts = append(parts, fmt.Sprintf("%s=%q", o.GetHeader().GetKey(), clip(o.GetHeader().GetRawValue(), 60)))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
