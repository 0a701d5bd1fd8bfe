package main

// --shapes FILE: a transcript of every reply each stream received, one line a reply, so that
// two pickers that played the same scenario can be compared with diff. A line is
//
//	<label> <n> <shape>
//
// with n counting from 1 within the stream, and shape one of
//
//	<phase> status=S set=k=v,... remove=k,... clear_route_cache=B body=D dyn=ns/key=json,...
//	immediate status=CODE headers=k=v,... body=KIND:LEN grpc_status=N details=TEXT
//	end OK|<gRPC code name>
//
// Fields a reply cannot carry (a trailers reply has only a header mutation) are written empty,
// so every phase line has the same fields. Absent messages read as their defaults, as Envoy
// reads them: a headers reply with no CommonResponse is status=CONTINUE with nothing set.
// Bodies are written by length, never by content, and nothing depends on time or addresses in
// memory: a deterministic picker gives the same transcript every run. Only a scenario that
// fails mid-stream may differ: the replies in flight when it gave up are recorded or not.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// shapeRecorder collects the transcript of every stream of one scenario. The receivers of
// several streams (shed holds many) add to it at once, hence the mutex.
type shapeRecorder struct {
	mu      sync.Mutex
	streams []*streamShapes // in the order they were opened
}

type streamShapes struct {
	rec    *shapeRecorder
	label  string
	lines  []string
	cancel func()        // ends the stream, so its receiver records the end
	ended  chan struct{} // closed when the receiver has recorded the end
}

// open registers a stream; a nil recorder (no --shapes) returns nil, which records nothing.
func (r *shapeRecorder) open(label string, cancel func()) *streamShapes {
	if r == nil {
		return nil
	}
	s := &streamShapes{rec: r, label: label, cancel: cancel, ended: make(chan struct{})}
	r.mu.Lock()
	r.streams = append(r.streams, s)
	r.mu.Unlock()
	return s
}

// add records one reply, or the end of the stream when err is set.
func (s *streamShapes) add(msg *extprocv3.ProcessingResponse, err error) {
	if s == nil {
		return
	}
	line := "end " + endShape(err)
	if err == nil {
		line = replyShape(msg)
	}
	s.rec.mu.Lock()
	s.lines = append(s.lines, fmt.Sprintf("%s %d %s", s.label, len(s.lines)+1, line))
	s.rec.mu.Unlock()
	if err != nil {
		close(s.ended)
	}
}

// write ends every stream still open (its end then reads Canceled), waits up to wait for
// each receiver to record its end, and writes the transcript to path.
func (r *shapeRecorder) write(path string, wait time.Duration) error {
	r.mu.Lock()
	streams := slices.Clone(r.streams)
	r.mu.Unlock()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for _, s := range streams {
		s.cancel()
		select {
		case <-s.ended:
		case <-deadline.C:
			return fmt.Errorf("--shapes: the receiver of %s did not see its stream end within %v", s.label, wait)
		}
	}
	var out bytes.Buffer
	r.mu.Lock()
	for _, s := range r.streams {
		for _, l := range s.lines {
			out.WriteString(l)
			out.WriteByte('\n')
		}
	}
	r.mu.Unlock()
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("--shapes: %w", err)
	}
	return nil
}

func endShape(err error) string {
	if errors.Is(err, io.EOF) {
		return "OK"
	}
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	return codes.Unknown.String()
}

// replyShape writes one reply as its shape line (without label and index).
func replyShape(resp *extprocv3.ProcessingResponse) string {
	dyn := "dyn=" + dynShape(resp.GetDynamicMetadata())
	switch r := resp.GetResponse().(type) {
	case *extprocv3.ProcessingResponse_RequestHeaders:
		return commonShape("request_headers", r.RequestHeaders.GetResponse()) + " " + dyn
	case *extprocv3.ProcessingResponse_RequestBody:
		return commonShape("request_body", r.RequestBody.GetResponse()) + " " + dyn
	case *extprocv3.ProcessingResponse_RequestTrailers:
		return trailersShape("request_trailers", r.RequestTrailers.GetHeaderMutation()) + " " + dyn
	case *extprocv3.ProcessingResponse_ResponseHeaders:
		return commonShape("response_headers", r.ResponseHeaders.GetResponse()) + " " + dyn
	case *extprocv3.ProcessingResponse_ResponseBody:
		return commonShape("response_body", r.ResponseBody.GetResponse()) + " " + dyn
	case *extprocv3.ProcessingResponse_ResponseTrailers:
		return trailersShape("response_trailers", r.ResponseTrailers.GetHeaderMutation()) + " " + dyn
	case *extprocv3.ProcessingResponse_ImmediateResponse:
		return immediateShape(r.ImmediateResponse)
	case *extprocv3.ProcessingResponse_StreamedImmediateResponse:
		return "streamed_immediate_response " + dyn
	}
	return "no_response " + dyn
}

