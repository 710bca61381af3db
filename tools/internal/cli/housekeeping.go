package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/housekeeping"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// databaseFlags find and log in to the pool's database.
func databaseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "pool", Value: "scryptpool", Usage: "the pool's name (Consul KV prefix)"},
		&cli.StringFlag{Name: "database-service", Usage: "Consul service of the pool's PostgreSQL"},
		&cli.StringFlag{Name: "database-url", Usage: "postgres:// URL instead of Consul"},
		&cli.StringFlag{Name: "database-credentials", Usage: "file holding the database user:password"},
		&cli.StringFlag{Name: "database-name", Value: "pool", Usage: "database name"},
	}
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name:  "stats",
		Usage: "roll shares up into hourly statistics and prune shares no payout can need (run by the <pool>-stats job)",
		Description: "Counts each coin's shares per miner and hour into stats_hourly, counting the\n" +
			"last --recount again at every run (shares can arrive late), then deletes shares\n" +
			"that are in final hours, older than --min-age, and before every window a payout\n" +
			"may still read: each pending block's, and the next block's at --future-windows\n" +
			"times the PPLNS window. Exit 0 also when another run holds the lock.",
		Flags: append(append(connFlags(), databaseFlags()...),
			&cli.StringSliceFlag{Name: "scheme", Required: true, Usage: "COIN=pplns:WINDOW or COIN=proportional, per coin (repeatable)"},
			&cli.DurationFlag{Name: "recount", Value: 2 * time.Hour, Usage: "hours this young are counted again at every run"},
			&cli.DurationFlag{Name: "min-age", Value: 24 * time.Hour, Usage: "shares this young are never pruned"},
			&cli.Float64Flag{Name: "future-windows", Value: 2, Usage: "the next block's PPLNS window kept, in windows"},
		),
		Action: runStats,
	}
}

// parseSchemes reads --scheme COIN=pplns:WINDOW | COIN=proportional.
func parseSchemes(values []string) ([]housekeeping.CoinScheme, error) {
	var out []housekeeping.CoinScheme
	for _, v := range values {
		coin, scheme, ok := strings.Cut(v, "=")
		name, window, _ := strings.Cut(scheme, ":")
		cs := housekeeping.CoinScheme{Coin: coin, Scheme: payout.Scheme{Name: name}}
		switch {
		case !ok || coin == "":
			return nil, fmt.Errorf("--scheme %q: want COIN=pplns:WINDOW or COIN=proportional", v)
		case name == "pplns":
			w, err := strconv.ParseFloat(window, 64)
			if err != nil || !(w > 0) {
				return nil, fmt.Errorf("--scheme %q: the PPLNS window must be a number above 0", v)
			}
			cs.Scheme.Window = w
		case name == "proportional" && window == "":
		default:
			return nil, fmt.Errorf("--scheme %q: the scheme is pplns:WINDOW or proportional", v)
		}
		out = append(out, cs)
	}
	return out, nil
}

func runStats(c *cli.Context) error {
	coins, err := parseSchemes(c.StringSlice("scheme"))
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	o := housekeeping.DefaultStatsOptions(coins)
	o.Recount, o.MinAge, o.FutureWindows = c.Duration("recount"), c.Duration("min-age"), c.Float64("future-windows")
	if !(o.FutureWindows >= 1) {
		return withCode(ExitInvalid, fmt.Errorf("--future-windows must be at least 1"))
	}
	dbURL, err := databaseURL(c)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	consul, err := housekeepingConsul(c)
	if err != nil {
		return err
	}
	rec, err := payout.Recorded(c.Context, payout.RecordedRun{Consul: consul, Pool: c.String("pool"), Job: "stats"}, func(ctx context.Context, rec *payout.Record) error {
		db, err := ledger.Open(dbURL, consul, c.String("database-service"), 2)
		if err != nil {
			return err
		}
		defer db.Close()
		if err := ledger.Migrate(ctx, db); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		results, err := housekeeping.Stats(ctx, db, o)
		var counted, pruned int64
		for _, s := range results {
			counted += s.Shares
			pruned += s.Pruned
			if s.CountedFrom.IsZero() {
				rec.Lines = append(rec.Lines, s.Coin+": no shares yet")
				continue
			}
			rec.Lines = append(rec.Lines, fmt.Sprintf("%s: counted %d share(s) in %d hour(s) from %s; pruned %d share(s), kept from share %d (%s)",
				s.Coin, s.Shares, s.Hours, s.CountedFrom.Format(time.RFC3339), s.Pruned, s.KeptFrom, s.KeptWhy))
		}
		if err != nil {
			return err
		}
		rec.Outcome = "ok"
		rec.Message = fmt.Sprintf("counted %d share(s), pruned %d", counted, pruned)
		return nil
	})
	return reportHousekeeping(c, rec, err)
}

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "dump the database and back up every wallet, with retention (run by the <pool>-backup job)",
		Description: "Writes a pg_dump (custom format) to DIR/database, checks that it reads back whole\n" +
			"with pg_restore, and only then gives it its final name; removes dumps older than\n" +
			"--keep-days but never the newest. Every wallet instance writes a copy of itself\n" +
			"with backupwallet on its own node (--wallet-backup-dir, as the wallet sees it),\n" +
			"rotating through --keep-days daily files; that copy is then fetched from the\n" +
			"instance's probe (its Consul service's meta) into DIR/wallets/COIN/INSTANCE,\n" +
			"in the same daily file, so it survives the wallet's node. Exit 1 when anything\n" +
			"failed.",
		Flags: append(append(connFlags(), databaseFlags()...),
			&cli.StringFlag{Name: "dir", Required: true, Usage: "the backup volume"},
			&cli.IntFlag{Name: "keep-days", Value: 14, Usage: "days of backups kept"},
			&cli.StringSliceFlag{Name: "wallet", Usage: "SERVICE:CREDENTIALS_FILE, a coin's wallets in Consul and their RPC login (repeatable)"},
			&cli.StringFlag{Name: "wallet-backup-dir", Value: "/chain/{instance}/backups", Usage: "where each wallet writes its copy, as the wallet sees it; {instance} is its instance"},
			&cli.StringFlag{Name: "pg-bin", Usage: "directory of pg_dump and pg_restore (default: the newest /usr/lib/postgresql/*/bin)"},
		),
		Action: runBackup,
	}
}

