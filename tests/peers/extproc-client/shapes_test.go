package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

func TestReplyShapes(t *testing.T) {
	dyn, err := structpb.NewStruct(map[string]any{
		"envoy.lb":  map[string]any{"x-gateway-destination-endpoint": "10.0.0.1:8000", "n": 2},
		"flat":      "a b",
		"nested.ns": map[string]any{"obj": map[string]any{"z": true, "a": []any{"x,y"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hm := setHeaders(header{"x-z", "1"}, header{"content-length", "42"}, header{"x-a", "two words"})
	hm.SetHeaders = append(hm.SetHeaders, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: "x-m", Value: "not-raw"}})
	hm.RemoveHeaders = []string{"x-remove-b", "x-remove-a"}
	streamed := &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_StreamedResponse{
		StreamedResponse: &extprocv3.StreamedBodyResponse{Body: []byte("secret bytes"), EndOfStream: true}}}
	cases := []struct {
		name string
		resp *extprocv3.ProcessingResponse
		want string
	}{
		{"headers with everything", &extprocv3.ProcessingResponse{DynamicMetadata: dyn,
			Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
				Response: &extprocv3.CommonResponse{HeaderMutation: hm, ClearRouteCache: true}}}},
			`request_headers status=CONTINUE set=content-length=42,x-a="two words",x-m=not-raw,x-z=1 ` +
				`remove=x-remove-a,x-remove-b clear_route_cache=true body=none ` +
				`dyn=envoy.lb/n=2,envoy.lb/x-gateway-destination-endpoint="10.0.0.1:8000",flat="a\u0020b",` +
				`nested.ns/obj={"a":["x,y"],"z":true}`},
		{"no CommonResponse reads as Envoy reads it", &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_ResponseHeaders{ResponseHeaders: &extprocv3.HeadersResponse{}}},
			"response_headers status=CONTINUE set= remove= clear_route_cache=false body=none dyn="},
		{"streamed body: length only", &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_RequestBody{RequestBody: &extprocv3.BodyResponse{
				Response: &extprocv3.CommonResponse{BodyMutation: streamed}}}},
			"request_body status=CONTINUE set= remove= clear_route_cache=false body=streamed:12:eos=true dyn="},
		{"replaced body", &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{
				Response: &extprocv3.CommonResponse{Status: extprocv3.CommonResponse_CONTINUE_AND_REPLACE,
					BodyMutation: &extprocv3.BodyMutation{Mutation: &extprocv3.BodyMutation_Body{Body: []byte("abc")}}}}}},
			"response_body status=CONTINUE_AND_REPLACE set= remove= clear_route_cache=false body=replace:3 dyn="},
		{"cleared body", &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: &extprocv3.BodyResponse{
				Response: &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{
					Mutation: &extprocv3.BodyMutation_ClearBody{ClearBody: true}}}}}},
			"response_body status=CONTINUE set= remove= clear_route_cache=false body=clear dyn="},
		{"trailers: the same fields, those it cannot carry empty", &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_RequestTrailers{RequestTrailers: &extprocv3.TrailersResponse{
				HeaderMutation: setHeaders(header{"x-t", "1"})}}},
			"request_trailers status= set=x-t=1 remove= clear_route_cache= body= dyn="},
		{"response trailers, empty", &extprocv3.ProcessingResponse{
			Response: &extprocv3.ProcessingResponse_ResponseTrailers{ResponseTrailers: &extprocv3.TrailersResponse{}}},
			"response_trailers status= set= remove= clear_route_cache= body= dyn="},
		{"immediate, JSON body", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
			ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests},
				Headers: setHeaders(header{"retry-after", "1"}, header{"content-type", "application/json"}),
				Body:    []byte(`{"error":{"message":"shed"}}`)}}},
			"immediate status=429 headers=content-type=application/json,retry-after=1 body=json:28 grpc_status= details="},
		{"immediate, text body, grpc status and details", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
			ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_ServiceUnavailable},
				Body: []byte("inference error: x"), GrpcStatus: &extprocv3.GrpcStatus{Status: 14}, Details: "no endpoint"}}},
			`immediate status=503 headers= body=text:18 grpc_status=14 details="no endpoint"`},
		{"immediate, JSON that is not an object, and no body", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
			ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_PayloadTooLarge},
				Body: []byte(`"quoted"`)}}},
			"immediate status=413 headers= body=text:8 grpc_status= details="},
		{"immediate, empty", &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ImmediateResponse{
			ImmediateResponse: &extprocv3.ImmediateResponse{Status: &typev3.HttpStatus{Code: typev3.StatusCode_Forbidden}}}},
			"immediate status=403 headers= body=empty:0 grpc_status= details="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for range 3 { // map order must not show
				if got := replyShape(c.resp); got != c.want {
					t.Fatalf("\ngot  %s\nwant %s", got, c.want)
				}
			}
		})
	}
}