func commonShape(phase string, cr *extprocv3.CommonResponse) string {
	hm := cr.GetHeaderMutation()
	return fmt.Sprintf("%s status=%s set=%s remove=%s clear_route_cache=%t body=%s", phase,
		cr.GetStatus(), setShape(hm.GetSetHeaders()), removeShape(hm.GetRemoveHeaders()),
		cr.GetClearRouteCache(), bodyShape(cr.GetBodyMutation()))
}

func trailersShape(phase string, hm *extprocv3.HeaderMutation) string {
	return fmt.Sprintf("%s status= set=%s remove=%s clear_route_cache= body=", phase,
		setShape(hm.GetSetHeaders()), removeShape(hm.GetRemoveHeaders()))
}

func bodyShape(m *extprocv3.BodyMutation) string {
	switch b := m.GetMutation().(type) {
	case *extprocv3.BodyMutation_StreamedResponse:
		return fmt.Sprintf("streamed:%d:eos=%t", len(b.StreamedResponse.GetBody()), b.StreamedResponse.GetEndOfStream())
	case *extprocv3.BodyMutation_Body:
		return fmt.Sprintf("replace:%d", len(b.Body))
	case *extprocv3.BodyMutation_ClearBody:
		if b.ClearBody {
			return "clear"
		}
	}
	return "none"
}

func immediateShape(ir *extprocv3.ImmediateResponse) string {
	kind := "text"
	var obj map[string]any
	switch {
	case len(ir.GetBody()) == 0:
		kind = "empty"
	case json.Unmarshal(ir.GetBody(), &obj) == nil && obj != nil:
		kind = "json"
	}
	grpcStatus := ""
	if gs := ir.GetGrpcStatus(); gs != nil {
		grpcStatus = strconv.FormatUint(uint64(gs.GetStatus()), 10)
	}
	return fmt.Sprintf("immediate status=%d headers=%s body=%s:%d grpc_status=%s details=%s",
		int32(ir.GetStatus().GetCode()), setShape(ir.GetHeaders().GetSetHeaders()), kind, len(ir.GetBody()),
		grpcStatus, shapeValue(ir.GetDetails()))
}

// setShape: "k=v" pairs sorted by key (then value), the value from raw_value, else value.
func setShape(opts []*corev3.HeaderValueOption) string {
	pairs := make([][2]string, 0, len(opts))
	for _, o := range opts {
		h := o.GetHeader()
		v := string(h.GetRawValue())
		if len(h.GetRawValue()) == 0 {
			v = h.GetValue()
		}
		pairs = append(pairs, [2]string{h.GetKey(), v})
	}
	slices.SortFunc(pairs, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	out := make([]string, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, shapeValue(p[0])+"="+shapeValue(p[1]))
	}
	return strings.Join(out, ",")
}

func removeShape(keys []string) string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, shapeValue(k))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// dynShape flattens dynamic_metadata one level: "namespace/key=<JSON>" for each field of a
// namespace that is a Struct, "namespace=<JSON>" for one that is not; sorted.
func dynShape(dyn *structpb.Struct) string {
	var entries [][2]string // name, JSON value
	for ns, v := range dyn.GetFields() {
		inner := v.GetStructValue()
		if inner == nil {
			entries = append(entries, [2]string{shapeValue(ns), jsonShape(v)})
			continue
		}
		for k, iv := range inner.GetFields() {
			entries = append(entries, [2]string{shapeValue(ns) + "/" + shapeValue(k), jsonShape(iv)})
		}
	}
	slices.SortFunc(entries, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, e[0]+"="+e[1])
	}
	return strings.Join(out, ",")
}

// jsonShape writes a value as compact JSON (object keys sorted); a space inside a string is
// written \u0020, which is the same JSON, so a line's fields stay separated by spaces alone.
func jsonShape(v *structpb.Value) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v.AsInterface()); err != nil {
		return shapeValue(err.Error())
	}
	return strings.ReplaceAll(strings.TrimSuffix(b.String(), "\n"), " ", `\u0020`)
}

// shapeValue writes s as is, or Go-quoted when it holds what would break a line's fields
// (space, comma, quote, backslash, a control character).
func shapeValue(s string) string {
	if strings.IndexFunc(s, func(r rune) bool {
		return r == ',' || r == '"' || r == '\\' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
