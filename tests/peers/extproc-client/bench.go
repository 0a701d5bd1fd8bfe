package main

// The bench scenario: a closed-loop load generator that plays Envoy's
// FULL_DUPLEX_STREAMED sequence against a picker, as fast as the picker
// answers, and reports decisions per second and the latency each decision
// adds. Unlike the other scenarios it checks only what it must to count a
// request as a decision (a destination, the whole body back, an OK end), so
// the client stays cheap next to the picker it measures.
//
//	extproc-client --scenario bench --addr HOST:PORT [--plaintext] --endpoints a:p,...
//	  --body-bytes N --concurrency C --duration 10s --warmup 2s --out FILE.json [--conns K]
//	  [--prefixes P] [--timeout 30s] [--procs 1]

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	procmodev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

const (
	benchChunk = 64 * 1024 // Envoy's body chunks (its default per_connection_buffer_limit_bytes is 1 MiB; 64 KiB reads are typical)
	// Envoy's default HTTP/2 windows (initial_stream_window_size and
	// initial_connection_window_size): the client never waits on credit.
	envoyWindow = 256 << 20
	tailBytes   = 48 // the unique end of every prompt
)

var errUsage = errors.New("usage")

// toolScenario returns the name of a tool scenario (bench, noop-picker) when
// args select one: those take their own flags.
func toolScenario(args []string) string {
	for i, a := range args {
		v, found := "", false
		switch {
		case a == "--scenario" || a == "-scenario":
			if i+1 < len(args) {
				v, found = args[i+1], true
			}
		case strings.HasPrefix(a, "--scenario="), strings.HasPrefix(a, "-scenario="):
			v, found = a[strings.IndexByte(a, '=')+1:], true
		}
		if found && (v == "bench" || v == "noop-picker") {
			return v
		}
	}
	return ""
}

// runTool runs a tool scenario and returns the exit status.
func runTool(name string, args []string) int {
	useReuseCodec()
	var err error
	switch name {
	case "bench":
		err = runBench(args)
	case "noop-picker":
		err = runNoopPicker(args)
	}
	switch {
	case errors.Is(err, errUsage):
		return 2
	case err != nil:
		fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", name, err)
		return 1
	}
	return 0
}

type benchOptions struct {
	addr        string
	plaintext   bool
	endpoints   []string
	model       string
	bodyBytes   int
	prefixes    int
	concurrency int
	conns       int
	procs       int
	duration    time.Duration
	warmup      time.Duration
	timeout     time.Duration
	out         string
}

func parseBenchFlags(args []string) (benchOptions, error) {
	var o benchOptions
	var endpoints string
	fs := flag.NewFlagSet("extproc-client bench", flag.ContinueOnError)
	fs.String("scenario", "bench", "bench")
	fs.StringVar(&o.addr, "addr", "", "picker address HOST:PORT")
	fs.BoolVar(&o.plaintext, "plaintext", false, "h2c instead of TLS (TLS skips verification)")
	fs.StringVar(&endpoints, "endpoints", "", "comma-separated endpoint addresses the picker may choose")
	fs.StringVar(&o.model, "model", "m", "model name in every request body")
	fs.IntVar(&o.bodyBytes, "body-bytes", 4096, "size of each request body in bytes")
	fs.IntVar(&o.prefixes, "prefixes", 4, "distinct shared prompt prefixes (each request adds a unique tail)")
	fs.IntVar(&o.concurrency, "concurrency", 8, "requests in flight (one goroutine each)")
	fs.IntVar(&o.conns, "conns", 1, "HTTP/2 connections the requests are multiplexed over")
	fs.IntVar(&o.procs, "procs", 1, "GOMAXPROCS")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "time before the measurement (not counted)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "deadline of every stream, and of connecting")
	fs.StringVar(&o.out, "out", "", "write the JSON result here (and always to stdout)")
	if err := fs.Parse(args); err != nil {
		return o, errUsage
	}
	for _, ep := range strings.Split(endpoints, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			o.endpoints = append(o.endpoints, ep)
		}
	}
	var bad string
	switch {
	case fs.NArg() > 0:
		bad = fmt.Sprintf("unexpected arguments %q", fs.Args())
	case o.addr == "":
		bad = "--addr is required"
	case len(o.endpoints) == 0:
		bad = "--endpoints is required"
	case o.bodyBytes <= 0 || o.prefixes <= 0 || o.concurrency <= 0 || o.conns <= 0 || o.procs <= 0:
		bad = "--body-bytes, --prefixes, --concurrency, --conns and --procs must be positive"
	case o.duration <= 0 || o.warmup < 0 || o.timeout <= 0:
		bad = "--duration and --timeout must be positive, --warmup not negative"
	}
	if bad != "" {
		fmt.Fprintln(os.Stderr, "extproc-client bench:", bad)
		return o, errUsage
	}
	return o, nil
}

