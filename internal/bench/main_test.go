package bench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"go.uber.org/goleak"
)

// serverProcessEnv makes the test binary the bench's server process, as
// `servicebus bench --server-process` makes the CLI.
const serverProcessEnv = "SERVICEBUS_BENCH_TEST_SERVER_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(serverProcessEnv) == "1" {
		if err := Serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testServerCommand starts this test binary as the server process.
func testServerCommand() *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), serverProcessEnv+"=1")
	return cmd
}
