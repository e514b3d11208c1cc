package main

import (
	"flag"
	"io"
	"testing"
)

// parseOptions parses and validates the manager's command line as run does,
// so flag tests see exactly what the manager would refuse.
func parseOptions(t *testing.T, args ...string) (*options, error) {
	t.Helper()
	var o options
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.bind(fs)
	if err := fs.Parse(args); err != nil {
		return &o, err
	}
	return &o, o.validate()
}