// promptMaker builds chat-completion bodies of one size: one of a few shared
// prompt prefixes (what a prefix-aware picker can group), then a tail unique
// to the request. Bodies are ASCII, so no byte needs JSON escaping.
type promptMaker struct {
	heads [][]byte // {"model":..,"messages":[{"role":"user","content":" + prefix text
	foot  []byte
}

var benchWords = []string{"the", "model", "server", "answers", "every", "question", "about", "cached",
	"prefix", "blocks", "and", "tokens", "under", "load", "with", "latency", "budget", "kv", "cache"}

func newPromptMaker(model string, size, prefixes int) *promptMaker {
	quoted, _ := json.Marshal(model)
	open := `{"model":` + string(quoted) + `,"messages":[{"role":"user","content":"`
	foot := `"}],"stream":false}`
	textLen := max(size-len(open)-len(foot)-tailBytes, 0)
	p := &promptMaker{foot: []byte(foot)}
	for i := range prefixes {
		rng := rand.New(rand.NewPCG(uint64(i)+1, 0x5eed))
		text := make([]byte, 0, textLen+16)
		text = fmt.Appendf(text, "system prompt %d: ", i)
		for len(text) < textLen {
			text = append(text, benchWords[rng.IntN(len(benchWords))]...)
			text = append(text, ' ')
		}
		p.heads = append(p.heads, append([]byte(open), text[:textLen]...))
	}
	return p
}

// build writes the body of request seq (of worker w) into buf.
func (p *promptMaker) build(buf []byte, w int, seq uint64, rnd uint64) []byte {
	buf = append(buf[:0], p.heads[seq%uint64(len(p.heads))]...)
	var tail [tailBytes]byte
	n := copy(tail[:], fmt.Sprintf(" question %d.%d %016x?", w, seq, rnd))
	for i := n; i < tailBytes; i++ {
		tail[i] = ' '
	}
	buf = append(buf, tail[:]...)
	return append(buf, p.foot...)
}

type benchWorker struct {
	id      int
	client  extprocv3.ExternalProcessorClient
	prompts *promptMaker
	timeout time.Duration
	rng     *rand.Rand
	buf     []byte

	decisions []time.Duration // measured, OK requests only
	streams   []time.Duration
	errors    int
	samples   []string // the first few errors, for the report
}

var (
	fdsProtocol = &extprocv3.ProtocolConfiguration{
		RequestBodyMode:  procmodev3.ProcessingMode_FULL_DUPLEX_STREAMED,
		ResponseBodyMode: procmodev3.ProcessingMode_FULL_DUPLEX_STREAMED,
	}
	benchResponseHead = []header{{":status", "200"}, {"content-type", "application/json"}}
)

