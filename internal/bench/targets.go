package bench

import (
	"context"
	"fmt"
	"slices"

	"github.com/go-servicebus/servicebus/pkg/topology"
)

// Modes.
const (
	ModeRPC  = "rpc"  // a round trip: call, reply
	ModeSend = "send" // a confirmed publish to a queue nobody consumes
)

// Implementations.
const (
	ImplFloor      = "amqp091"    // plain amqp091-go: the floor
	ImplServicebus = "servicebus" // rpc.Sender and router.Agent
	// ImplConfirms is the floor pair with servicebus's confirms, mandatory,
	// expiration and deadline header: what those guarantees cost (rpc only).
	ImplConfirms = "amqp091+confirms"
	// ImplTraceContext is the floor with servicebus's guarantees (rpc:
	// amqp091+confirms; send: the floor, which has them) and a W3C
	// traceparent header on every message, the reply too: what carrying
	// trace context costs with no span made.
	ImplTraceContext = "amqp091+tracecontext"
	// ImplUnconfirmedReplies is the amqp091+confirms pair whose server acks
	// a request right after publishing its reply, unconfirmed: what the
	// confirmed reply costs (rpc only).
	ImplUnconfirmedReplies = "amqp091+unconfirmed-replies"
	// ImplUnconfirmed is the amqp091+confirms pair with no publisher
	// confirm at all, calls still mandatory with expiration and deadline
	// header: what the confirms of call and reply cost (rpc only).
	ImplUnconfirmed = "amqp091+unconfirmed"
	// ImplMixAgent is a plain client calling a servicebus agent, XML
	// envelope and tokens on both sides (rpc only).
	ImplMixAgent = "mix:amqp091-client+agent"
	// ImplMixSender is a servicebus sender calling a plain server, XML
	// envelope and tokens on both sides (rpc only).
	ImplMixSender = "mix:sender+amqp091-server"
)

// Impls are the implementations the bench knows, the floor first.
var Impls = []string{ImplFloor, ImplServicebus, ImplConfirms, ImplTraceContext, ImplUnconfirmedReplies, ImplUnconfirmed, ImplMixAgent, ImplMixSender}

// Server sides, started in the server process by name.
const (
	serverFloor            = "floor"
	serverFloorConfirms    = "floor+confirms"
	serverFloorTrace       = "floor+tracecontext"
	serverFloorUnconfirmed = "floor+unconfirmed" // acks after publishing: both unconfirmed experiments
	serverFloorXML         = "floor-xml"
	serverAgent            = "agent"
)

// serverOf is the server side that impl needs in mode, "" for none.
func serverOf(mode, impl string) string {
	if mode != ModeRPC {
		return ""
	}
	switch impl {
	case ImplFloor:
		return serverFloor
	case ImplConfirms:
		return serverFloorConfirms
	case ImplTraceContext:
		return serverFloorTrace
	case ImplUnconfirmedReplies, ImplUnconfirmed:
		return serverFloorUnconfirmed
	case ImplServicebus, ImplMixAgent:
		return serverAgent
	case ImplMixSender:
		return serverFloorXML
	}
	return ""
}

// supports reports whether impl has a form in mode: the experiments other
// than trace context are RPC only and are left out of send mode.
func supports(mode, impl string) bool {
	return mode == ModeRPC || impl == ImplFloor || impl == ImplServicebus || impl == ImplTraceContext
}

// wireOf is what the floor pair of impl does beyond plain amqp091-go.
func wireOf(impl string) floorWire {
	switch impl {
	case ImplConfirms:
		return floorWire{mandatory: true, confirms: true, replyConfirms: true}
	case ImplTraceContext:
		return floorWire{mandatory: true, confirms: true, replyConfirms: true, traceparent: benchTraceparent}
	case ImplUnconfirmedReplies:
		return floorWire{mandatory: true, confirms: true}
	case ImplUnconfirmed:
		return floorWire{mandatory: true}
	}
	return floorWire{}
}

