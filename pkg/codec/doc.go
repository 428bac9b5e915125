// Package codec is the wire format of servicebus: the call and response
// envelopes of py-servicebus 2.x in XML, the tokens that authenticate a call,
// and the mapping between AMQP deliveries and Watermill messages.
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
// # Tokens
//
// A TokenSigner puts credentials on an outgoing event, a TokenValidator checks
// them on arrival. DailyTokens is py-servicebus's scheme, for Python peers:
// hex(sha1(secret + " - " + date)), valid from the day before to the day
// after, not bound to the message. HMACTokens binds a signature to id,
// category, service, params and a timestamp (headers x-sb-ts, x-sb-sig), and
// refuses stale timestamps and replayed ids. NoTokens turns checks off.
// Secrets never appear in errors or in fmt output of these types.
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
