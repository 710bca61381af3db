package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
			"replication login's password is read from --password-file or $PGPASSWORD.\n" +
			"With --listen IP:PORT the archive is also served there over HTTP, read-only, to\n" +
			"the replication login (basic authentication: --user and its password) for as long\n" +
			"as it runs: `archive restore --from-service/--from-url` on a member fetches from it.",
		Flags: append(connFlags(),
			&cli.StringFlag{Name: "dir", Required: true, Usage: "the archive, on the backup volume"},
			&cli.StringFlag{Name: "pool", Value: "scryptpool", Usage: "the pool's name: its database's members are found in Consul"},
			&cli.StringSliceFlag{Name: "member", Usage: "a member's PostgreSQL, host:port, instead of Consul (repeatable)"},
			&cli.StringFlag{Name: "user", Value: dbmember.ReplicationUser, Usage: "the replication login"},
			&cli.StringFlag{Name: "password-file", Usage: "file holding the replication login's password (default $PGPASSWORD)"},
			&cli.StringFlag{Name: "slot", Value: contract.DatabaseArchiveSlot, Usage: "the physical replication slot on the primary"},
			&cli.DurationFlag{Name: "base-backup-every", Value: 24 * time.Hour, Usage: "time between base backups"},
			&cli.IntFlag{Name: "keep-days", Value: 14, Usage: "days back the archive can restore to"},
			&cli.StringFlag{Name: "listen", Usage: "serve the archive read-only over HTTP on IP:PORT to the replication login (default: not served)"},
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
	if addr := c.String("listen"); addr != "" {
		stop, err := serveArchive(c.Context, addr, o, c.App.ErrWriter)
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := dbarchive.Run(c.Context, o); err != nil {
		return withCode(ExitRuntime, err)
	}
	return nil
}

// serveArchive serves the archive read-only on addr until ctx ends or
// stop is called; a port it cannot listen on is an error now, not later.
func serveArchive(ctx context.Context, addr string, o dbarchive.RunOptions, log io.Writer) (stop func(), err error) {
	host, port, err := net.SplitHostPort(addr)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || host != "" && net.ParseIP(host) == nil {
		return nil, withCode(ExitInvalid, fmt.Errorf("--listen %q is not IP:PORT", addr))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, withCode(ExitRuntime, fmt.Errorf("--listen: serve the archive: %w", err))
	}
	srv := &http.Server{Handler: dbarchive.Handler(o.Dir, o.User, o.Password), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(log, "archive: serving %s read-only on http://%s to login %s\n", o.Dir, ln.Addr(), o.User)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(log, "archive: serving on %s stopped: %v\n", ln.Addr(), err)
		}
	}()
	done := make(chan struct{})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			// A restore still downloading gets a few seconds, then is cut
			// off: it fails and says so, and is run again.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if srv.Shutdown(sctx) != nil {
				srv.Close()
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
	return stop, nil
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
			"writes the recovery settings (restore_command reading the archive's WAL,\n" +
			"recovery_target_time, promote) and recovery.signal: PostgreSQL started on the\n" +
			"directory recovers every transaction committed up to --to, none after, and\n" +
			"promotes. Refuses a time in the future or before the oldest restorable point, and\n" +
			"a data directory that is not empty.\n" +
			"The archive is a local directory (--dir), or is served by `archive run --listen`\n" +
			"on the backup node: --from-service finds a passing instance of that Consul service\n" +
			"(CONSUL_HTTP_ADDR, CONSUL_CACERT, CONSUL_HTTP_TOKEN), --from-url gives its address.\n" +
			"Then what the restore needs (the base backup, the WAL from its start on) is first\n" +
			"fetched into --copy-dir, logging in as --user with the password from\n" +
			"--password-file or $PGPASSWORD, and restored from there: restore_command reads the\n" +
			"copy, so keep it until PostgreSQL has recovered. A copy made before is replaced;\n" +
			"a directory holding anything else is refused.\n" +
			"Patroni's custom bootstrap may run it: it appends --scope and --datadir.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "dir", Usage: "the archive, a local directory"},
			&cli.StringFlag{Name: "from-service", Usage: "fetch from the archive server registered as this Consul service"},
			&cli.StringFlag{Name: "from-url", Usage: "fetch from the archive server at this address (http://IP:PORT)"},
			&cli.StringFlag{Name: "copy-dir", Usage: "where the archive fetched is copied to (default: <data-dir>.archive-copy)"},
			&cli.StringFlag{Name: "user", Value: dbmember.ReplicationUser, Usage: "the login the archive server accepts (the replication login)"},
			&cli.StringFlag{Name: "password-file", Usage: "file holding the login's password (default $PGPASSWORD)"},
			&cli.StringFlag{Name: "consul-token-file", Usage: "file holding the Consul token that finds --from-service (Patroni's custom bootstrap runs without the task's Consul variables)"},
			&cli.StringFlag{Name: "to", Required: true, Usage: "the time to restore to, with its zone (2026-01-02T15:04:05Z)"},
			&cli.StringFlag{Name: "data-dir", Aliases: []string{"datadir"}, Required: true, Usage: "the data directory to create: absent or empty"},
			&cli.StringFlag{Name: "scope", Hidden: true, Usage: "Patroni's cluster name (Patroni's custom bootstrap passes it; unused)"},
			pgBinFlag(),
		}, consulFlags()...),
		Action: restoreArchive,
	}
}

