// Command servicebus calls, sends to and pings servicebus (and py-servicebus)
// nodes over RabbitMQ, runs the UDP log collector, and benchmarks the toolkit
// against plain amqp091-go.
//
//	servicebus call NODE-01.math.add '[1,2]'
//	servicebus send NODE-01.math.add '[1,2]'
//	servicebus ping NODE-01
//	servicebus bench --concurrency 1,16,64 --n 5000
//
// Run `servicebus help COMMAND` for the flags of a command.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes, the same for every command.
const (
	exitOK          = 0 // success
	exitRemote      = 1 // the service answered with an error
	exitUsage       = 2 // bad command line, bad JSON, bad config
	exitUnavailable = 3 // timeout (ours or the agent's), no route to the node, no broker reachable, agent shutting down
	// 128 + the signal's number when SIGINT (130) or SIGTERM (143) stopped a command: see signalError.
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	usage   string // first line of the help: the command's synopsis
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"call", "call an RPC service and print its result", "call [flags] NODE.CATEGORY.NAME [PARAMS_JSON]", runCall},
		{"send", "send to a message service; returns once the broker confirmed", "send [flags] NODE.CATEGORY.NAME [PARAMS_JSON]", runSend},
		{"ping", "measure the round trip to a node (per broker with --all)", "ping [flags] NODE", runPing},
		{"logd", "run the UDP log collector", "logd [flags]", runLogd},
		{"bench", "benchmark servicebus against plain amqp091-go", "bench [flags]", runBench},
		{"version", "print the version", "version", runVersion},
		{"help", "help for a command: servicebus help COMMAND", "help [COMMAND]", runHelp},
	}
}

const helpHelp = `Prints the list of commands, or with COMMAND that command's help (the same
as servicebus COMMAND --help).`

// runHelp is `help [COMMAND]`: the overview, or COMMAND --help.
func runHelp(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("help", "help [COMMAND]", helpHelp)
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	switch len(pos) {
	case 0:
		printUsage(stdout)
		return exitOK
	case 1:
	default:
		return usageErr(stderr, "help", fmt.Errorf("want one COMMAND, got %q", pos))
	}
	c, ok := lookup(pos[0])
	if !ok {
		fmt.Fprintf(stderr, "servicebus: unknown command %q (run 'servicebus help')\n", pos[0])
		return exitUsage
	}
	if c.name == "help" {
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK
	}
	return c.run([]string{"--help"}, stdout, stderr)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "-h", "-help", "--help":
		return runHelp(rest, stdout, stderr)
	case "-version", "--version":
		return runVersion(nil, stdout, stderr)
	}
	c, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "servicebus: unknown command %q (run 'servicebus help')\n", name)
		return exitUsage
	}
	return c.run(rest, stdout, stderr)
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString("servicebus: RPC and messages over RabbitMQ, wire-compatible with py-servicebus 2.x\n\n")
	b.WriteString("Usage:\n  servicebus COMMAND [flags] [args]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nConfig: --config FILE, then SERVICEBUS_* environment variables, then flags (flags win).\n")
	b.WriteString("Exit codes: 0 ok, 1 the service answered with an error, 2 usage or config error,\n")
	b.WriteString("3 timeout, no route to the node or no broker reachable, 130 interrupted by SIGINT\n")
	b.WriteString("(143: SIGTERM).\n")
	io.WriteString(w, b.String())
}
