package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-servicebus/servicebus"
)

// newFlagSet is a FlagSet that reports nothing itself: parseArgs prints help
// to stdout on --help and one error line to stderr on a bad flag.
func newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: servicebus %s\n\n%s\n", synopsis, description)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses flags anywhere on the command line (before, between and
// after the positional arguments; everything after "--" is positional). It
// returns the positional arguments and -1, or an exit code when the command
// is done: 0 after printing help, 2 after a usage error.
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, int) {
	return parseArgsReporting(fs, args, stdout, reporter{cmd: fs.Name(), stderr: stderr})
}

// parseArgsReporting is parseArgs reporting a usage error through out (as
// JSON with --json).
func parseArgsReporting(fs *flag.FlagSet, args []string, stdout io.Writer, out reporter) ([]string, int) {
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return nil, exitOK
		}
		if err != nil {
			return nil, out.usage(err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, -1
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), -1
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usageErr prints a usage error in one line and returns exitUsage.
func usageErr(stderr io.Writer, cmd string, err error) int {
	return reporter{cmd: cmd, stderr: stderr}.usage(err)
}

// oneLine joins the lines of a multi-line error (errors.Join) with "; ".
// The root package's "servicebus: " prefix is dropped: the command's line
// starts "servicebus CMD: " already.
func oneLine(err error) string {
	return strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n", "; "), "servicebus: ")
}

// connFlags are the config flags of the commands that talk to a broker.
// Precedence: --config FILE < SERVICEBUS_* environment < these flags.
type connFlags struct {
	fs       *flag.FlagSet
	config   *string
	verbose  *bool
	timeout  *durationFlag
	fromFlag map[string]string // flag name -> config key
}

func addConnFlags(fs *flag.FlagSet) *connFlags {
	c := &connFlags{fs: fs, fromFlag: map[string]string{}}
	c.config = fs.String("config", os.Getenv("SERVICEBUS_CONFIG"), "YAML config `FILE` (default $SERVICEBUS_CONFIG)")
	c.verbose = fs.Bool("verbose", false, "log connection events to stderr (else one line per failure)")
	str := func(name, key, usage string) {
		fs.String(name, "", usage+" (config "+key+", env "+servicebus.EnvName(key)+")")
		c.fromFlag[name] = key
	}
	str("hosts", "hosts", "comma-separated brokers: host, host:port or amqp(s)://host:port")
	fs.Int("port", 0, "broker port for hosts without one (config port, env SERVICEBUS_PORT)")
	c.fromFlag["port"] = "port"
	str("user", "user", "broker user")
	str("password", "password", "broker password (prefer the environment: flags show in ps)")
	str("vhost", "vhost", "broker virtual host")
	str("exchange", "exchange_name", "exchange of the calls")
	str("token-mode", "token_mode", "daily, hmac or off; the secret comes from secret_token")
	str("topology", "topology", "compat or durable")
	return c
}

// addTimeout adds --timeout, the deadline of the command (config
// call_timeout), in the forms the config takes: "1.5s", "500ms" or plain
// seconds "5". def is its default; 0 means call_timeout's.
func (c *connFlags) addTimeout(def time.Duration, usage string) {
	c.timeout = &durationFlag{d: def}
	c.fs.Var(c.timeout, "timeout", usage+`: "1.5s", "500ms" or seconds "5"`)
}

// load builds the config: defaults, then the --config file, then the
// environment, then the flags that were given; then validates it. Every
// problem of every layer comes back in one error; warnings (an unknown
// SERVICEBUS_* variable) go to log.
func (c *connFlags) load(log *quietLog) (servicebus.Config, error) {
	opts := []servicebus.LoadOption{servicebus.WithLogger(log)}
	c.fs.Visit(func(f *flag.Flag) {
		if key, ok := c.fromFlag[f.Name]; ok {
			opts = append(opts, servicebus.WithOverride("--"+f.Name, key, f.Value.String()))
		}
	})
	if c.timeout != nil && c.timeout.d > 0 {
		opts = append(opts, servicebus.WithOverride("--timeout", "call_timeout", c.timeout.d.String()))
	}
	return servicebus.LoadConfig(*c.config, opts...)
}

// durationFlag is a duration in the config's forms (servicebus.ParseDuration).
type durationFlag struct{ d time.Duration }

func (f *durationFlag) String() string {
	if f == nil || f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(text string) error {
	d, err := servicebus.ParseDuration(text)
	if err != nil {
		return errors.New(`not a duration ("1.5s", "500ms" or seconds: "5")`)
	}
	if d <= 0 {
		return fmt.Errorf("%s is not positive", d)
	}
	f.d = d
	return nil
}

// jsonRequested reports whether the command line asks for --json (before
// any "--"), so that even an error in the other flags comes out as JSON.
func jsonRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-json", "--json", "-json=true", "--json=true", "-json=1", "--json=1":
			return true
		}
	}
	return false
}
