// Command kubectl-chatgroup is the kubectl plugin of the chatgroup-operator:
// on the PATH, `kubectl chatgroup ...` runs it. The logic is in
// internal/plugin; `kubectl chatgroup --help` lists the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/chatgroup-operator/chatgroup-operator/internal/plugin"
)

func main() {
	// Ctrl-C cancels the context: an import stops between calls and keeps
	// what it wrote whole.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := plugin.Main(ctx, os.Args[1:], plugin.Env{
		IO:     genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Getenv: os.Getenv,
	})
	stop()
	os.Exit(code)
}