// serverWire is what the floor server side kind does beyond plain
// amqp091-go.
func serverWire(kind string) floorWire {
	switch kind {
	case serverFloorConfirms:
		return wireOf(ImplConfirms)
	case serverFloorTrace:
		return wireOf(ImplTraceContext)
	case serverFloorUnconfirmed:
		return wireOf(ImplUnconfirmed)
	}
	return floorWire{}
}

// caller is the caller side of one implementation in the bench process.
type caller struct {
	call  func(ctx context.Context) error
	close func()
}

// target is one implementation of one mode, set up.
type target struct {
	mode, impl string
	queue      string
	server     string // the server side running in the server process, "" for none
	caller     caller
}

// queueName is the node queue of impl in mode; every run has its own
// suffix, so runs sharing a broker do not meet.
func queueName(mode, impl, suffix string) string {
	short := map[string]string{
		ImplFloor: "floor", ImplServicebus: "sb", ImplConfirms: "floorc", ImplTraceContext: "floort",
		ImplUnconfirmedReplies: "flooru", ImplUnconfirmed: "floorn",
		ImplMixAgent: "mixa", ImplMixSender: "mixs",
	}[impl]
	return "bench-" + short + "-" + mode + "-" + suffix
}

// queueNames are every queue a run with suffix may declare.
func queueNames(suffix string) []string {
	var names []string
	for _, mode := range []string{ModeRPC, ModeSend} {
		for _, impl := range Impls {
			if supports(mode, impl) {
				names = append(names, queueName(mode, impl, suffix))
			}
		}
	}
	return names
}

// newCaller starts the caller side of impl in mode, calling queue.
func newCaller(mode, impl, url string, topo topology.Topology, queue string, metrics bool) (caller, error) {
	switch {
	case mode == ModeRPC && (impl == ImplFloor || impl == ImplConfirms || impl == ImplTraceContext ||
		impl == ImplUnconfirmedReplies || impl == ImplUnconfirmed || impl == ImplMixAgent):
		request, check := plainRequest, plainCheck
		if impl == ImplMixAgent {
			request, check = xmlRequest(benchTokens()), xmlCheck
		}
		f, err := newFloorClient(url, topo, queue, wireOf(impl), request, check)
		if err != nil {
			return caller{}, err
		}
		return caller{call: f.call, close: f.close}, nil
	case impl == ImplServicebus || mode == ModeRPC && impl == ImplMixSender:
		return senderCaller(mode, url, topo, queue, metrics)
	case mode == ModeSend && (impl == ImplFloor || impl == ImplTraceContext):
		body, err := signedEnvelope()
		if err != nil {
			return caller{}, err
		}
		f, err := newFloorSend(url, topo, queue, body, wireOf(impl).traceparent)
		if err != nil {
			return caller{}, err
		}
		return caller{call: f.send, close: f.close}, nil
	}
	return caller{}, fmt.Errorf("%w: %s in %s mode", ErrOptions, impl, mode)
}

// startServer starts a server side in this (the server) process and
// returns its close.
func startServer(kind, url string, topo topology.Topology, queue string, metrics bool) (func(), error) {
	switch kind {
	case serverFloor, serverFloorConfirms, serverFloorTrace, serverFloorUnconfirmed, serverFloorXML:
		serve := floorSum
		if kind == serverFloorXML {
			serve = xmlServe(benchTokens())
		}
		s, err := startFloorServer(url, topo, queue, serverWire(kind), serve)
		if err != nil {
			return nil, err
		}
		return s.close, nil
	case serverAgent:
		a, err := startAgent(url, topo, queue, metrics)
		if err != nil {
			return nil, err
		}
		return func() { a.Close() }, nil
	}
	return nil, fmt.Errorf("%w: unknown server side %q", ErrServerProcess, kind)
}

// validImpl reports whether impl is one the bench knows.
func validImpl(impl string) bool { return slices.Contains(Impls, impl) }
