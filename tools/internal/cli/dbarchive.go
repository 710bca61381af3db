package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
)

func archiveCommand() *cli.Command {
	return &cli.Command{
		Name:        "archive",
		Usage:       "the database's archive on the backup node: WAL, base backups, point-in-time restore",
		Subcommands: []*cli.Command{archiveRunCommand(), archiveInfoCommand(), archiveRestoreCommand()},
	}
}

func pgBinFlag() cli.Flag {
	return &cli.StringFlag{Name: "pg-bin", Usage: "directory of PostgreSQL's programs (default: the newest /usr/lib/postgresql/*/bin)"}
}

func pgBin(c *cli.Context) (string, error) {
	if d := c.String("pg-bin"); d != "" {
		return d, nil
	}
	return findPGBin()
}

func archiveRunCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "keep the database's archive: stream WAL from the primary, take base backups, expire old ones",
		Description: "Streams WAL from the primary into DIR/wal with pg_receivewal through the\n" +
			"replication slot --slot (Patroni keeps it as a permanent slot), and after a\n" +
			"failover from the new primary, where the archive ends. Takes a base backup with\n" +
			"pg_basebackup into DIR/base when there is none, then every --base-backup-every;\n" +
			"keeps every moment of the last --keep-days restorable and removes what is older.\n" +
			"The members are the Consul service of --pool's database, or --member. The\n" +
			"replication login's password is read from --password-file or $PGPASSWORD.",
		Flags: append(connFlags(),
			&cli.StringFlag{Name: "dir", Required: true, Usage: "the archive, on the backup volume"},
			&cli.StringFlag{Name: "pool", Value: "scryptpool", Usage: "the pool's name: its database's members are found in Consul"},
			&cli.StringSliceFlag{Name: "member", Usage: "a member's PostgreSQL, host:port, instead of Consul (repeatable)"},
			&cli.StringFlag{Name: "user", Value: dbmember.ReplicationUser, Usage: "the replication login"},
			&cli.StringFlag{Name: "password-file", Usage: "file holding the replication login's password (default $PGPASSWORD)"},
			&cli.StringFlag{Name: "slot", Value: contract.DatabaseArchiveSlot, Usage: "the physical replication slot on the primary"},
			&cli.DurationFlag{Name: "base-backup-every", Value: 24 * time.Hour, Usage: "time between base backups"},
			&cli.IntFlag{Name: "keep-days", Value: 14, Usage: "days back the archive can restore to"},
			pgBinFlag(),
		),
		Action: runArchive,
	}
}

func runArchive(c *cli.Context) error {
	o := dbarchive.RunOptions{
		Dir: c.String("dir"), User: c.String("user"), Slot: c.String("slot"),
		Application:     contract.DatabaseArchiveApplication,
		BaseBackupEvery: c.Duration("base-backup-every"), Keep: time.Duration(c.Int("keep-days")) * 24 * time.Hour,
		Log: c.App.ErrWriter,
	}
	if c.Int("keep-days") < 1 {
		return withCode(ExitInvalid, fmt.Errorf("--keep-days must be at least 1"))
	}
	var err error
	if o.PGBin, err = pgBin(c); err != nil {
		return withCode(ExitInvalid, err)
	}
	if o.Password, err = replicationPassword(c.String("password-file")); err != nil {
		return withCode(ExitInvalid, err)
	}
	if members := c.StringSlice("member"); len(members) > 0 {
		if o.Members, err = dbarchive.StaticMembers(members); err != nil {
			return withCode(ExitInvalid, fmt.Errorf("--member: %w", err))
		}
	} else {
		consul, _, err := deploy.NewConsul(taskConnOptions(c))
		if err != nil {
			return withCode(ExitRuntime, err)
		}
		o.Members = dbarchive.ConsulMembers(consul, contract.DatabaseService(c.String("pool")))
		go publishArchiveInfo(c.Context, consul, contract.ArchiveInfoKey(c.String("pool")), o.Dir, o.PGBin, c.App.ErrWriter)
	}
	if err := o.Check(); err != nil {
		return withCode(ExitInvalid, err)
	}
	if err := dbarchive.Run(c.Context, o); err != nil {
		return withCode(ExitRuntime, err)
	}
	return nil
}

// replicationPassword reads the password file's first line, or
// $PGPASSWORD as libpq does.
func replicationPassword(file string) (string, error) {
	if file == "" {
		if p := os.Getenv("PGPASSWORD"); p != "" {
			return p, nil
		}
		return "", fmt.Errorf("give --password-file or $PGPASSWORD: the replication login's password")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read the replication password: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if line = strings.TrimSpace(line); line == "" {
		return "", fmt.Errorf("%s: the replication password is empty", file)
	}
	return line, nil
}

func archiveInfoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "what the archive holds: base backups, the oldest restorable point, the newest WAL",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Required: true, Usage: "the archive"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			pgBinFlag(),
		},
		Action: func(c *cli.Context) error {
			// Without pg_waldump the last commit is left out, not an error.
			bin, _ := pgBin(c)
			info, err := dbarchive.ReadInfo(c.Context, c.String("dir"), bin)
			if err != nil {
				return withCode(ExitRuntime, err)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			writeArchiveInfo(c.App.Writer, info)
			return nil
		},
	}
}

