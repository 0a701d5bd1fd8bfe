package main

// The noop-picker scenario: an ext_proc server that does the least any
// endpoint picker must do in FULL_DUPLEX_STREAMED mode, and nothing else: it
// reads the request headers and the whole body, then answers with the first
// endpoint (no JSON parsing, no picking) and sends the body back. It is the
// baseline the bench scenario measures a real picker against.
//
//	extproc-client --scenario noop-picker --listen 127.0.0.1:0 [--plaintext] --endpoints a:p [--procs 1]
//
// It prints READY {"port":N} on stdout once listening and serves until killed.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/protobuf/types/known/structpb"
)

const noopMaxBody = 64 << 20 // a larger content-length is not preallocated

type noopPicker struct {
	extprocv3.UnimplementedExternalProcessorServer
	destination string
}

func runNoopPicker(args []string) error {
	var listen, endpoints string
	var plaintext bool
	var procs int
	fs := flag.NewFlagSet("extproc-client noop-picker", flag.ContinueOnError)
	fs.String("scenario", "noop-picker", "noop-picker")
	fs.StringVar(&listen, "listen", "127.0.0.1:0", "address to serve ext_proc on")
	fs.BoolVar(&plaintext, "plaintext", false, "h2c instead of TLS with a self-signed certificate")
	fs.StringVar(&endpoints, "endpoints", "", "endpoint addresses; every request goes to the first")
	fs.IntVar(&procs, "procs", 1, "GOMAXPROCS")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	dest := strings.TrimSpace(strings.Split(endpoints, ",")[0])
	if fs.NArg() > 0 || dest == "" || procs <= 0 {
		fmt.Fprintln(os.Stderr, "extproc-client noop-picker: needs --endpoints, a positive --procs and no arguments")
		return errUsage
	}
	runtime.GOMAXPROCS(procs)

	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(noopMaxBody + 1<<20), experimental.BufferPool(toolPool)}
	if !plaintext {
		cert, err := selfSignedCertificate()
		if err != nil {
			return fmt.Errorf("making a certificate: %w", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})))
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(srv, &noopPicker{destination: dest})
	fmt.Printf("READY {\"port\":%d}\n", lis.Addr().(*net.TCPAddr).Port)
	return srv.Serve(lis)
}

// selfSignedCertificate is an ECDSA P-256 certificate for infergate-epp and
// localhost, made in memory as infergate's picker makes its default one.
func selfSignedCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "infergate-epp"},
		DNSNames:              []string{"infergate-epp", "localhost"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// bodyBuffers keeps request-body buffers between streams: a fresh large
// buffer per request would have the runtime clear it each time, a cost no
// picker has to pay.
var bodyBuffers sync.Pool

// Process serves one stream: one HTTP request and its response.
func (p *noopPicker) Process(s extprocv3.ExternalProcessor_ProcessServer) error {
	var body []byte
	if b, ok := bodyBuffers.Get().(*[]byte); ok {
		body = (*b)[:0]
	}
	defer func() {
		if cap(body) > 0 && cap(body) <= noopMaxBody {
			body = body[:0]
			bodyBuffers.Put(&body)
		}
	}()
	decided := false
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return nil // the client half-closed: the request is over
		}
		if err != nil {
			return err
		}
		switch r := req.Request.(type) {
		case *extprocv3.ProcessingRequest_RequestHeaders:
			if r.RequestHeaders.EndOfStream {
				decided = true
				if err := p.decide(s, nil, false); err != nil {
					return err
				}
				continue
			}
			for _, h := range r.RequestHeaders.GetHeaders().GetHeaders() {
				if h.Key == "content-length" {
					if n, err := strconv.Atoi(string(h.RawValue)); err == nil && n > cap(body) && n <= noopMaxBody {
						body = make([]byte, 0, n)
					}
				}
			}
		case *extprocv3.ProcessingRequest_RequestBody:
			body = append(body, r.RequestBody.Body...)
			if r.RequestBody.EndOfStream {
				decided = true
				if err := p.decide(s, body, true); err != nil {
					return err
				}
			}
		case *extprocv3.ProcessingRequest_RequestTrailers:
			if !decided {
				decided = true
				if err := p.decide(s, body, false); err != nil {
					return err
				}
			}
			if err := s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_RequestTrailers{
				RequestTrailers: &extprocv3.TrailersResponse{}}}); err != nil {
				return err
			}
		case *extprocv3.ProcessingRequest_ResponseHeaders:
			if err := s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseHeaders{
				ResponseHeaders: &extprocv3.HeadersResponse{}}}); err != nil {
				return err
			}
		case *extprocv3.ProcessingRequest_ResponseBody:
			// Each chunk goes back at once, as a streamed response must.
			if err := sendStreamed(s, r.ResponseBody.Body, false, r.ResponseBody.EndOfStream); err != nil {
				return err
			}
		case *extprocv3.ProcessingRequest_ResponseTrailers:
			if err := s.Send(&extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseTrailers{
				ResponseTrailers: &extprocv3.TrailersResponse{}}}); err != nil {
				return err
			}
		}
	}
}

// decide sends the headers reply with the destination (header and envoy.lb
// metadata), then the body back in streamed chunks.
func (p *noopPicker) decide(s extprocv3.ExternalProcessor_ProcessServer, body []byte, eos bool) error {
	set := []*corev3.HeaderValueOption{headerOption(destinationHeader, p.destination)}
	if len(body) > 0 {
		set = append(set, headerOption("content-length", strconv.Itoa(len(body))))
	}
	meta, err := structpb.NewStruct(map[string]any{lbNamespace: map[string]any{destinationHeader: p.destination}})
	if err != nil {
		return err
	}
	if err := s.Send(&extprocv3.ProcessingResponse{DynamicMetadata: meta,
		Response: &extprocv3.ProcessingResponse_RequestHeaders{RequestHeaders: &extprocv3.HeadersResponse{
			Response: &extprocv3.CommonResponse{
				HeaderMutation:  &extprocv3.HeaderMutation{SetHeaders: set},
				ClearRouteCache: true,
			}}}}); err != nil {
		return err
	}
	if body == nil {
		return nil
	}
	return sendStreamed(s, body, true, eos)
}

// headerOption sets key to value, written in raw_value (the field Envoy reads).
func headerOption(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: key, RawValue: []byte(value)}}
}

// sendStreamed sends body as streamed_response chunks of at most 62,000
// bytes, the last with eos; an empty body is one empty chunk.
func sendStreamed(s extprocv3.ExternalProcessor_ProcessServer, body []byte, request, eos bool) error {
	for first := true; first || len(body) > 0; first = false {
		n := min(len(body), bodyByteLimit)
		br := &extprocv3.BodyResponse{Response: &extprocv3.CommonResponse{BodyMutation: &extprocv3.BodyMutation{
			Mutation: &extprocv3.BodyMutation_StreamedResponse{StreamedResponse: &extprocv3.StreamedBodyResponse{
				Body: body[:n], EndOfStream: eos && n == len(body)}}}}}
		resp := &extprocv3.ProcessingResponse{Response: &extprocv3.ProcessingResponse_ResponseBody{ResponseBody: br}}
		if request {
			resp.Response = &extprocv3.ProcessingResponse_RequestBody{RequestBody: br}
		}
		if err := s.Send(resp); err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}