// consulFlags are connFlags' Consul ones: the restore asks nothing of
// Nomad.
func consulFlags() []cli.Flag {
	var out []cli.Flag
	for _, f := range connFlags() {
		if cf, ok := f.(cli.CategorizableFlag); ok && cf.GetCategory() == "Consul" {
			out = append(out, f)
		}
	}
	return out
}

func restoreArchive(c *cli.Context) error {
	target, err := dbarchive.ParseTarget(c.String("to"))
	if err != nil {
		return withCode(ExitInvalid, fmt.Errorf("--to: %w", err))
	}
	sources := 0
	for _, f := range []string{"dir", "from-service", "from-url"} {
		if c.String(f) != "" {
			sources++
		}
	}
	if sources != 1 {
		return withCode(ExitInvalid, fmt.Errorf("give one of --dir, --from-service and --from-url: where the archive is"))
	}
	dataDir := c.String("data-dir")
	dir := c.String("dir")
	if dir == "" {
		if dir, err = fetchArchive(c, target, dataDir); err != nil {
			return err
		}
	}
	bin, _ := pgBin(c)
	r, err := dbarchive.Restore(c.Context, dbarchive.RestoreOptions{
		Dir: dir, DataDir: dataDir, Target: target, PGBin: bin, Log: c.App.ErrWriter,
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
	fmt.Fprintf(c.App.Writer, "%s: base backup %s, recovers to %s when PostgreSQL starts\n", dataDir, r.Backup.ID, to)
	return nil
}

// fetchArchive copies what a restore to target needs from the archive
// server into the copy directory, which it returns.
func fetchArchive(c *cli.Context, target time.Time, dataDir string) (string, error) {
	if err := dbarchive.CheckDataDir(dataDir); err != nil {
		// Before fetching: Restore would refuse it only after.
		return "", withCode(ExitInvalid, err)
	}
	copyDir := c.String("copy-dir")
	if copyDir == "" {
		copyDir = filepath.Clean(dataDir) + ".archive-copy"
	}
	if rel, err := filepath.Rel(filepath.Clean(dataDir), filepath.Clean(copyDir)); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", withCode(ExitInvalid, fmt.Errorf("--copy-dir %s is inside --data-dir %s: give a directory beside it", copyDir, dataDir))
	}
	password, err := replicationPassword(c.String("password-file"))
	if err != nil {
		return "", withCode(ExitInvalid, err)
	}
	url := c.String("from-url")
	if name := c.String("from-service"); name != "" {
		o := connOptions(c)
		if f := c.String("consul-token-file"); f != "" {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", withCode(ExitInvalid, fmt.Errorf("--consul-token-file: %w", err))
			}
			o.ConsulToken = strings.TrimSpace(string(b))
		}
		consul, _, err := deploy.NewConsul(o)
		if err != nil {
			return "", withCode(ExitRuntime, err)
		}
		if url, err = archiveServer(c.Context, consul, name); err != nil {
			return "", withCode(ExitRuntime, err)
		}
	}
	_, err = dbarchive.Fetch(c.Context, dbarchive.FetchOptions{
		URL: url, User: c.String("user"), Password: password, Target: target, Dir: copyDir, Log: c.App.ErrWriter,
	})
	if errors.Is(err, dbarchive.ErrRefused) {
		return "", withCode(ExitInvalid, err)
	}
	if err != nil {
		return "", withCode(ExitRuntime, err)
	}
	return copyDir, nil
}

// archiveServer is the address of a passing instance of the archive's
// Consul service.
func archiveServer(ctx context.Context, consul *consulapi.Client, service string) (string, error) {
	entries, _, err := consul.Health().Service(service, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("find the archive server, Consul service %s: %w", service, err)
	}
	for _, e := range entries {
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		if addr != "" && e.Service.Port > 0 {
			return "http://" + net.JoinHostPort(addr, strconv.Itoa(e.Service.Port)), nil
		}
	}
	return "", fmt.Errorf("no passing instance of Consul service %s: is the archive running with --listen, and registered?", service)
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
