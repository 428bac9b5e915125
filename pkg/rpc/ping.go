package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// PingResult is what PingAll found out, one entry per broker in config order.
type PingResult struct {
	Brokers  int // brokers asked
	Answered int // brokers over which the node answered
	Paths    []PathPing
}

// PathPing is the outcome of a ping over one broker.
type PathPing struct {
	Endpoint string
	RTT      time.Duration // 0 when Err is set
	Err      error
}

// Ping sends PING to node's queue over the first healthy broker and returns
// the round-trip time of the PONG.
func (s *Sender) Ping(ctx context.Context, node string) (time.Duration, error) {
	return s.ping(ctx, node, -1)
}

// PingAll pings node over every broker at once and reports how many
// answered. The error is nil when at least one did.
func (s *Sender) PingAll(ctx context.Context, node string) (PingResult, error) {
	if err := checkNode(node); err != nil {
		return PingResult{}, fmt.Errorf("%w: %w", ErrBadTarget, err)
	}
	n := len(s.paths)
	res := PingResult{Brokers: n, Paths: make([]PathPing, n)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rtt, err := s.ping(ctx, node, i)
			res.Paths[i] = PathPing{Endpoint: s.cfg.Endpoints[i].String(), RTT: rtt, Err: err}
		}()
	}
	wg.Wait()
	var errs []error
	for _, p := range res.Paths {
		if p.Err == nil {
			res.Answered++
		} else {
			errs = append(errs, fmt.Errorf("%s: %w", p.Endpoint, p.Err))
		}
	}
	if res.Answered == 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

func (s *Sender) ping(ctx context.Context, node string, path int) (time.Duration, error) {
	if err := checkNode(node); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadTarget, err)
	}
	if s.closed() {
		return 0, ErrClosed
	}
	ctx, cancel := s.withDeadline(ctx)
	defer cancel()
	start := time.Now()
	id := s.newID()
	msg, err := s.request(ctx, start, id, nil)
	if err != nil {
		return 0, err
	}
	msg.Body = codec.PingBody
	// Pings are remembered per path for agents that answer PONG without
	// the correlation id; any path may carry it when path < 0.
	for _, rp := range s.pathsFor(path) {
		rp.addPing(id)
	}
	defer func() {
		for _, rp := range s.pathsFor(path) {
			rp.removePing(id)
		}
	}()
	r, err := s.roundTrip(ctx, node, id, msg, path)
	if err != nil {
		return 0, s.callError(ctx, node+" (ping)", err)
	}
	if !bytes.Equal(r.body, codec.PongBody) {
		return 0, fmt.Errorf("rpc: ping %s: unexpected answer %q", node, truncate(r.body, 64))
	}
	return time.Since(start), nil
}

func (s *Sender) pathsFor(path int) []*replyPath {
	if path < 0 {
		return s.paths
	}
	return s.paths[path : path+1]
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
