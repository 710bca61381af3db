// Package cli wires poolctl's command line to the domain packages: it turns
// flags into typed options and calls plain functions with a context. No
// other package imports it.
package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
)

// Version is poolctl's version, set at build time with -ldflags.
var Version = "dev"

// Main runs poolctl with args and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal cancels the command's context (a deploy stops
	// following, a watcher ends); after it, signals act as usual again, so
	// a second Ctrl-C ends whatever does not listen.
	go func() {
		<-ctx.Done()
		stop()
	}()
	app := newApp(stdout, stderr)
	return exitCode(app.RunContext(ctx, args), stderr)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "poolctl",
		Usage: "run a scrypt mining pool on Nomad and Consul",
		Description: "poolctl turns one pool definition (pool.hcl) into Nomad jobs, checks them,\n" +
			"plans and deploys them, and reports the pool's health. The pool's own\n" +
			"processes (stratum server, payouts, housekeeping) are poolctl subcommands too.\n\n" +
			"Exit codes: 0 ok, 1 runtime or API error, 2 invalid input, 3 deployment failed.",
		Version:         Version,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		// Errors are printed once, by exitCode, with their exit code.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			validateCommand(),
			renderCommand(),
			planCommand(),
			deployCommand(),
			statusCommand(),
			devCommand(),
			toolsCommand(),
			healthCommand(),
			walletCommand(),
			stratumCommand(),
			floatingCheckCommand(),
			databaseCommand(),
			archiveCommand(),
			minerCommand(),
			blocksCommand(),
			payoutCommand(),
			statsCommand(),
			backupCommand(),
			webCommand(),
			inventoryCommand(),
			policiesCommand(),
		},
	}
	app.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return withCode(ExitInvalid, err)
	}
	for _, cmd := range app.Commands {
		setUsageError(cmd)
	}
	return app
}

func setUsageError(cmd *cli.Command) {
	cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return withCode(ExitInvalid, err)
	}
	for _, sub := range cmd.Subcommands {
		setUsageError(sub)
	}
}

// Implemented lists the poolctl subcommands that jobs may run. A job whose
// subcommand is not here is not yet deployable, and deploy says so.
func Implemented(subcommand string) bool {
	for _, cmd := range newApp(io.Discard, io.Discard).Commands {
		if cmd.Name == subcommand {
			return true
		}
	}
	return false
}

// poolFile is the pool definition argument: the first positional argument,
// or pool.hcl.
func poolFile(c *cli.Context) string {
	if c.Args().Len() > 0 {
		return c.Args().First()
	}
	return "pool.hcl"
}
