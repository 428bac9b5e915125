package router

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/go-servicebus/servicebus/pkg/codec"
)

// Decode parses a message's payload, the py-servicebus call envelope, and
// puts the *Request into the message's context (RequestFromContext) for the
// middleware and the service after it. The request's metadata comes from
// the message's codec.Marshaler metadata (reply_to, correlation id,
// redelivered, the deadline, every header).
//
// A PING payload with a reply_to is answered PONG here and goes no further.
// A payload that does not decode (or is over Codec.MaxBodySize) is an
// *Error with codec.CodeBadRequest: Answer replies it to a call; an agent
// then rejects the delivery instead of acking it, like any bad input.
//
// In an agent the subscriber has parsed the delivery already (it must, to
// hand it to its service's handler); Decode then takes that result, so a
// body is parsed once.
type Decode struct {
	// Codec sets the decoder's limits and strictness.
	Codec codec.Options
	// Caller is what Request.Sender returns; nil: nothing.
	Caller Caller
	// Observer learns of OutcomePong, OutcomeMalformed and OutcomeTooLarge.
	Observer Observer
}

// Middleware is Decode as Watermill handler middleware.
func (d Decode) Middleware(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		var dec decoded
		dl := deliveryFrom(msg)
		parsed := dl != nil && dl.decoded.done
		if parsed {
			dec = dl.decoded
		} else {
			dec = decodeMessage(msg, d.Codec, new(Request))
		}
		switch {
		case dec.ping:
			d.Observer.observe(msg, OutcomePong, nil)
			return []*message.Message{pongReply(msg)}, nil
		case dec.err != nil:
			o := OutcomeMalformed
			if errors.Is(dec.err, codec.ErrTooLarge) {
				o = OutcomeTooLarge
			}
			d.Observer.observe(msg, o, dec.err)
			return nil, &Error{Code: codec.CodeBadRequest, Message: dec.err.Error(), Err: dec.err}
		}
		dec.req.caller = d.Caller
		if !parsed { // else RequestFromContext finds it in the delivery
			msg.SetContext(context.WithValue(msg.Context(), requestKey{}, dec.req))
		}
		return h(msg)
	}
}

// decoded is what a payload turned out to be: a ping, a request or an error.
type decoded struct {
	done bool // decodeMessage ran
	ping bool
	req  *Request
	err  error
}

// decodeMessage parses msg's payload as Decode does, without side effects,
// so that the agent's subscriber can route on the result and Decode can
// use it later. A request is made in req, which the agent keeps in the
// delivery, so that it costs no heap object of its own.
func decodeMessage(msg *message.Message, opts codec.Options, req *Request) decoded {
	md := msg.Metadata
	if md[codec.MetaReplyTo] != "" && codec.IsPing(msg.Payload) {
		return decoded{done: true, ping: true}
	}
	ev, err := codec.DecodeEvent(msg.Payload, opts)
	if err != nil {
		return decoded{done: true, err: err}
	}
	*req = Request{
		ID:       ev.ID,
		Category: ev.Category,
		Service:  ev.Service,
		Token:    ev.Token,
		Params:   ev.Params,
		Meta: Metadata{
			Redelivered:   md[codec.MetaRedelivered] == "true",
			ReplyTo:       md[codec.MetaReplyTo],
			CorrelationID: md[codec.MetaCorrelationID],
			Deadline:      deadlineOf(md),
			Headers:       md,
		},
		event: ev,
	}
	return decoded{done: true, req: req}
}

// deadlineOf reads the sender's deadline: the x-sb-deadline header, else the
// AMQP timestamp plus expiration. The timestamp has whole seconds only, so
// a second is added rather than refusing calls that still have time.
func deadlineOf(md message.Metadata) time.Time {
	if v := md[codec.HeaderDeadline]; v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
			return time.UnixMilli(ms)
		}
	}
	exp, ts := md[codec.MetaExpiration], md[codec.MetaTimestamp]
	if exp == "" || ts == "" {
		return time.Time{}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}
	}
	if ms, err := strconv.ParseInt(exp, 10, 64); err == nil && ms >= 0 {
		return time.Unix(sec, 0).Add(time.Duration(ms)*time.Millisecond + time.Second)
	}
	return time.Time{}
}
