package codec

import (
	"encoding/json"
)

// Event is the call envelope of py-servicebus 2.x: what a sender publishes to
// a node queue. Params holds the JSON text of the params CDATA section.
type Event struct {
	Version  string // the root's version attribute; "1" for everything we write
	ID       string
	Token    string
	Category string
	Service  string
	Params   json.RawMessage
}

// Response is the reply envelope: the event id and the result text. A Go agent
// writes JSON there; a Python agent writes Python's str() of the result.
type Response struct {
	ID      string
	Message string
}
