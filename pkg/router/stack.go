package router

import "github.com/ThreeDotsLabs/watermill/message"

// growStack runs first on every handler of the agent. The goroutine that
// Watermill starts for each message begins with a small stack, which a
// service's JSON decoding (Request.Decode, deep under the middleware)
// outgrows; growing a stack copies it and adjusts every frame on it, so
// growing it there cost about 7 µs of agent CPU a call at 64 callers
// (servicebus bench --cpuprofile: runtime.copystack under encoding/json,
// 11 % of the agent's CPU). Grown here, with two frames on it, it costs
// little. (Before the subscriber parsed bodies, the envelope's decoding
// did this early by chance.)
func growStack(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		stackPad(len(msg.Payload))
		return h(msg)
	}
}

// stackPad has a frame of 4 KiB, which makes the runtime grow a smaller
// stack to at least 8 KiB at once.
//
//go:noinline
func stackPad(i int) byte {
	var pad [4 << 10]byte
	return pad[i&(len(pad)-1)]
}
