package router

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on what the agent echoes from a request. A caller that holds a
// valid token can still send a service name of megabytes; echoed whole into
// an error header it would make a reply frame the broker refuses by closing
// the connection, and logged whole it would flood the log.
const (
	// MaxReplyText bounds an error text in a reply (body and
	// x-sb-error-message header) and an echoed event id.
	MaxReplyText = 1024
	// maxLogField bounds a field logged from a request.
	maxLogField = 128
)

// clip returns s cut to at most n bytes on a rune boundary, marked with
// "…" when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

// clipLog is clip for log fields, with the full length noted.
func clipLog(s string) string {
	if len(s) <= maxLogField {
		return s
	}
	return clip(s, maxLogField) + " (" + strconv.Itoa(len(s)) + " bytes)"
}

// directReplyTo is RabbitMQ's pseudo-queue for direct reply-to; the name
// a consumer's caller sends is this, a dot, the base64 of the consuming
// channel's Erlang pid and a dot and the base64 of a 16-byte key.
const directReplyTo = "amq.rabbitmq.reply-to"

// errBadReplyTo is why a reply is not published: RabbitMQ closes the whole
// connection (541 INTERNAL_ERROR) on a direct reply-to name it cannot
// decode, and a channel on a routing key over 255 bytes.
var errBadReplyTo = errors.New("router: reply_to is not a valid address")

// checkReplyTo refuses reply_to values whose publish would cost the
// connection.
func checkReplyTo(replyTo string) error {
	if len(replyTo) > 255 {
		return fmt.Errorf("%w: %d bytes, AMQP allows 255", errBadReplyTo, len(replyTo))
	}
	rest, ok := strings.CutPrefix(replyTo, directReplyTo+".")
	if !ok {
		return nil // a queue name: an unknown one drops the reply, nothing worse
	}
	pid, key, ok := strings.Cut(rest, ".")
	if !ok {
		return fmt.Errorf("%w: direct reply-to name without a key", errBadReplyTo)
	}
	rawPid, err := base64.StdEncoding.DecodeString(pid)
	// An Erlang external term of a pid: version 131, then NEW_PID_EXT (88)
	// or PID_EXT (103).
	if err != nil || len(rawPid) < 3 || rawPid[0] != 131 || (rawPid[1] != 88 && rawPid[1] != 103) {
		return fmt.Errorf("%w: direct reply-to name with a malformed channel id", errBadReplyTo)
	}
	if rawKey, err := base64.StdEncoding.DecodeString(key); err != nil || len(rawKey) != 16 {
		return fmt.Errorf("%w: direct reply-to name with a malformed key", errBadReplyTo)
	}
	return nil
}
