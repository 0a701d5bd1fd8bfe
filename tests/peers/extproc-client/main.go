// Command extproc-client plays Envoy's side of the ext_proc protocol against an
// endpoint picker (infergate --mode=epp) and checks every reply against the
// wire facts in docs/extproc.md. It is built on Envoy's generated Go types
// (go-control-plane), independently of the C++ picker it tests.
//
//	extproc-client --addr HOST:PORT [--plaintext] --scenario NAME [--endpoints a:p,b:p]
//	  [--model M] [--target-model T] [--objective NAME] [--hold N] [--size BYTES] [--timeout 10s]
//	  [--shapes FILE]
//	extproc-client --scenario validate-envoy --file deploy/envoy/envoy.yaml
//	extproc-client --scenario bench|noop-picker ...   (bench.go, noop_picker.go)
//
// It prints "ok <scenario>" and exits 0, or prints what was expected and what
// came instead and exits 1. Every stream and RPC has a deadline (--timeout).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

type options struct {
	addr        string
	plaintext   bool
	scenario    string
	endpoints   []string
	model       string
	targetModel string
	objective   string
	hold        int
	size        int
	timeout     time.Duration
	file        string
	shapes      string
}

// env is what a scenario runs with.
type env struct {
	opts    options
	conn    *grpc.ClientConn
	client  extprocv3.ExternalProcessorClient
	streams int
	shapes  *shapeRecorder // --shapes; nil without
}

type needs int

const (
	needsPicker  needs = iota // an ext_proc stream: --addr and --endpoints
	needsAddress              // an RPC to --addr
	needsNothing              // offline
)

type scenario struct {
	run   func(*env) error
	needs needs
}

var scenarios = map[string]scenario{
	"headers-only":   {runHeadersOnly, needsPicker},
	"chunked":        {runChunked, needsPicker},
	"large":          {runLarge, needsPicker},
	"rewrite":        {runRewrite, needsPicker},
	"subset":         {runSubset, needsPicker},
	"subset-empty":   {runSubsetEmpty, needsPicker},
	"shed":           {runShed, needsPicker},
	"sse":            {runSSE, needsPicker},
	"cancel":         {runCancel, needsPicker},
	"trailers":       {runTrailers, needsPicker},
	"buffered":       {runBuffered, needsPicker},
	"oversized":      {runOversized, needsPicker},
	"health":         {runHealth, needsAddress},
	"validate-envoy": {runValidateEnvoy, needsNothing},
}

func main() {
	if tool := toolScenario(os.Args[1:]); tool != "" { // bench, noop-picker: their own flags
		os.Exit(runTool(tool, os.Args[1:]))
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "extproc-client:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", o.scenario, err)
		os.Exit(1)
	}
	fmt.Println("ok", o.scenario)
}

func parseFlags(args []string) (options, error) {
	var o options
	var endpoints string
	fs := flag.NewFlagSet("extproc-client", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "", "picker address HOST:PORT")
	fs.BoolVar(&o.plaintext, "plaintext", false, "h2c instead of TLS (TLS skips verification: the picker's cert is self-signed)")
	fs.StringVar(&o.scenario, "scenario", "", "one of: "+strings.Join(scenarioNames(), ", "))
	fs.StringVar(&endpoints, "endpoints", "", "comma-separated endpoint addresses the picker may choose")
	fs.StringVar(&o.model, "model", "test-model", "model name the client asks for")
	fs.StringVar(&o.targetModel, "target-model", "", "model name the picker must rewrite the request to (and back in the response)")
	fs.StringVar(&o.objective, "objective", "", "InferenceObjective name for the shed scenario")
	fs.IntVar(&o.hold, "hold", 0, "shed: streams to hold open before the request that must be shed")
	fs.IntVar(&o.size, "size", 2<<20, "oversized: request body size in bytes")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "deadline of every stream and RPC")
	fs.StringVar(&o.file, "file", "", "validate-envoy: path of the Envoy bootstrap YAML")
	fs.StringVar(&o.shapes, "shapes", "", "write every reply of every stream to this file, one line each (shapes.go), pass or fail")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			o.endpoints = append(o.endpoints, ep)
		}
	}
	sc, ok := scenarios[o.scenario]
	switch {
	case !ok:
		return o, fmt.Errorf("--scenario %q: expected one of %s", o.scenario, strings.Join(scenarioNames(), ", "))
	case o.timeout <= 0:
		return o, errors.New("--timeout must be positive")
	case sc.needs != needsNothing && o.addr == "":
		return o, fmt.Errorf("--scenario %s needs --addr", o.scenario)
	case sc.needs == needsPicker && len(o.endpoints) == 0:
		return o, fmt.Errorf("--scenario %s needs --endpoints", o.scenario)
	case o.scenario == "rewrite" && o.targetModel == "":
		return o, errors.New("--scenario rewrite needs --target-model")
	case o.scenario == "shed" && o.objective == "":
		return o, errors.New("--scenario shed needs --objective")
	case o.scenario == "validate-envoy" && o.file == "":
		return o, errors.New("--scenario validate-envoy needs --file")
	case o.hold < 0 || o.size <= 0:
		return o, errors.New("--hold must be >= 0 and --size > 0")
	}
	return o, nil
}

func scenarioNames() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func run(o options) error {
	sc := scenarios[o.scenario]
	e := &env{opts: o}
	if sc.needs != needsNothing {
		creds := insecure.NewCredentials()
		if !o.plaintext {
			// The picker serves a self-signed certificate by default, as GIE's does.
			creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
		}
		// WaitForReady: a picker that is still starting is waited for, within
		// each RPC's deadline, instead of failing the first RPC at once.
		conn, err := grpc.NewClient("passthrough:///"+o.addr, grpc.WithTransportCredentials(creds),
			grpc.WithDefaultCallOptions(grpc.WaitForReady(true)))
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", o.addr, err)
		}
		defer conn.Close()
		e.conn = conn
		e.client = extprocv3.NewExternalProcessorClient(conn)
	}
	if o.shapes == "" {
		return sc.run(e)
	}
	e.shapes = &shapeRecorder{}
	err := sc.run(e)
	// Streams the scenario left open are ended first; a receiver sees its end at once.
	if werr := e.shapes.write(o.shapes, 5*time.Second); werr != nil && err == nil {
		err = werr
	}
	return err
}

// open starts a stream labelled "<scenario>#<n>"; the label is also the
// request's x-request-id.
func (e *env) open(o streamOpts) (*exchange, error) {
	e.streams++
	o.label = fmt.Sprintf("%s#%d", e.opts.scenario, e.streams)
	o.shapes = e.shapes
	return openExchange(context.Background(), e.client, e.opts.timeout, o)
}

// upstreamModel is the model name the model server sees and answers with.
func (e *env) upstreamModel() string {
	if e.opts.targetModel != "" {
		return e.opts.targetModel
	}
	return e.opts.model
}
