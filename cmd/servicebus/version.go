package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at link time: go build -ldflags "-X main.version=v1.2.3".
// Empty means: read it from the build info (go install module@version puts
// the module version there; a build in the repository gives VCS data).
var version string

func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "version", "Prints the version of servicebus, the Go version and the VCS revision.")
	pos, code := parseArgs(fs, args, stdout, stderr)
	if code >= 0 {
		return code
	}
	if len(pos) > 0 {
		return usageErr(stderr, "version", fmt.Errorf("unexpected argument %q", pos[0]))
	}
	fmt.Fprintln(stdout, versionString())
	return exitOK
}

func versionString() string {
	v, rev, dirty := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	s := "servicebus " + v + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += " rev " + rev
		if dirty {
			s += "+dirty"
		}
	}
	return s
}
