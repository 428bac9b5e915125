package broker

import "errors"

// ErrClosed is returned by a Path that was closed. It is the root of every
// "closed" error of servicebus: the ErrClosed of each package (failover,
// rpc, router, the root package) wraps it, so errors.Is(err,
// broker.ErrClosed) answers "was it closed?" whichever layer said so.
var ErrClosed = errors.New("broker: closed")

// ErrTooLarge means a message cannot be published as it is: its properties
// and headers do not fit one frame of the connection (the broker's
// frame_max), or its body is over the broker's largest message. Sent anyway,
// the first closes the whole connection (FRAME_ERROR) and the second the
// channel, failing every publish in flight with it; so it is refused before
// it is written, and no other broker is tried.
var ErrTooLarge = errors.New("broker: message too large for the broker")
