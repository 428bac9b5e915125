package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-servicebus/servicebus/pkg/rpc"
)

const callHelp = `Calls an RPC service and prints its result: as JSON when the agent answered
with JSON (servicebus agents do), as the raw text otherwise (py-servicebus
agents answer with Python's str() of the result). PARAMS_JSON defaults to null;
"-" reads it from standard input.

A timeout says what the node's queue shows: no consumer (is its agent
running?), messages waiting (the agent is behind), or neither (the agent took
the call and did not answer in time).

Exit codes: 0 ok, 1 the service answered with an error, 2 usage or config
error (bad flag, bad JSON, bad target), 3 timeout (also when the agent
answers that the deadline passed or that it is shutting down), no route to the
node or no broker reachable, 130 interrupted by SIGINT (143: SIGTERM).`

func runCall(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("call", "call [flags] NODE.CATEGORY.NAME [PARAMS_JSON]", callHelp)
	conn := addConnFlags(fs)
	conn.addTimeout(0, "deadline of the call (default: config call_timeout, 30s)")
	asJSON := fs.Bool("json", false, `print {"id": EVENT_ID, "result": RESULT} (RESULT a string when the answer is not JSON); errors as {"error": TEXT, "code": CODE}`)
	out := reporter{cmd: "call", stdout: stdout, stderr: stderr, json: jsonRequested(args)}
	pos, code := parseArgsReporting(fs, args, stdout, out)
	if code >= 0 {
		return code
	}
	log := newQuietLog("call", *conn.verbose, stderr)
	out.json, out.log = *asJSON, log
	s, target, params, code := conn.openTo(pos, log, out)
	if code >= 0 {
		return code
	}
	defer s.close()
	reply, err := s.sender.Call(s.op, target, params)
	if err != nil {
		return s.fail(out, err)
	}
	if *asJSON {
		var result any = reply.Raw
		if reply.IsJSON() {
			result = json.RawMessage(reply.Raw)
		}
		line, err := json.Marshal(struct {
			ID     string `json:"id"`
			Result any    `json:"result"`
		}{reply.ID, result})
		if err != nil { // cannot happen: Raw was checked to be JSON
			return out.fail(err)
		}
		fmt.Fprintf(stdout, "%s\n", line)
		return exitOK
	}
	raw := reply.Raw
	if reply.IsJSON() {
		raw = strings.TrimSpace(raw)
	}
	fmt.Fprintln(stdout, raw)
	return exitOK
}

// targetAndParams reads TARGET [PARAMS_JSON] and checks the JSON.
func targetAndParams(pos []string) (string, json.RawMessage, error) {
	switch len(pos) {
	case 0:
		return "", nil, fmt.Errorf("missing NODE.CATEGORY.NAME")
	case 1, 2:
	default:
		return "", nil, fmt.Errorf("too many arguments: %q (quote the params JSON as one argument)", pos[2:])
	}
	text := "null"
	if len(pos) == 2 {
		text = pos[1]
	}
	if text == "-" {
		data, err := io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
		if err != nil {
			return "", nil, fmt.Errorf("reading params from standard input: %w", err)
		}
		text = string(data)
	}
	if !json.Valid([]byte(text)) {
		var v any
		err := json.Unmarshal([]byte(text), &v)
		return "", nil, fmt.Errorf("params are not JSON: %v (%s)", err, abbreviate(text, 40))
	}
	if _, err := rpc.ParseTarget(pos[0]); err != nil {
		return "", nil, err
	}
	return pos[0], json.RawMessage(strings.TrimSpace(text)), nil
}

func abbreviate(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}
