package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
)

var testEndpoints = []string{"127.0.0.1:8000", "127.0.0.2:8001", "127.0.0.3:8002"}

// startFake serves a fake picker on loopback and returns its address.
func startFake(t *testing.T, bug string, useTLS bool) string {
	t.Helper()
	var opts []grpc.ServerOption
	if useTLS {
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})))
	}
	srv := grpc.NewServer(opts...)
	extprocv3.RegisterExternalProcessorServer(srv, &fakePicker{
		endpoints: testEndpoints, rewrite: map[string]string{"food-review": "food-review-v2-lora"},
		maxBody: 1800 * 1024, capacity: 2, bug: bug,
	})
	hs := health.NewServer()
	hs.SetServingStatus(extProcService, grpc_health_v1.HealthCheckResponse_SERVING)
	grpc_health_v1.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func testOptions(addr, scenario string, extra ...string) options {
	args := append([]string{"--addr", addr, "--plaintext", "--scenario", scenario,
		"--endpoints", strings.Join(testEndpoints, ","), "--timeout", "3s"}, extra...)
	o, err := parseFlags(args)
	if err != nil {
		panic(err)
	}
	return o
}

func TestScenariosPassAgainstSpecPicker(t *testing.T) {
	addr := startFake(t, "", false)
	cases := [][]string{
		{"headers-only"}, {"chunked"}, {"large"}, {"subset"}, {"subset-empty"}, {"sse"}, {"cancel"},
		{"trailers"}, {"buffered"}, {"oversized"}, {"health"},
		{"rewrite", "--model", "food-review", "--target-model", "food-review-v2-lora"},
		{"sse", "--model", "food-review", "--target-model", "food-review-v2-lora"},
		{"trailers", "--model", "food-review", "--target-model", "food-review-v2-lora"},
		{"buffered", "--model", "food-review", "--target-model", "food-review-v2-lora"},
		{"shed", "--hold", "2", "--objective", "sheddable"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			if err := run(testOptions(addr, c[0], c[1:]...)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTLSByDefault(t *testing.T) {
	addr := startFake(t, "", true)
	o := testOptions(addr, "chunked")
	o.plaintext = false
	if err := run(o); err != nil {
		t.Fatal(err)
	}
}

// Each bug must be caught, with a message that names it.
func TestScenariosCatchBugs(t *testing.T) {
	cases := []struct{ bug, scenario, want string }{
		{"early-headers", "chunked", "must hold its replies"},
		{"value-not-raw", "chunked", "Envoy reads only raw_value"},
		{"wrong-content-length", "large", "content-length is"},
		{"no-metadata", "headers-only", "dynamic_metadata lacks"},
		{"big-chunk", "large", "over the 62000-byte limit"},
		{"sse-buffer", "sse", "each chunk must be answered before the next is sent"},
		{"json-unbuffered", "chunked", "must hold its replies"},
		{"buffered-stale-length", "buffered", "mismatch between content length"},
		{"no-rewrite-back", "rewrite", `key "model" is "\"food-review-v2-lora\""`},
	}
	for _, c := range cases {
		t.Run(c.bug, func(t *testing.T) {
			addr := startFake(t, c.bug, false)
			o := testOptions(addr, c.scenario, "--model", "food-review", "--target-model", "food-review-v2-lora")
			o.timeout = time.Second
			err := run(o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("expected an error containing %q, got %v", c.want, err)
			}
		})
	}
}

func TestShedFailsWithoutSaturation(t *testing.T) {
	addr := startFake(t, "", false)
	err := run(testOptions(addr, "shed", "--hold", "1", "--objective", "sheddable"))
	if err == nil || !strings.Contains(err.Error(), "expected immediate_response 429") {
		t.Fatalf("expected a missing-429 error, got %v", err)
	}
}

func TestShippedEnvoyConfigValidates(t *testing.T) {
	raw, err := os.ReadFile("../../../deploy/envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bs, err := parseBootstrap(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBootstrap(bs); err != nil {
		t.Fatal(err)
	}
	// Each edit breaks one fact the check must catch.
	edits := []struct{ from, to, want string }{
		{"request_trailer_mode: SEND", "request_trailer_mode: SKIP", "trailer modes"},
		{"response_body_mode: FULL_DUPLEX_STREAMED", "response_body_mode: STREAMED", "body modes"},
		{"use_http_header: true", "use_http_header: false", "original_dst_lb_config"},
		{"http2_protocol_options: {}", "http_protocol_options: {}", "HTTP/2"},
		{`untyped: ["envoy.lb"]`, `untyped: ["other"]`, "receiving_namespaces"},
		{"failure_mode_allow: false", "failure_mode_allow: true", "failure_mode_allow"},
		{"lb_policy: CLUSTER_PROVIDED", "lb_policy: ROUND_ROBIN", "CLUSTER_PROVIDED"},
		{"port_value: 9002", "port_value: 9003", "infergate:9002"},
		{"port_value: 8081", "port_value: 70000", "ValidateAll"},
		{"cluster_name: infergate-epp\n                  authority", "cluster_name: epp\n                  authority", "cluster_name"},
		{"service_name: envoy.service.ext_proc.v3.ExternalProcessor", "service_name: x", "grpc_health_check"},
		{"timeout: 86400s", "timeout: 15s", "86400s"},
	}
	for _, ed := range edits {
		broken := strings.Replace(string(raw), ed.from, ed.to, 1)
		if broken == string(raw) {
			t.Fatalf("edit %q matched nothing", ed.from)
		}
		bs, err := parseBootstrap([]byte(broken))
		if err == nil {
			err = checkBootstrap(bs)
		}
		if err == nil || !strings.Contains(err.Error(), ed.want) {
			t.Errorf("edit %q → %q: expected an error containing %q, got %v", ed.from, ed.to, ed.want, err)
		}
	}
}
