package codec_test

import (
	"testing"

	"go.uber.org/goleak"
)

// The watermill-amqp tests start subscribers; none may outlive its test.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
