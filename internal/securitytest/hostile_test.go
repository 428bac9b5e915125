package securitytest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/testkit"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/router"
	"github.com/go-servicebus/servicebus/pkg/token"
	"github.com/go-servicebus/servicebus/pkg/topology"
)

// billionLaughs is the classic entity expansion bomb inside a call envelope.
const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE event [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<event version="1"><id>&lol9;</id><token></token><catgory>math</catgory><service>add</service><params><![CDATA[[1]]]></params></event>`

const externalEntity = `<?xml version="1.0"?>
<!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<event version="1"><id>&xxe;</id><token></token><catgory>math</catgory><service>add</service><params><![CDATA[[1]]]></params></event>`

// hostileBodies are inputs an attacker with publish rights sends to a node
// queue. Each must be refused before any service runs.
func hostileBodies() []struct {
	name string
	body []byte
	kind string // log/stat class: "too large" or "malformed"
} {
	call := func(id, params string) []byte { return testkit.PyCall(id, "", "text", "echo", params) }
	big := bytes.Repeat([]byte("1,"), codec.DefaultMaxBodySize/2)
	return []struct {
		name string
		body []byte
		kind string
	}{
		{"body over the limit", call("big", "["+string(big)+"1]"), "too large"},
		{"100000 unclosed [", call("deep", strings.Repeat("[", 100000)), "malformed"},
		{"100000 nested arrays", call("deep2", strings.Repeat("[", 100000)+strings.Repeat("]", 100000)), "malformed"},
		{"100000 nested objects", call("deep3", strings.Repeat(`{"a":`, 100000)+"1"+strings.Repeat("}", 100000)), "malformed"},
		{"NUL in id", call("a\x00b", "[1]"), "malformed"},
		{"NUL in params", call("nul", "[\"a\x00b\"]"), "malformed"},
		{"NUL before the root", append([]byte{0}, call("x", "[1]")...), "malformed"},
		{"invalid UTF-8 in id", call("\xff\xfe", "[1]"), "malformed"},
		{"invalid UTF-8 in params", call("u", "[\"\xc3\x28\"]"), "malformed"},
		{"overlong UTF-8 encoding of <", call("\xc0\xbc", "[1]"), "malformed"},
		{"billion laughs", []byte(billionLaughs), "malformed"},
		{"external entity", []byte(externalEntity), "malformed"},
		{"not XML", []byte("\x89PNG\r\n\x1a\n"), "malformed"},
		{"empty", []byte{}, "malformed"},
		{"unclosed CDATA", []byte(`<?xml version="1.0"?><event version="1"><id>1</id><catgory>m</catgory><service>s</service><params><![CDATA[[1]`), "malformed"},
		{"100000 nested elements", []byte(`<?xml version="1.0"?><event version="1"><id>1</id><catgory>m</catgory><service>s</service><x>` + strings.Repeat("<x>", 100000) + strings.Repeat("</x>", 100000) + `</x></event>`), "malformed"},
	}
}

// TestHostileInputIsRejectedAndTheAgentKeepsServing sends every hostile
// body as an RPC (it must get a bad_request answer) and as a message (it
// must be rejected), each with a log line, and checks between them that
// the agent still answers an honest call.
func TestHostileInputIsRejectedAndTheAgentKeepsServing(t *testing.T) {
	w := newWorld(t, "hostile")
	log := newCaptureLog()
	served := make(chan string, 100)
	agent := w.startAgent(token.NoTokens, log)
	agent.AddRPCService("spy", "ran", func(_ context.Context, req *router.Request) (any, error) {
		served <- req.ID
		return nil, nil
	})
	raw := w.rawClient()
	honest := func() {
		t.Helper()
		expectResult(t, raw.call(testkit.PyCall(uniq("ok"), "", "math", "add", "[40, 2]"), nil), "42")
	}
	honest()

	undecodable := 0
	for _, tc := range hostileBodies() {
		t.Run(tc.name, func(t *testing.T) {
			before := agent.Stats()
			d := raw.call(tc.body, nil)
			if errorCode(d) != string(codec.CodeBadRequest) {
				t.Fatalf("reply %.200q with code %q; want code %s", d.Body, errorCode(d), codec.CodeBadRequest)
			}
			// The answer is a well-formed response a py-servicebus caller reads.
			if _, err := codec.DecodeResponse(d.Body, codec.Options{}); err != nil {
				t.Fatalf("the error reply does not decode: %v", err)
			}
			undecodable++
			raw.publish(tc.body, nil, false)
			// The call was rejected after its answer; now the message too.
			testkit.Eventually(t, 10*time.Second, "the message rejected", func() bool { return agent.Stats().Rejected >= before.Rejected+2 })
			undecodable++

			after := agent.Stats()
			switch tc.kind {
			case "too large":
				if after.TooLarge != before.TooLarge+2 {
					t.Fatalf("TooLarge %d -> %d, want +2", before.TooLarge, after.TooLarge)
				}
			default:
				if after.Malformed != before.Malformed+2 {
					t.Fatalf("Malformed %d -> %d, want +2", before.Malformed, after.Malformed)
				}
			}
			honest()
		})
	}
	// Each rejection is logged, at most 10 a second of a kind (the next
	// line says how many were held back).
	if n := log.Count("undecodable delivery"); n == 0 || n > undecodable {
		t.Errorf("%d log lines for %d undecodable deliveries", n, undecodable)
	}
	// Log lines never carry the hostile bytes themselves (a log injection
	// or a 1 MiB line): no NUL, no invalid UTF-8, nothing huge.
	for _, l := range log.Lines() {
		if strings.ContainsRune(l.Text, 0) || !isUTF8(l.Text) || len(l.Text) > 4096 {
			t.Errorf("log line carries hostile bytes: %.300q", l.Text)
		}
	}
	select {
	case id := <-served:
		t.Fatalf("a hostile call ran a service (id %q)", id)
	default:
	}
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }

// TestOddHeadersDoNotBreakTheAgent: header values of every AMQP type, where
// our headers are expected as text, and reply_to/correlation id oddities.
func TestOddHeadersDoNotBreakTheAgent(t *testing.T) {
	w := newWorld(t, "headers")
	secret := uniq("secret")
	log := newCaptureLog()
	agent := w.startAgent(token.NewHMACTokens(secret, token.HMACOptions{}), log)
	raw := w.rawClient()
	signer := token.NewHMACTokens(secret, token.HMACOptions{})

	odd := []amqp.Table{
		{token.HeaderTimestamp: int64(1), token.HeaderSignature: []byte{0xff, 0}},
		{token.HeaderTimestamp: amqp.Table{"a": amqp.Table{"b": []any{1, "x", nil}}}, token.HeaderSignature: 3.5},
		{codec.HeaderDeadline: amqp.Table{"x": 1}, "x-death": []any{amqp.Table{"count": int64(3), "reason": "rejected"}}},
		{codec.HeaderDeadline: "not a number", token.HeaderTimestamp: "\xff\xfe", token.HeaderSignature: strings.Repeat("a", 64)},
		{codec.HeaderDeadline: amqp.Decimal{Scale: 2, Value: 12345}, "x-delivery-count": int32(7), "t": time.Now()},
	}
	// 30 levels: within amqp091-go's limit of 32; deeper ones are a
	// poison message (poison_test.go: TestPoisonHeaderDoesNotStopTheAgent).
	deep := amqp.Table{"v": "leaf"}
	for range 30 {
		deep = amqp.Table{"t": deep}
	}
	many := amqp.Table{}
	for i := range 2000 {
		many[fmt.Sprintf("x-h%d", i)] = []any{int64(i), "s", amqp.Table{"k": i}}
	}
	odd = append(odd, amqp.Table{"x-deep": deep}, many)
	for i, h := range odd {
		body, _ := signed(t, signer, uniq("ev"), "[1, 2]", time.Now())
		d := raw.call(body, h)
		if errorCode(d) != string(codec.CodeBadToken) {
			t.Fatalf("headers %d: reply %q code %q; want %s", i, d.Body, errorCode(d), codec.CodeBadToken)
		}
	}
	// A valid signature with an odd deadline header of another type is
	// served (the deadline is ignored, not fatal).
	body, tbl := signed(t, signer, uniq("ev"), "[1, 2]", time.Now())
	tbl[codec.HeaderDeadline] = amqp.Table{"x": 1}
	expectResult(t, raw.call(body, tbl), "3")

	// A reply_to that leads nowhere: the reply is dropped by the broker, the
	// agent goes on.
	before := agent.Stats().Received
	body, h := signed(t, signer, uniq("ev"), "[1, 2]", time.Now())
	pub := amqp.Publishing{Body: body, Headers: h, ReplyTo: uniq("nowhere"), CorrelationId: strings.Repeat("c", 255)}
	if err := raw.ch.PublishWithContext(context.Background(), w.topology.ExchangeName(), w.node, false, false, pub); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the call to nowhere handled", func() bool { return agent.Stats().Received > before })
	body, h = signed(t, signer, uniq("ev"), "[2, 2]", time.Now())
	expectResult(t, raw.call(body, h), "4")
}

// TestHostileMessageIsDeadLetteredInDurableTopology: in durable topology a
// refused message is not lost silently but kept in NODE.dead for inspection.
func TestHostileMessageIsDeadLetteredInDurableTopology(t *testing.T) {
	w := newWorld(t, "hostile-dlx")
	w.topology.Kind = topology.Durable
	t.Cleanup(func() {
		conn, err := w.endpoints[0].Dial()
		if err != nil {
			return
		}
		defer conn.Close()
		if ch, err := conn.Channel(); err == nil {
			_, _ = ch.QueueDelete(w.node+".dead", false, false, false)
			_ = ch.ExchangeDelete(w.topology.DeadLetterExchange(), false, false)
		}
	})
	agent := w.startAgent(token.NoTokens, newCaptureLog())
	raw := w.rawClient()
	raw.publish([]byte(billionLaughs), nil, false)
	testkit.Eventually(t, 10*time.Second, "the message rejected", func() bool { return agent.Stats().Rejected > 0 })
	testkit.Eventually(t, 10*time.Second, "the message in the dead-letter queue", func() bool {
		d, ok, err := raw.ch.Get(w.node+".dead", true)
		if err != nil {
			t.Fatal(err)
		}
		return ok && bytes.Equal(d.Body, []byte(billionLaughs))
	})
	expectResult(t, raw.call(testkit.PyCall(uniq("ok"), "", "math", "add", "[1, 1]"), nil), "2")
}
