package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbcluster"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbrestore"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
)

func databaseRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "replace the pool's database with its archive's state at a point in time, on the cluster",
		ArgsUsage: "[FILE]",
		Description: "Checks that the archive (published by <pool>-archive) reaches --to, then, with\n" +
			"--yes: stops every job that writes to the database (stratum, payout, blocks,\n" +
			"stats, backup, with their running launches) and the database, clears the\n" +
			"stopped cluster's state in Consul, records the restore request, and deploys\n" +
			"the pool. Each member sets its data directory aside (kept as\n" +
			"postgresql.before-restore-<id> on its volume); the first fetches the archive\n" +
			"from the archive's service and recovers every transaction committed up to\n" +
			"--to, none after; the others copy it. Waits until the new primary runs\n" +
			"(and, with two or more instances, a synchronous standby). The wallets and\n" +
			"the archive keep running; the archive sets its old history aside and starts\n" +
			"anew from the restored database. The database job registered gives its members\n" +
			"--timeout to restore before Nomad judges them; the next poolctl deploy brings\n" +
			"the usual job back (the members restart one at a time). Exit 2: the archive cannot reach --to (nothing\n" +
			"was stopped); 3: the deploy failed; 1: anything else.",
		Flags: append(connFlags(),
			&cli.StringFlag{Name: "to", Required: true, Usage: "the time to restore to, with its zone (2026-01-02T15:04:05Z)"},
			&cli.BoolFlag{Name: "yes", Usage: "go ahead: without it, only the check runs and nothing is stopped"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "give up (exit 3) when the restore and the deploy take longer"},
		),
		Action: func(c *cli.Context) error {
			target, err := dbarchive.ParseTarget(c.String("to"))
			if err != nil {
				return withCode(ExitInvalid, fmt.Errorf("--to: %w", err))
			}
			r, err := runValidate(poolFile(c), true, c.App.ErrWriter, c.App.ErrWriter)
			if err != nil {
				return err
			}
			clients, err := connect(c, r, contract.CommandRestore)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			o := dbrestore.Options{Pool: r.Pool.Name, Jobs: r.Jobs, Target: target, Progress: c.App.ErrWriter}
			info, err := dbrestore.Check(ctx, clients.Consul, o)
			if errors.Is(err, dbrestore.ErrRefused) {
				return withCode(ExitInvalid, err)
			}
			if err != nil {
				return withCode(ExitRuntime, err)
			}
			fmt.Fprintf(c.App.ErrWriter, "restore: the archive restores from %s; its last base backup %s; newest WAL %s\n",
				info.OldestRestorable.UTC().Format(time.RFC3339), info.LastBackup.Finished.UTC().Format(time.RFC3339), info.NewestWAL)
			if info.LastCommit != nil && !target.Before(*info.LastCommit) {
				fmt.Fprintf(c.App.ErrWriter, "restore: %s is after the archive's last commit (%s): the restore reaches the end of the archive\n",
					target.UTC().Format(time.RFC3339Nano), info.LastCommit.UTC().Format(time.RFC3339Nano))
			}
			if !c.Bool("yes") {
				return withCode(ExitInvalid, fmt.Errorf("this stops the pool's stratum servers, payouts and database and replaces the database with the archive's state at %s; run again with --yes to go ahead",
					target.UTC().Format(time.RFC3339Nano)))
			}
			req, err := dbrestore.Prepare(ctx, clients.Nomad, clients.Consul, o)
			if err != nil {
				return withCode(ExitRuntime, err)
			}
			dbrestore.AllowTime(r.Jobs, c.Duration("timeout"))
			plan, err := deploy.MakePlan(ctx, clients, r.Jobs, Implemented)
			if err != nil {
				return withCode(ExitRuntime, err)
			}
			if err := runDeploy(ctx, c, clients, r.Pool, plan, false, "the restore"); err != nil {
				return err
			}
			want := r.Pool.Database.Instances
			v, err := dbcluster.Wait(ctx, clients.Consul.KV(), r.Pool.Name, want, func(v *dbcluster.View) bool {
				h := v.Judge().Health
				return h == dbcluster.Healthy || (want == 1 && h == dbcluster.Single)
			})
			if err != nil {
				if v != nil {
					return withCode(ExitFailed, fmt.Errorf("restore %s: the database is not back: %s: %w", req.ID, v.Judge().Line, err))
				}
				return withCode(ExitFailed, fmt.Errorf("restore %s: %w", req.ID, err))
			}
			fmt.Fprintf(c.App.Writer, "restored to %s (restore %s): %s\n", req.Target.Format(time.RFC3339Nano), req.ID, v.Judge().Line)
			return nil
		},
	}
}
