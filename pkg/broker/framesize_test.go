package broker_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/go-servicebus/servicebus/internal/brokertest"
	"github.com/go-servicebus/servicebus/pkg/broker"
)

// HeaderFrameSize must be exact. CheckSize keeps to the spec (a frame of at
// most frame_max bytes, header and end octet included); RabbitMQ 3.10
// closes the connection (FRAME_ERROR) only from frame_max+9 on. So: a frame
// of frame_max bytes passes both, one of frame_max+9 neither.
func TestHeaderFrameSizeMatchesWhatTheBrokerAccepts(t *testing.T) {
	url := brokertest.RequireBroker(t)
	publishOfSize := func(size int) (amqp.Publishing, int) {
		msg := amqp.Publishing{
			ContentType: "text/plain", DeliveryMode: amqp.Persistent, CorrelationId: "c-1", ReplyTo: "r",
			MessageId: "m-1", Timestamp: time.Now(), Expiration: "60000",
			Headers: amqp.Table{"x-int": int32(7), "x-bool": true, "x-nested": amqp.Table{"a": "b"}, "x-pad": ""},
		}
		msg.Headers["x-pad"] = strings.Repeat("p", size-broker.HeaderFrameSize(&msg))
		return msg, broker.HeaderFrameSize(&msg)
	}
	for _, tc := range []struct {
		over  int
		fatal bool
	}{{0, false}, {9, true}} {
		conn, err := amqp.Dial(url)
		if err != nil {
			t.Fatal(err)
		}
		frameMax := conn.Config.FrameSize
		msg, size := publishOfSize(frameMax + tc.over)
		if size != frameMax+tc.over {
			t.Fatalf("built a header of %d bytes, want %d", size, frameMax+tc.over)
		}
		checkErr := broker.CheckSize(conn, &msg)
		if tc.fatal && !errors.Is(checkErr, broker.ErrTooLarge) || !tc.fatal && checkErr != nil {
			t.Fatalf("header of %d bytes (frame_max %d): CheckSize = %v", size, frameMax, checkErr)
		}
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Confirm(false); err != nil {
			t.Fatal(err)
		}
		dc, err := ch.PublishWithDeferredConfirm("", "sbtest-nobody-framesize", false, false, msg)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case amqpErr := <-closed:
			if !tc.fatal {
				t.Fatalf("a header of exactly frame_max (%d) bytes closed the connection: %v", frameMax, amqpErr)
			}
			if amqpErr == nil || amqpErr.Code != amqp.FrameError {
				t.Fatalf("connection closed with %v, want FRAME_ERROR", amqpErr)
			}
		case <-dc.Done():
			if tc.fatal {
				t.Fatalf("a header of frame_max+9 (%d) bytes was taken: the test no longer proves the bound", size)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("neither a confirm nor a close")
		}
		_ = conn.Close()
	}
}
