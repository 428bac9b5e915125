package servicebus_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	amqp "github.com/rabbitmq/amqp091-go"

	servicebus "github.com/go-servicebus/servicebus"
	"github.com/go-servicebus/servicebus/pkg/codec"
	"github.com/go-servicebus/servicebus/pkg/token"
)

func envelopesConfig(mode servicebus.TokenMode) servicebus.Config {
	cfg := servicebus.DefaultConfig()
	cfg.SecretToken = "envelopes secret"
	cfg.TokenMode = mode
	cfg.CallTimeout = 7 * time.Second
	return cfg
}

// agentSees decodes msg as the agent does after codec.Marshaler carried it
// over AMQP: the publishing, then the delivery, then the envelope, and
// checks its token with the config's validator.
func agentSees(t *testing.T, cfg servicebus.Config, msg *message.Message) (amqp.Publishing, codec.Event) {
	t.Helper()
	pub, err := codec.Marshaler{}.Marshal(msg)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	delivered, _ := codec.Marshaler{}.Unmarshal(amqp.Delivery{
		Headers: pub.Headers, ReplyTo: pub.ReplyTo, CorrelationId: pub.CorrelationId, MessageId: pub.MessageId,
		Expiration: pub.Expiration, Timestamp: pub.Timestamp, DeliveryMode: pub.DeliveryMode, Body: pub.Body,
	})
	ev, err := codec.DecodeEvent(delivered.Payload, cfg.CodecOptions())
	if err != nil {
		t.Fatalf("DecodeEvent: %v\n%s", err, delivered.Payload)
	}
	headers := map[string]string{}
	for k, v := range delivered.Metadata {
		if !strings.HasPrefix(k, "amqp.") {
			headers[k] = v
		}
	}
	validator, err := cfg.TokenValidator()
	if err != nil {
		t.Fatal(err)
	}
	if err := validator.Validate(context.Background(), &ev, headers, time.Now()); err != nil {
		t.Errorf("the agent refuses the token: %v", err)
	}
	return pub, ev
}

func TestCallMessageIsWhatAnAgentExpectsOfACall(t *testing.T) {
	for _, mode := range []servicebus.TokenMode{servicebus.TokenDaily, servicebus.TokenHMAC, servicebus.TokenOff} {
		t.Run(string(mode), func(t *testing.T) {
			cfg := envelopesConfig(mode)
			envelopes, err := servicebus.NewEnvelopes(cfg)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Second)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			topic, msg, err := envelopes.CallMessage(ctx, "host.example.math.add", []int{1, 2}, "my-replies")
			if err != nil {
				t.Fatal(err)
			}
			if topic != "host.example" {
				t.Errorf("topic %q, want the node host.example", topic)
			}
			if msg.Context() != ctx {
				t.Error("the message's context is not ctx")
			}
			pub, ev := agentSees(t, cfg, msg)
			if ev.ID != msg.UUID || ev.Category != "math" || ev.Service != "add" || string(ev.Params) != "[1,2]" {
				t.Errorf("envelope %+v, message UUID %s", ev, msg.UUID)
			}
			if pub.ReplyTo != "my-replies" || pub.CorrelationId != msg.UUID || pub.MessageId != msg.UUID {
				t.Errorf("reply_to %q correlation_id %q message_id %q, want my-replies and the UUID %s twice", pub.ReplyTo, pub.CorrelationId, pub.MessageId, msg.UUID)
			}
			if pub.DeliveryMode != amqp.Transient {
				t.Errorf("delivery mode %d, want transient as a Sender's calls", pub.DeliveryMode)
			}
			if got := pub.Headers[codec.HeaderDeadline]; got != strconv.FormatInt(deadline.UnixMilli(), 10) {
				t.Errorf("x-sb-deadline %v, want %d", got, deadline.UnixMilli())
			}
			if ms, err := strconv.Atoi(pub.Expiration); err != nil || ms <= 0 || ms > 3000 {
				t.Errorf("expiration %q, want the milliseconds left (at most 3000)", pub.Expiration)
			}
			if time.Since(pub.Timestamp) > time.Minute {
				t.Errorf("timestamp %v", pub.Timestamp)
			}
			switch mode {
			case servicebus.TokenDaily:
				if ev.Token != token.DailyToken("envelopes secret", time.Now(), nil) {
					t.Errorf("token %q is not today's daily token", ev.Token)
				}
			case servicebus.TokenHMAC:
				if pub.Headers[token.HeaderSignature] == nil || pub.Headers[token.HeaderTimestamp] == nil {
					t.Errorf("hmac headers missing: %v", pub.Headers)
				}
			case servicebus.TokenOff:
				if ev.Token != "" || pub.Headers[token.HeaderSignature] != nil {
					t.Errorf("token %q headers %v with tokens off", ev.Token, pub.Headers)
				}
			}
		})
	}
}

