package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/go-servicebus/servicebus/pkg/topology"
)

// The server process runs the server sides (agent, floor server) apart from
// the callers, so that getrusage and ReadMemStats of each process measure
// one side. The bench process talks to it over the child's stdin and stdout,
// one JSON object a line each way, one request at a time. The broker URL
// goes over the pipe, never on a command line that ps shows.

// request is one order of the bench process to its server process.
type request struct {
	Op       string    `json:"op"`               // opProfile, opStart, opStop, opUsage
	Server   string    `json:"server,omitempty"` // opStart: which server side
	URL      string    `json:"url,omitempty"`    // opStart
	Queue    string    `json:"queue,omitempty"`  // opStart, opStop: the node queue, which names the side
	Profiles *Profiles `json:"profiles,omitempty"`
	GC       bool      `json:"gc,omitempty"`      // opUsage: collect garbage and free memory first
	Sample   float64   `json:"sample,omitempty"`  // opTracing: Options.TraceSample
	Metrics  bool      `json:"metrics,omitempty"` // opStart: the agent exports metrics (Options.Metrics)
}

const (
	opProfile = "profile" // start profiles; they are written when the process ends
	opStart   = "start"   // start a server side; answered once it consumes
	opStop    = "stop"    // close a server side
	opUsage   = "usage"   // read the process's usage
	// opTracing (tracing.go): turn tracing on
)

// response answers one request.
type response struct {
	Err   string `json:"err,omitempty"`
	Usage Usage  `json:"usage"`
}

// Serve is the server process: it serves the requests of the bench process
// read from in, answering on out, until in ends; then it closes its server
// sides and writes its profiles. The command that Options.ServerCommand
// starts must call it with its stdin and stdout.
func Serve(in io.Reader, out io.Writer) (err error) {
	dec := json.NewDecoder(in)
	enc := json.NewEncoder(out)
	servers := map[string]func(){}
	stopProfiles := func() error { return nil }
	stopTracing := func() error { return nil }
	defer func() {
		for _, stop := range servers {
			stop()
		}
		err = errors.Join(err, stopProfiles(), stopTracing())
	}()
	topo := topology.Topology{}
	for {
		var req request
		if err := dec.Decode(&req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%w: read request: %w", ErrServerProcess, err)
		}
		var resp response
		switch req.Op {
		case opProfile:
			if req.Profiles != nil {
				stop, err := req.Profiles.start()
				if err != nil {
					resp.Err = err.Error()
				} else {
					stopProfiles = stop
				}
			}
		case opStart:
			if _, dup := servers[req.Queue]; dup {
				resp.Err = fmt.Sprintf("queue %s already served", req.Queue)
				break
			}
			stop, err := startServer(req.Server, req.URL, topo, req.Queue, req.Metrics)
			if err != nil {
				resp.Err = err.Error()
			} else {
				servers[req.Queue] = stop
			}
		case opStop:
			if stop, ok := servers[req.Queue]; ok {
				stop()
				delete(servers, req.Queue)
			}
		case opTracing:
			stopTracing = tracingOn(req.Sample)
		case opUsage:
			if req.GC {
				debug.FreeOSMemory()
			}
			resp.Usage = readUsage()
		default:
			resp.Err = fmt.Sprintf("unknown op %q", req.Op)
		}
		if err := enc.Encode(resp); err != nil {
			return fmt.Errorf("%w: write response: %w", ErrServerProcess, err)
		}
	}
}

// serverRequestTimeout bounds one request; starting an agent takes the
// longest (agentStartTimeout).
const serverRequestTimeout = agentStartTimeout + 15*time.Second

// serverExitTimeout bounds the server process's shutdown after its stdin
// closed, before it is killed.
const serverExitTimeout = 30 * time.Second

// serverProcess is the bench process's handle on its server process.
type serverProcess struct {
	cmd    *exec.Cmd
	in     *os.File // the child's stdin, our end
	out    *os.File // the child's stdout, our end
	enc    *json.Encoder
	dec    *json.Decoder
	mu     sync.Mutex // one request at a time
	exited chan struct{}
	err    error // of cmd.Wait, once exited is closed
}

// startServerProcess starts the command and asks it to start profiles.
func startServerProcess(cmd *exec.Cmd, profiles Profiles) (*serverProcess, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrServerProcess, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("%w: %w", ErrServerProcess, err)
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	// Its own process group: a Ctrl-C reaches the bench alone, which then
	// closes the pipe, and the server process closes its sides in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	// Our copies of the child's ends: closed, so that a dead child reads
	// as EOF here.
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("%w: start %s: %w", ErrServerProcess, cmd.Path, err)
	}
	p := &serverProcess{cmd: cmd, in: inW, out: outR, enc: json.NewEncoder(inW), dec: json.NewDecoder(outR), exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	if profiles != (Profiles{}) {
		sp := profiles.forServer()
		if _, err := p.do(request{Op: opProfile, Profiles: &sp}); err != nil {
			p.close()
			return nil, err
		}
	}
	return p, nil
}

// do sends one request and waits for its answer. A process that does not
// answer in time is killed: the bench cannot go on without it.
func (p *serverProcess) do(req request) (Usage, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	type result struct {
		resp response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		var r result
		if r.err = p.enc.Encode(req); r.err == nil {
			r.err = p.dec.Decode(&r.resp)
		}
		got <- r
	}()
	timer := time.NewTimer(serverRequestTimeout)
	defer timer.Stop()
	select {
	case r := <-got:
		if r.err != nil {
			return Usage{}, fmt.Errorf("%w: %s: %w%s", ErrServerProcess, req.Op, r.err, p.exitStatus())
		}
		if r.resp.Err != "" {
			return Usage{}, fmt.Errorf("%w: %s %s: %s", ErrServerProcess, req.Op, req.Server, r.resp.Err)
		}
		return r.resp.Usage, nil
	case <-timer.C:
		p.cmd.Process.Kill()
		<-got // the pipe closes with the process
		return Usage{}, fmt.Errorf("%w: %s: no answer within %s (killed)", ErrServerProcess, req.Op, serverRequestTimeout)
	}
}

// exitStatus says how the process ended, if it has.
func (p *serverProcess) exitStatus() string {
	select {
	case <-p.exited:
		return fmt.Sprintf(" (server process exited: %v)", p.err)
	case <-time.After(time.Second):
		return ""
	}
}

func (p *serverProcess) start(server, url, queue string, metrics bool) error {
	_, err := p.do(request{Op: opStart, Server: server, URL: url, Queue: queue, Metrics: metrics})
	return err
}

func (p *serverProcess) stop(queue string) error {
	_, err := p.do(request{Op: opStop, Queue: queue})
	return err
}

func (p *serverProcess) usage(gc bool) (Usage, error) { return p.do(request{Op: opUsage, GC: gc}) }

// close ends the process: its stdin closes, it closes its server sides and
// writes its profiles, and exits; killed if it takes longer than
// serverExitTimeout.
func (p *serverProcess) close() error {
	p.in.Close()
	defer p.out.Close()
	select {
	case <-p.exited:
	case <-time.After(serverExitTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%w: did not exit within %s (killed)", ErrServerProcess, serverExitTimeout)
	}
	if p.err != nil {
		return fmt.Errorf("%w: %w", ErrServerProcess, p.err)
	}
	return nil
}
