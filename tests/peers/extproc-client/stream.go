package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	procmodev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_proc/v3"
	extprocv3 "github.com/envoyproxy/go-control-plane/envoy/service/ext_proc/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// reply is one message (or the end of the stream) as the receiver saw it.
type reply struct {
	msg *extprocv3.ProcessingResponse
	err error // io.EOF: the picker ended the stream with OK
	// sendsStarted is how many client messages had been handed to Send when
	// the reply arrived. A Send is counted before it starts, so a reply
	// stamped below N provably left the picker before it could have seen
	// message N.
	sendsStarted int64
}

// exchange is one ext_proc stream: what Envoy holds for one HTTP request.
// A goroutine reads replies into a channel so that the sender can tell when
// a reply came; every wait is bounded by the stream's deadline.
type exchange struct {
	label    string
	ctx      context.Context
	cancel   context.CancelFunc
	stream   extprocv3.ExternalProcessor_ProcessClient
	protocol *extprocv3.ProtocolConfiguration
	metadata *corev3.Metadata
	sent     atomic.Int64
	replies  chan reply
	pending  []reply
	done     bool          // the receiver has delivered the end of the stream
	shapes   *streamShapes // --shapes: every reply as the receiver saw it; nil without
}

type streamOpts struct {
	label        string
	requestMode  procmodev3.ProcessingMode_BodySendMode
	responseMode procmodev3.ProcessingMode_BodySendMode
	metadata     *corev3.Metadata // put on every message, as Envoy does
	shapes       *shapeRecorder   // --shapes, set by env.open; nil records nothing
}

func fdsOpts() streamOpts {
	return streamOpts{
		requestMode:  procmodev3.ProcessingMode_FULL_DUPLEX_STREAMED,
		responseMode: procmodev3.ProcessingMode_FULL_DUPLEX_STREAMED,
	}
}

func openExchange(parent context.Context, client extprocv3.ExternalProcessorClient,
	timeout time.Duration, o streamOpts) (*exchange, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	stream, err := client.Process(ctx)
	if err != nil {
		cancel()
		o.shapes.open(o.label, cancel).add(nil, err) // a stream that never opened ends at once
		return nil, fmt.Errorf("%s: opening Process stream: %w", o.label, err)
	}
	x := &exchange{
		label:  o.label,
		ctx:    ctx,
		cancel: cancel,
		stream: stream,
		protocol: &extprocv3.ProtocolConfiguration{
			RequestBodyMode:  o.requestMode,
			ResponseBodyMode: o.responseMode,
		},
		metadata: o.metadata,
		replies:  make(chan reply, 256),
	}
	x.shapes = o.shapes.open(o.label, cancel)
	go x.receive()
	return x, nil
}

func (x *exchange) receive() {
	for {
		msg, err := x.stream.Recv()
		// Recorded here, before anything can consume it, so the transcript has every reply.
		x.shapes.add(msg, err)
		x.replies <- reply{msg: msg, err: err, sendsStarted: x.sent.Load()}
		if err != nil {
			return
		}
	}
}

// send puts protocol_config on the first message and metadata_context on
// every one, and returns the message's 1-based position in the stream.
func (x *exchange) send(req *extprocv3.ProcessingRequest) (int64, error) {
	if x.protocol != nil {
		req.ProtocolConfig = x.protocol
		x.protocol = nil
	}
	if x.metadata != nil {
		req.MetadataContext = x.metadata
	}
	n := x.sent.Add(1)
	if err := x.stream.Send(req); err != nil {
		return n, fmt.Errorf("%s: sending %s (message %d): %w", x.label, describeRequest(req), n, err)
	}
	return n, nil
}

// next waits for the next reply. A stream that ended is an error here; use
// expectEnd where the end is what should come.
func (x *exchange) next(what string) (reply, error) {
	r, err := x.wait(what)
	if err != nil {
		return r, err
	}
	if r.err != nil {
		return r, fmt.Errorf("%s: waiting for %s, the stream ended: %s", x.label, what, describeEnd(r.err))
	}
	return r, nil
}

func (x *exchange) wait(what string) (reply, error) {
	if len(x.pending) > 0 {
		r := x.pending[0]
		x.pending = x.pending[1:]
		return r, nil
	}
	if x.done {
		return reply{}, fmt.Errorf("%s: waiting for %s after the stream had ended", x.label, what)
	}
	select {
	case r := <-x.replies:
		if r.err != nil {
			x.done = true
		}
		return r, nil
	case <-x.ctx.Done():
		return reply{}, fmt.Errorf("%s: no %s before the stream deadline: %v", x.label, what, x.ctx.Err())
	}
}

// arrived reports, without waiting, whether a reply (or the end) is queued.
func (x *exchange) arrived() bool {
	if len(x.pending) > 0 {
		return true
	}
	if x.done {
		return false
	}
	select {
	case r := <-x.replies:
		if r.err != nil {
			x.done = true
		}
		x.pending = append(x.pending, r)
		return true
	default:
		return false
	}
}

// observe queues every reply that arrives within d. Before its last message
// the client gives the picker this window to answer too early: the replies'
// stamps then show it. No result depends on the window's length, only how
// surely an early reply is seen.
func (x *exchange) observe(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for !x.done {
		select {
		case r := <-x.replies:
			if r.err != nil {
				x.done = true
			}
			x.pending = append(x.pending, r)
		case <-timer.C:
			return
		case <-x.ctx.Done():
			return
		}
	}
}

// finish half-closes the stream, as Envoy does when the HTTP stream is
// complete, and expects the picker to end it with OK and nothing more.
func (x *exchange) finish() error {
	defer x.cancel()
	if err := x.stream.CloseSend(); err != nil {
		return fmt.Errorf("%s: CloseSend: %w", x.label, err)
	}
	return x.expectEnd()
}

func (x *exchange) expectEnd() error {
	r, err := x.wait("the end of the stream")
	if err != nil {
		return err
	}
	if r.err == nil {
		return fmt.Errorf("%s: expected the stream to end with OK, got another message: %s",
			x.label, describeResponse(r.msg))
	}
	if !errors.Is(r.err, io.EOF) {
		return fmt.Errorf("%s: expected the stream to end with OK, got %s", x.label, describeEnd(r.err))
	}
	return nil
}

// abort cancels the stream (the HTTP/2 stream is reset) and waits, bounded,
// for the receiver to see it.
func (x *exchange) abort() {
	x.cancel()
	for !x.done {
		r := <-x.replies // the receiver sends exactly one error, then stops
		if r.err != nil {
			x.done = true
		}
	}
}

func describeEnd(err error) string {
	if errors.Is(err, io.EOF) {
		return "status OK"
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return fmt.Sprintf("status %s: %q", s.Code(), s.Message())
	}
	return err.Error()
}
