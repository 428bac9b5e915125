// Package codec is the wire format of servicebus: the call and response
// envelopes of py-servicebus 2.x in XML, the wire vocabulary around them
// (headers, error codes, PING/PONG, the texts a py-servicebus caller knows),
// and the mapping between AMQP deliveries and Watermill messages. The tokens
// that authenticate a call are pkg/token's.
//
// # Envelopes
//
// A call (an Event) travels as
//
//	<?xml version="1.0"?>
//	<event version="1">
//	    <id>1</id>
//	    <token>095faf41ba5bc9066667b8618551eafd2ce23aaa</token>
//	    <catgory>math</catgory>
//	    <service>add</service>
//	    <params><![CDATA[[1, 2]]]></params>
//	</event>
//
// and its answer (a Response) as
//
//	<?xml version="1.0"?>
//	<response>
//	    <id>1</id>
//	    <message><![CDATA[3]]></message>
//	</response>
//
// EncodeEvent and EncodeResponse (and their Append forms, which reuse a
// buffer) write exactly this layout, byte for byte as py-servicebus does.
// Params are JSON; a Python agent writes Python's str() of its result into
// the message, a Go agent JSON. Text is XML-escaped, and a "]]>" inside
// params or a message is split across two CDATA sections (py-servicebus writes
// it unsplit, which is not well-formed XML).
//
// # Decoding untrusted bodies
//
// DecodeEvent and DecodeResponse are a hand-written scanner for the small XML
// subset of the envelopes, fast and with few allocations. They reject bodies
// over Options.MaxBodySize (ErrTooLarge), invalid UTF-8 (ErrInvalidUTF8),
// DOCTYPE and entity declarations (ErrForbiddenMarkup: no entity is ever
// expanded), and everything else that is not a well-formed envelope
// (ErrMalformed) — with a *DecodeError that says what and where, never a
// panic. Options.Strict accepts only what the py-servicebus parser accepts
// (the misspelt <catgory>, every field present); the lenient default also
// accepts <category>. Decoded params are checked to be JSON; other fields keep
// their text exactly (no trimming), so what AppendEvent writes decodes to the
// same Event.
//
// # Wire vocabulary
//
// wire.go names what travels besides the envelopes: the headers our agents
// and senders add (x-sb-deadline, x-sb-error-code, x-sb-error-message; a
// Python peer ignores them), the ErrorCode values of a structured error
// reply, the PING and PONG bodies of the liveness check, and the reply texts
// a py-servicebus caller knows ("Token not valid!", "Cannot Find RPC
// Service: ...").
//
// # Watermill
//
// Marshaler maps AMQP deliveries to Watermill messages and messages to AMQP
// publishings, keeping reply_to, correlation_id, expiration and the other
// properties as metadata (the Meta* keys) and accepting headers of any type.
//
// # Nomenclature
//
//	codec / servicebus      py-servicebus          AMQP
//	Event (call envelope)   event XML              message body
//	Response                response XML           reply message body
//	Event.ID                <id>                   (the sender also sets correlation_id)
//	Event.Category          <catgory>              —
//	Event.Service           <service>              —
//	Event.Params            <params> (JSON)        —
//	Event.Token             <token>, secret_token  —
//	node                    node_name              queue and routing key
//	MetaReplyTo             reply_to               reply-to property
//	MetaCorrelationID       correlation_id         correlation-id property
//	MetaExpiration          —                      expiration property (ms)
//	header x-sb-*           —                      message headers
package codec