func runBackup(c *cli.Context) error {
	if c.Int("keep-days") < 1 {
		return withCode(ExitInvalid, fmt.Errorf("--keep-days must be at least 1"))
	}
	pgBin := c.String("pg-bin")
	if pgBin == "" {
		var err error
		if pgBin, err = findPGBin(); err != nil {
			return withCode(ExitInvalid, err)
		}
	}
	dbURL, err := databaseURL(c)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	password, _ := u.User.Password()
	database := housekeeping.Database{Host: u.Hostname(), Name: strings.TrimPrefix(u.Path, "/"), User: u.User.Username(), Password: password}
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
		database.Port = uint16(p)
	} else {
		database.Port = 5432
	}
	type walletFlag struct{ service, user, password string }
	var walletFlags []walletFlag
	for _, v := range c.StringSlice("wallet") {
		service, file, ok := strings.Cut(v, ":")
		if !ok || service == "" || file == "" {
			return withCode(ExitInvalid, fmt.Errorf("--wallet %q: want SERVICE:CREDENTIALS_FILE", v))
		}
		user, password, err := chain.ReadCredentials(file)
		if err != nil {
			return withCode(ExitInvalid, fmt.Errorf("--wallet %s: read the credentials: %w", service, err))
		}
		walletFlags = append(walletFlags, walletFlag{service, user, password})
	}
	consul, err := housekeepingConsul(c)
	if err != nil {
		return err
	}
	if consul == nil && (len(walletFlags) > 0 || c.String("database-url") == "") {
		return withCode(ExitInvalid, fmt.Errorf("wallets and --database-service are found in Consul: give --consul-address or CONSUL_HTTP_ADDR"))
	}
	rec, err := payout.Recorded(c.Context, payout.RecordedRun{Consul: consul, Pool: c.String("pool"), Job: "backup"}, func(ctx context.Context, rec *payout.Record) error {
		o := housekeeping.BackupOptions{Dir: c.String("dir"), KeepDays: c.Int("keep-days"), Database: database, PGBin: pgBin, Now: time.Now}
		if service := c.String("database-service"); service != "" && c.String("database-url") == "" {
			if o.Database.Host, o.Database.Port, err = ledger.Resolve(ctx, consul, service); err != nil {
				return err
			}
		}
		for _, w := range walletFlags {
			entries, _, err := consul.Health().Service(w.service, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
			if err != nil {
				return fmt.Errorf("find the %s instances in Consul: %w", w.service, err)
			}
			if len(entries) == 0 {
				return fmt.Errorf("no %s instance is registered in Consul", w.service)
			}
			for _, e := range entries {
				instance := e.Service.Meta["instance"]
				o.Wallets = append(o.Wallets, housekeeping.WalletBackup{
					Coin: strings.TrimSuffix(w.service, "-wallet"), Instance: instance,
					Client: chain.NewClient(fmt.Sprintf("%s:%d", e.Service.Address, e.Service.Port), w.user, w.password),
					Dir:    strings.ReplaceAll(c.String("wallet-backup-dir"), "{instance}", instance),
					Probe:  e.Service.Meta[contract.WalletProbeMeta],
				})
			}
		}
		res, err := housekeeping.Backup(ctx, o)
		if res.Dump != "" {
			rec.Lines = append(rec.Lines, fmt.Sprintf("database: %s (%d bytes)", res.Dump, res.DumpBytes))
		}
		for _, r := range res.Removed {
			rec.Lines = append(rec.Lines, "removed, older than "+strconv.Itoa(o.KeepDays)+" days: "+r)
		}
		rec.Lines = append(rec.Lines, res.WalletsTo...)
		if err != nil {
			return err
		}
		rec.Outcome = "ok"
		rec.Message = fmt.Sprintf("database dumped, %d wallet(s) backed up to the backup volume", len(res.WalletsTo))
		return nil
	})
	return reportHousekeeping(c, rec, err)
}

// findPGBin is the newest PostgreSQL's program directory: Debian's
// /usr/bin/pg_dump is a Perl wrapper, and the tasks' chroot has no Perl.
func findPGBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_dump")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("no pg_dump in /usr/lib/postgresql/*/bin: install postgresql-client, or give --pg-bin")
}

func housekeepingConsul(c *cli.Context) (*consulapi.Client, error) {
	if c.String("database-service") == "" && c.String("consul-address") == "" && len(c.StringSlice("wallet")) == 0 {
		return nil, nil
	}
	consul, _, err := deploy.NewConsul(taskConnOptions(c))
	if err != nil {
		return nil, withCode(ExitRuntime, err)
	}
	return consul, nil
}

func reportHousekeeping(c *cli.Context, rec payout.Record, err error) error {
	fmt.Fprintf(c.App.Writer, "%s: %s: %s\n", rec.Job, rec.Outcome, rec.Message)
	for _, l := range rec.Lines {
		fmt.Fprintf(c.App.Writer, "  %s\n", l)
	}
	if err != nil {
		return withCode(ExitRuntime, err)
	}
	return nil
}
