package plugin

import (
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether f is a terminal; progress is only for people.
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
