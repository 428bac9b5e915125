package securitytest

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The test binary doubles as an attacker process that publishes huge
	// replies, so that their bytes are not in the sender's process.
	if spec := os.Getenv(hugeRepliesEnv); spec != "" {
		os.Exit(publishHugeReplies(spec))
	}
	goleak.VerifyTestMain(m)
}