func writeArchiveInfo(w io.Writer, info dbarchive.Info) {
	ts := func(t *time.Time) string {
		if t == nil {
			return "unknown"
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(w, "archive %s\n", info.Dir)
	if info.LastBackup == nil {
		fmt.Fprintf(w, "  last base backup:      none\n")
	} else {
		b := info.LastBackup
		fmt.Fprintf(w, "  last base backup:      %s, finished %s, %s (%d in the archive)\n", b.ID, ts(&b.Finished), sizeText(b.Bytes), len(info.Backups))
	}
	if info.OldestRestorable == nil {
		fmt.Fprintf(w, "  oldest restorable:     nothing is restorable yet\n")
	} else {
		fmt.Fprintf(w, "  oldest restorable:     %s\n", ts(info.OldestRestorable))
	}
	if info.NewestWAL == "" {
		fmt.Fprintf(w, "  newest WAL:            none\n")
	} else {
		fmt.Fprintf(w, "  newest WAL:            %s (timeline %d), written %s\n", info.NewestWAL, info.Timeline, ts(info.NewestWALWritten))
		fmt.Fprintf(w, "  last commit archived:  %s\n", ts(info.LastCommit))
	}
	fmt.Fprintf(w, "  WAL files:             %d, %s\n", info.WALFiles, sizeText(info.WALBytes))
	if info.Gap != "" {
		fmt.Fprintf(w, "  GAP: segment %s is missing: nothing after it is restorable from older base backups\n", info.Gap)
	}
	for _, n := range info.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
}

func archiveRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:  "restore",
		Usage: "restore the archive to a point in time into an empty data directory",
		Description: "Extracts the newest base backup that ended before --to into --data-dir and\n" +
			"writes the recovery settings (restore_command reading DIR/wal, recovery_target_time,\n" +
			"promote) and recovery.signal: PostgreSQL started on the directory recovers every\n" +
			"transaction committed up to --to, none after, and promotes. Refuses a time in the\n" +
			"future or before the oldest restorable point, and a data directory that is not empty.\n" +
			"Patroni's custom bootstrap may run it: it appends --scope and --datadir.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Required: true, Usage: "the archive"},
			&cli.StringFlag{Name: "to", Required: true, Usage: "the time to restore to, with its zone (2026-01-02T15:04:05Z)"},
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"datadir"}, Required: true, Usage: "the data directory to create: absent or empty"},
			&cli.StringFlag{Name: "scope", Hidden: true, Usage: "Patroni's cluster name (Patroni's custom bootstrap passes it; unused)"},
			pgBinFlag(),
		},
		Action: func(c *cli.Context) error {
			target, err := dbarchive.ParseTarget(c.String("to"))
			if err != nil {
				return withCode(ExitInvalid, fmt.Errorf("--to: %w", err))
			}
			bin, _ := pgBin(c)
			r, err := dbarchive.Restore(c.Context, dbarchive.RestoreOptions{
				Dir: c.String("dir"), DataDir: c.String("data-dir"), Target: target, PGBin: bin, Log: c.App.ErrWriter,
			})
			if errors.Is(err, dbarchive.ErrRefused) {
				return withCode(ExitInvalid, err)
			}
			if err != nil {
				return withCode(ExitRuntime, err)
			}
			to := target.UTC().Format(time.RFC3339Nano)
			if r.ToEnd {
				to = "the end of the archive (last commit " + r.LastCommit.Format(time.RFC3339Nano) + ")"
			}
			fmt.Fprintf(c.App.Writer, "%s: base backup %s, recovers to %s when PostgreSQL starts\n", c.String("data-dir"), r.Backup.ID, to)
			return nil
		},
	}
}

// publishArchiveInfo keeps what the archive holds in Consul for poolctl
// status, once a minute, until ctx ends. A failure is logged once until
// the next success.
func publishArchiveInfo(ctx context.Context, consul *consulapi.Client, key, dir, pgBin string, log io.Writer) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	failing := false
	for {
		info, err := dbarchive.ReadInfo(ctx, dir, pgBin)
		var b []byte
		if err == nil {
			b, err = json.Marshal(info)
		}
		if err == nil {
			_, err = consul.KV().Put(&consulapi.KVPair{Key: key, Value: b}, (&consulapi.WriteOptions{}).WithContext(ctx))
		}
		if err != nil && !failing && ctx.Err() == nil {
			fmt.Fprintf(log, "archive: cannot publish what the archive holds to Consul %s: %v\n", key, err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
