// Package plugin is `kubectl chatgroup`: the command line for bringing an
// app's existing IM groups under management (import) and for the everyday
// operations on ChatGroups (status, resync, pause, resume). cmd/kubectl-chatgroup is its
// thin main; tests run Main in-process against envtest and the fake IM
// backend.
//
// Every failure ends in one line on stderr and a non-zero exit code, never a
// stack trace, and a failed import writes no partial manifest to stdout.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imv1alpha1 "github.com/chatgroup-operator/chatgroup-operator/api/v1alpha1"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitError       = 1
	ExitInterrupted = 130 // as a shell reports a command ended by SIGINT
)

// errInterrupted ends a command that Ctrl-C (or SIGTERM) stopped.
var errInterrupted = errors.New("interrupted")

// Env is what the plugin reads from its surroundings besides the
// arguments; tests pass their own instead of changing the process's.
type Env struct {
	IO genericiooptions.IOStreams
	// Getenv reads an environment variable (os.Getenv in the binary).
	Getenv func(string) string
}

// root holds what every subcommand shares: the kubeconfig flags kubectl
// itself has (--kubeconfig, --context, -n, ...).
type root struct {
	env    Env
	config *genericclioptions.ConfigFlags
}

// Main runs the plugin with args (without the program name) and returns
// the exit code. ctx ends on Ctrl-C.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	// If stderr itself fails there is nowhere left to report it; the exit
	// code still says what happened.
	_, _ = fmt.Fprintln(env.IO.ErrOut, "error: "+oneLine(err.Error()))
	if errors.Is(err, errInterrupted) || errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	return ExitError
}

// oneLine keeps an error to a single line, whatever an API server or the
// IM backend put in its text.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// NewCommand builds the command tree.
func NewCommand(env Env) *cobra.Command {
	r := &root{env: env, config: genericclioptions.NewConfigFlags(true)}
	cmd := &cobra.Command{
		Use:   "kubectl-chatgroup",
		Short: "Manage Tencent Cloud IM groups declared as ChatGroups",
		Long: `kubectl chatgroup brings an IM app's existing groups under management and
runs the everyday operations on ChatGroups.

  import   write a ChatGroup manifest for every group of the app (for Git)
  status   per app: how many ChatGroups are Ready, Synced, UpToDate, failing,
           in conflict, paused
  resync   ask the operator to read groups back from IM now
  pause    stop every IM REST call for ChatGroups (push, read, resync, destroy)
  resume   end the pause; the operator reads the groups at once`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl chatgroup",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		// Without a subcommand, print help rather than fail.
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	cmd.SetIn(env.IO.In)
	cmd.SetOut(env.IO.Out)
	cmd.SetErr(env.IO.ErrOut)
	r.config.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(newImportCommand(r), newStatusCommand(r), newResyncCommand(r),
		newPauseCommand(r), newResumeCommand(r))
	return cmd
}

// scheme knows the kinds the plugin reads and writes.
func scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, imv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// client connects to the cluster of the kubeconfig flags.
func (r *root) client() (client.Client, error) {
	cfg, err := r.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	s, err := scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	return c, nil
}

// namespace is the namespace of -n, else the kubeconfig context's, else
// "default"; explicit reports whether -n was given.
func (r *root) namespace() (ns string, explicit bool, err error) {
	ns, explicit, err = r.config.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", false, fmt.Errorf("kubeconfig: %w", err)
	}
	if r.config.Namespace != nil && *r.config.Namespace != "" {
		explicit = true
	}
	return ns, explicit, nil
}

// writeAll writes b with one call, so a reader never sees half of it.
func writeAll(w io.Writer, b []byte) error {
	_, err := w.Write(b)
	return err
}