func TestEndShapes(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{io.EOF, "OK"},
		{status.Error(codes.Canceled, "context canceled"), "Canceled"},
		{status.FromContextError(context.DeadlineExceeded).Err(), "DeadlineExceeded"},
		{status.Error(codes.ResourceExhausted, "x"), "ResourceExhausted"},
		{errors.New("not a status"), "Unknown"},
	}
	for _, c := range cases {
		if got := endShape(c.err); got != c.want {
			t.Errorf("endShape(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func shapesOf(t *testing.T, addr, scenario string, extra ...string) ([]string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shapes.txt")
	runErr := run(testOptions(addr, scenario, append(extra, "--shapes", path)...))
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no transcript written (scenario error %v): %v", runErr, err)
	}
	return strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n"), runErr
}

// Against the fake picker the whole transcript of a passing scenario is known, and the same
// every run.
func TestShapesTranscriptOfAPassingScenario(t *testing.T) {
	addr := startFake(t, "", false)
	first, err := shapesOf(t, addr, "headers-only")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`headers-only#1 1 request_headers status=CONTINUE set=x-gateway-destination-endpoint=127.0.0.1:8000 remove= ` +
			`clear_route_cache=true body=none dyn=envoy.lb/x-gateway-destination-endpoint="127.0.0.1:8000"`,
		"headers-only#1 2 response_headers status=CONTINUE set=x-went-into-resp-headers=true remove= clear_route_cache=false body=none dyn=",
		"headers-only#1 3 response_body status=CONTINUE set= remove= clear_route_cache=false body=streamed:27:eos=true dyn=",
		"headers-only#1 4 end OK",
	}
	if strings.Join(first, "\n") != strings.Join(want, "\n") {
		t.Fatalf("transcript:\n%s\nwant:\n%s", strings.Join(first, "\n"), strings.Join(want, "\n"))
	}
	// A fresh fake picks its first endpoint again, so the chunked transcript repeats exactly.
	a, err := shapesOf(t, startFake(t, "", false), "chunked")
	if err != nil {
		t.Fatal(err)
	}
	b, err := shapesOf(t, startFake(t, "", false), "chunked")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(a, "\n") != strings.Join(b, "\n") || len(a) < 4 || a[len(a)-1] != "chunked#1 "+
		strconv.Itoa(len(a))+" end OK" {
		t.Fatalf("chunked transcripts differ or are incomplete:\n%s\n---\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
}

// A failing scenario still writes its transcript; streams it gave up on end Canceled, and
// several streams are written in the order they were opened.
func TestShapesWrittenWhenTheScenarioFails(t *testing.T) {
	addr := startFake(t, "", false)
	lines, err := shapesOf(t, addr, "shed", "--hold", "1", "--objective", "sheddable")
	if err == nil {
		t.Fatal("shed with one held request must fail against a capacity of 2")
	}
	held := []string{
		`shed#1 1 request_headers status=CONTINUE set=content-length=102,x-gateway-destination-endpoint=127.0.0.1:8000 ` +
			`remove= clear_route_cache=true body=none dyn=envoy.lb/x-gateway-destination-endpoint="127.0.0.1:8000"`,
		"shed#1 2 request_body status=CONTINUE set= remove= clear_route_cache=false body=streamed:102:eos=true dyn=",
		"shed#1 3 end Canceled",
	}
	if len(lines) < 4 || strings.Join(lines[:3], "\n") != strings.Join(held, "\n") {
		t.Fatalf("transcript:\n%s\nexpected it to open with:\n%s", strings.Join(lines, "\n"), strings.Join(held, "\n"))
	}
	if !strings.HasPrefix(lines[3], "shed#2 1 request_headers ") || !strings.HasSuffix(lines[len(lines)-1], " end Canceled") {
		t.Fatalf("the shed stream's transcript:\n%s", strings.Join(lines[3:], "\n"))
	}
}
