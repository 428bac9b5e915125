// Package token holds the schemes that authenticate a call: a Signer puts
// credentials on an outgoing event, a Validator checks them on arrival.
//
// # Nomenclature
//
//	token / servicebus      py-servicebus              AMQP
//	DailyTokens             secret_token               <token> in the event body
//	HMACTokens              —                          headers x-sb-ts, x-sb-sig (and, with
//	                                                   Compat, the daily <token> too)
//	NoTokens                (tokens off)               —
//	ErrBadToken             "Token not valid!" reply   —
//
// # Schemes
//
// DailyTokens is py-servicebus's scheme, for Python peers:
// hex(sha1(secret + " - " + date)), valid from the day before to the day
// after, not bound to the message: anyone who saw one message can send any
// message for up to three days. HMACTokens binds an HMAC-SHA256 signature to
// the event's id, category, service, params and a timestamp, and refuses
// timestamps outside the clock skew and ids it saw within the replay window;
// with Compat it also sets the daily token so py-servicebus agents accept
// its calls. In hmac mode replies are signed too (ReplySigner,
// ReplyVerifier): the agent binds the call's id, the correlation id, the
// body and the error headers, under a domain of their own, and the sender
// drops a reply that does not verify (with Compat, only unsigned replies
// pass unchecked: py-servicebus agents cannot sign). NoTokens signs nothing and accepts everything: a deployment
// must choose it in so many words.
//
// A Validator of your own (an auth service, say) plugs in wherever a
// Validator is taken; its rejections should wrap ErrBadToken.
//
// # Secrets
//
// A secret never appears in an error or in the fmt output of these types:
// every verb prints it as [REDACTED].
package token