func TestHMACSignedCallMessageCannotBeAltered(t *testing.T) {
	cfg := envelopesConfig(servicebus.TokenHMAC)
	envelopes, _ := servicebus.NewEnvelopes(cfg)
	_, msg, err := envelopes.CallMessage(context.Background(), "N.math.add", []int{1, 2}, "r")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := codec.DecodeEvent(msg.Payload, codec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev.Params = json.RawMessage("[1,3]")
	validator, _ := cfg.TokenValidator()
	headers := map[string]string{token.HeaderTimestamp: msg.Metadata.Get(token.HeaderTimestamp), token.HeaderSignature: msg.Metadata.Get(token.HeaderSignature)}
	if err := validator.Validate(context.Background(), &ev, headers, time.Now()); !errors.Is(err, token.ErrBadToken) {
		t.Errorf("altered params validated: %v", err)
	}
}

func TestCallMessageWithoutDeadlineGetsCallTimeout(t *testing.T) {
	cfg := envelopesConfig(servicebus.TokenDaily)
	envelopes, _ := servicebus.NewEnvelopes(cfg)
	before := time.Now()
	_, msg, err := envelopes.CallMessage(context.Background(), "N.math.add", nil, "r")
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := strconv.ParseInt(msg.Metadata.Get(codec.HeaderDeadline), 10, 64)
	got := time.UnixMilli(ms)
	if got.Before(before.Add(cfg.CallTimeout).Add(-time.Millisecond)) || got.After(time.Now().Add(cfg.CallTimeout)) {
		t.Errorf("deadline %v, want now + call_timeout (%s)", got, cfg.CallTimeout)
	}
	if ev, _ := codec.DecodeEvent(msg.Payload, codec.Options{}); string(ev.Params) != "null" {
		t.Errorf("nil params encoded as %q, want null", ev.Params)
	}
}

func TestSendMessageIsWhatAnAgentExpectsOfAMessage(t *testing.T) {
	cfg := envelopesConfig(servicebus.TokenDaily)
	envelopes, _ := servicebus.NewEnvelopes(cfg)
	topic, msg, err := envelopes.SendMessage(context.Background(), "NODE-01.log.write", map[string]string{"line": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	if topic != "NODE-01" {
		t.Errorf("topic %q", topic)
	}
	pub, ev := agentSees(t, cfg, msg)
	if ev.ID != msg.UUID || ev.Category != "log" || ev.Service != "write" || string(ev.Params) != `{"line":"hello"}` {
		t.Errorf("envelope %+v", ev)
	}
	if pub.DeliveryMode != amqp.Persistent {
		t.Errorf("delivery mode %d, want persistent", pub.DeliveryMode)
	}
	if pub.ReplyTo != "" || pub.CorrelationId != "" || pub.Expiration != "" || pub.Headers[codec.HeaderDeadline] != nil {
		t.Errorf("a message service send has reply_to %q correlation_id %q expiration %q headers %v", pub.ReplyTo, pub.CorrelationId, pub.Expiration, pub.Headers)
	}
	if pub.MessageId != msg.UUID {
		t.Errorf("message id %q, want %q", pub.MessageId, msg.UUID)
	}
}

func TestEnvelopesRefuseBadInput(t *testing.T) {
	envelopes, err := servicebus.NewEnvelopes(envelopesConfig(servicebus.TokenDaily))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done, cancel := context.WithCancel(ctx)
	cancel()
	for name, tc := range map[string]struct {
		build func() error
		is    error
		text  string
	}{
		"bad target":       {func() error { _, _, err := envelopes.SendMessage(ctx, "math.add", 1); return err }, servicebus.ErrBadTarget, "NODE.CATEGORY.NAME"},
		"bad call target":  {func() error { _, _, err := envelopes.CallMessage(ctx, "N..add", 1, "r"); return err }, servicebus.ErrBadTarget, ""},
		"no reply queue":   {func() error { _, _, err := envelopes.CallMessage(ctx, "N.math.add", 1, ""); return err }, nil, "empty replyTo"},
		"params not JSON":  {func() error { _, _, err := envelopes.SendMessage(ctx, "N.math.add", make(chan int)); return err }, nil, "encode params"},
		"deadline passed":  {func() error { _, _, err := envelopes.CallMessage(done, "N.math.add", 1, "r"); return err }, servicebus.ErrTimeout, "deadline passed"},
		"deadline matches": {func() error { _, _, err := envelopes.CallMessage(done, "N.math.add", 1, "r"); return err }, context.DeadlineExceeded, ""},
	} {
		err := tc.build()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v, want errors.Is %v", name, err, tc.is)
		}
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: %v, want it to say %q", name, err, tc.text)
		}
	}

	cfg := envelopesConfig(servicebus.TokenDaily)
	cfg.SecretToken = ""
	if _, err := servicebus.NewEnvelopes(cfg); err == nil || !strings.Contains(err.Error(), "secret_token") {
		t.Errorf("NewEnvelopes without a secret: %v", err)
	}
}