// playOne plays one HTTP request's ext_proc stream and returns the decision
// latency (the first message sent → the last request-body reply received:
// what Envoy waits before it can forward the request) and the whole stream's
// time (opening it → the picker's OK end).
func (w *benchWorker) playOne(seq uint64) (decision, whole time.Duration, err error) {
	body := w.prompts.build(w.buf, w.id, seq, w.rng.Uint64())
	w.buf = body
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	defer cancel()
	begin := time.Now()
	stream, err := w.client.Process(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("opening the stream: %w", err)
	}
	head := requestHeadersMsg([]header{
		{":method", "POST"}, {":path", "/v1/chat/completions"}, {":authority", "bench"}, {":scheme", "http"},
		{"content-type", "application/json"}, {"content-length", strconv.Itoa(len(body))},
		{"x-request-id", fmt.Sprintf("bench-%d-%d", w.id, seq)},
	}, false)
	head.ProtocolConfig = fdsProtocol
	first := time.Now()
	if err := stream.Send(head); err != nil {
		return 0, 0, streamFailure(stream, "sending request_headers", err)
	}
	for off := 0; off < len(body); off += benchChunk {
		end := min(off+benchChunk, len(body))
		if err := stream.Send(requestBodyMsg(body[off:end], end == len(body))); err != nil {
			return 0, 0, streamFailure(stream, "sending request_body", err)
		}
	}

	resp, err := stream.Recv()
	if err != nil {
		return 0, 0, fmt.Errorf("waiting for the request_headers reply: %s", describeEnd(err))
	}
	hr, ok := resp.Response.(*extprocv3.ProcessingResponse_RequestHeaders)
	if !ok {
		return 0, 0, fmt.Errorf("expected the request_headers reply, got %s", describeResponse(resp))
	}
	if len(setHeaderValues(hr.RequestHeaders.GetResponse().GetHeaderMutation(), destinationHeader)) != 1 {
		return 0, 0, fmt.Errorf("the request_headers reply sets no single %s", destinationHeader)
	}
	echoed := 0
	for {
		resp, err := stream.Recv()
		if err != nil {
			return 0, 0, fmt.Errorf("after %d body bytes back: %s", echoed, describeEnd(err))
		}
		var sr *extprocv3.StreamedBodyResponse
		if br, ok := resp.Response.(*extprocv3.ProcessingResponse_RequestBody); ok {
			sr = br.RequestBody.GetResponse().GetBodyMutation().GetStreamedResponse()
		}
		if sr == nil {
			return 0, 0, fmt.Errorf("expected a streamed request_body reply, got %s", describeResponse(resp))
		}
		echoed += len(sr.Body)
		if sr.EndOfStream {
			break
		}
	}
	decision = time.Since(first)
	if echoed != len(body) {
		return 0, 0, fmt.Errorf("the picker sent %d body bytes on, the request had %d", echoed, len(body))
	}

	if err := stream.Send(responseHeadersMsg(benchResponseHead, true)); err != nil {
		return 0, 0, streamFailure(stream, "sending response_headers", err)
	}
	if err := stream.CloseSend(); err != nil {
		return 0, 0, fmt.Errorf("CloseSend: %w", err)
	}
	heads := 0
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("waiting for the end of the stream: %s", describeEnd(err))
		}
		if _, ok := resp.Response.(*extprocv3.ProcessingResponse_ResponseHeaders); !ok {
			return 0, 0, fmt.Errorf("expected the response_headers reply, got %s", describeResponse(resp))
		}
		heads++
	}
	if heads != 1 {
		return 0, 0, fmt.Errorf("%d response_headers replies, expected 1", heads)
	}
	return decision, time.Since(begin), nil
}

// streamFailure explains a failed Send: when the picker ended the stream
// (Send returns io.EOF), the reason is in what Recv still delivers.
func streamFailure(stream extprocv3.ExternalProcessor_ProcessClient, what string, err error) error {
	if !errors.Is(err, io.EOF) {
		return fmt.Errorf("%s: %w", what, err)
	}
	for {
		resp, rerr := stream.Recv()
		if rerr != nil {
			return fmt.Errorf("%s: the picker ended the stream: %s", what, describeEnd(rerr))
		}
		if _, ok := resp.Response.(*extprocv3.ProcessingResponse_ImmediateResponse); ok {
			return fmt.Errorf("%s: %s", what, describeResponse(resp))
		}
	}
}

type benchPercentiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90,omitempty"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean,omitempty"`
}

type benchResult struct {
	Requests      int              `json:"requests"`
	Errors        int              `json:"errors"`
	DurationS     float64          `json:"duration_s"`
	DecisionsPerS float64          `json:"decisions_per_s"`
	LatencyUs     benchPercentiles `json:"latency_us"`
	StreamUs      benchPercentiles `json:"stream_us"`
	BodyBytes     int              `json:"body_bytes"`
	Concurrency   int              `json:"concurrency"`
	Conns         int              `json:"conns"`
	Procs         int              `json:"procs"`
	ErrorSamples  []string         `json:"error_samples,omitempty"`
}

func percentilesUs(ds []time.Duration, withMeanAndP90 bool) benchPercentiles {
	if len(ds) == 0 {
		return benchPercentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1)+0.5)]) / 1e3
	}
	p := benchPercentiles{P50: at(0.50), P99: at(0.99)}
	if withMeanAndP90 {
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		p.P90 = at(0.90)
		p.Mean = float64(sum) / float64(len(ds)) / 1e3
	}
	return p
}

func dialPicker(addr string, plaintext bool) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if !plaintext {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	}
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow),
		experimental.WithBufferPool(toolPool))
}

// awaitReady connects conn, within the deadline of ctx.
func awaitReady(ctx context.Context, conn *grpc.ClientConn) error {
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("not connected (state %s): %w", s, ctx.Err())
		}
	}
}

func runBench(args []string) error {
	o, err := parseBenchFlags(args)
	if err != nil {
		return err
	}
	runtime.GOMAXPROCS(o.procs)
	conns := make([]*grpc.ClientConn, o.conns)
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	for i := range conns {
		conn, err := dialPicker(o.addr, o.plaintext)
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", o.addr, err)
		}
		defer conn.Close()
		if err := awaitReady(ctx, conn); err != nil {
			return fmt.Errorf("connecting to %s: %w", o.addr, err)
		}
		conns[i] = conn
	}

	prompts := newPromptMaker(o.model, o.bodyBytes, o.prefixes)
	start := time.Now()
	measureFrom, stopAt := start.Add(o.warmup), start.Add(o.warmup+o.duration)
	workers := make([]*benchWorker, o.concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := &benchWorker{
			id: i, client: extprocv3.NewExternalProcessorClient(conns[i%len(conns)]), prompts: prompts,
			timeout: o.timeout, rng: rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano()))),
		}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(0); time.Now().Before(stopAt); seq++ {
				decision, whole, err := w.playOne(seq*uint64(o.concurrency) + uint64(w.id))
				if now := time.Now(); now.Before(measureFrom) || now.After(stopAt) {
					continue // only requests that end inside the measured window count
				}
				if err != nil {
					w.errors++
					if len(w.samples) < 3 {
						w.samples = append(w.samples, err.Error())
					}
					continue
				}
				w.decisions = append(w.decisions, decision)
				w.streams = append(w.streams, whole)
			}
		}()
	}
	wg.Wait()

	var decisions, streams []time.Duration
	res := benchResult{DurationS: o.duration.Seconds(), BodyBytes: len(prompts.build(nil, 0, 0, 0)),
		Concurrency: o.concurrency, Conns: o.conns, Procs: o.procs}
	for _, w := range workers {
		decisions = append(decisions, w.decisions...)
		streams = append(streams, w.streams...)
		res.Errors += w.errors
		for _, s := range w.samples {
			if len(res.ErrorSamples) < 5 {
				res.ErrorSamples = append(res.ErrorSamples, s)
			}
		}
	}
	res.Requests = len(decisions)
	res.DecisionsPerS = float64(res.Requests) / o.duration.Seconds()
	res.LatencyUs = percentilesUs(decisions, true)
	res.StreamUs = percentilesUs(streams, false)
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	if o.out != "" {
		if err := os.WriteFile(o.out, append(out, '\n'), 0o644); err != nil {
			return err
		}
	}
	if res.Requests == 0 {
		return fmt.Errorf("no request succeeded in the measured window (%d errors)", res.Errors)
	}
	return nil
}

// reusePool is a gRPC buffer pool that hands buffers back without clearing
// them. grpc-go's default pool clears the whole capacity of every buffer it
// hands out, and serves a 62 KB message from its 1 MiB tier: about 1 MiB
// cleared per message each way, a third of the noop picker's time with 400 KB
// bodies. That would make the client, and the noop picker's floor, pay for a
// grpc-go choice no picker has to make. The buffers carry only benchmark
// bodies.
type reusePool struct {
	classes [reuseMaxClass + 1]sync.Pool // class k holds buffers of capacity >= 1<<k
}

const (
	reuseMinClass = 8  // 256 B
	reuseMaxClass = 23 // 8 MiB; larger buffers are not kept
)

func (p *reusePool) Get(length int) *[]byte {
	k := max(bits.Len(uint(max(length, 1)-1)), reuseMinClass) // smallest k with 1<<k >= length
	if k > reuseMaxClass {
		b := make([]byte, length)
		return &b
	}
	if b, ok := p.classes[k].Get().(*[]byte); ok {
		*b = (*b)[:length]
		return b
	}
	b := make([]byte, length, 1<<k)
	return &b
}

func (p *reusePool) Put(b *[]byte) {
	k := bits.Len(uint(cap(*b))) - 1 // largest k with 1<<k <= cap
	if k >= reuseMinClass && k <= reuseMaxClass {
		p.classes[k].Put(b)
	}
}

var toolPool = &reusePool{}

// reuseCodec is grpc-go's proto codec on toolPool (the built-in one always
// takes mem.DefaultBufferPool). useReuseCodec registers it under "proto" for
// the tool scenarios only; the checking scenarios keep grpc-go's own.
type reuseCodec struct{}

func useReuseCodec() { encoding.RegisterCodecV2(reuseCodec{}) }

func (reuseCodec) Name() string { return "proto" }

func (reuseCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("proto: cannot marshal %T", v)
	}
	size := proto.Size(m) // UseCachedSize below relies on this call
	buf := toolPool.Get(size)
	if _, err := (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend((*buf)[:0], m); err != nil {
		toolPool.Put(buf)
		return nil, err
	}
	return mem.BufferSlice{mem.NewBuffer(buf, toolPool)}, nil
}

func (reuseCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("proto: cannot unmarshal into %T", v)
	}
	buf := data.MaterializeToBuffer(toolPool)
	defer buf.Free()
	return proto.Unmarshal(buf.ReadOnlyData(), m)
}
