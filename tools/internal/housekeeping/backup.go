package housekeeping

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Database is how pg_dump reaches the pool's database.
type Database struct {
	Host           string
	Port           uint16
	Name           string
	User, Password string
}

// BackupOptions say what to back up, where, and for how long.
type BackupOptions struct {
	// Dir is the backup volume; database dumps go to Dir/database, the
	// wallets' copies to Dir/wallets/<coin>/<instance>.
	Dir      string
	KeepDays int
	Database Database
	// PGBin is the directory of pg_dump and pg_restore.
	PGBin   string
	Wallets []WalletBackup
	Now     func() time.Time
}

// WalletBackup is one wallet instance to back up with backupwallet.
type WalletBackup struct {
	Coin, Instance string
	Client         *chain.Client
	// Dir is where the wallet daemon itself writes the copy, as the
	// daemon sees its filesystem (its chain volume): backupwallet writes
	// on the wallet's node, not here.
	Dir string
	// Probe is the instance's probe (host:port), which serves that copy
	// to the backup login (Client's): the backup fetches it from there
	// onto the backup volume, so it survives the wallet's node.
	Probe string
	// HTTP fetches the copy; nil is http.DefaultClient.
	HTTP *http.Client
}

// BackupResult lists what a run wrote and removed.
type BackupResult struct {
	Dump      string
	DumpBytes int64
	Removed   []string
	// WalletsTo says, per wallet, where its copy went.
	WalletsTo []string
	// WalletCopies are the wallets' copies on the backup volume.
	WalletCopies []string
	WalletErrs   []string
}

// A dump is named <database>-<stampForm><dumpSuffix>; retention removes
// only files named so.
const (
	dumpSuffix = ".dump"
	stampForm  = "20060102T150405Z"
)

// Backup dumps the database into Dir/database (written beside, checked by
// reading it whole with pg_restore, then renamed into place), removes
// dumps older than KeepDays (never the newest), and asks every wallet to
// back itself up.
func Backup(ctx context.Context, o BackupOptions) (BackupResult, error) {
	var res BackupResult
	if o.KeepDays < 1 {
		return res, fmt.Errorf("keep-days must be at least 1, not %d", o.KeepDays)
	}
	now := o.Now().UTC()
	dumpErr := dumpDatabase(ctx, o, now, &res)
	if dumpErr == nil {
		removed, err := expireDumps(filepath.Join(o.Dir, "database"), o.Database.Name, now, o.KeepDays)
		res.Removed = removed
		if err != nil {
			dumpErr = err
		}
	}
	// Wallets are backed up even when the dump failed: each copy stands
	// on its own.
	for _, w := range o.Wallets {
		to, copied, err := backupWallet(ctx, w, o.Dir, now, o.KeepDays)
		if err != nil {
			res.WalletErrs = append(res.WalletErrs, err.Error())
			continue
		}
		res.WalletsTo = append(res.WalletsTo, to)
		res.WalletCopies = append(res.WalletCopies, copied)
	}
	var errs []error
	if dumpErr != nil {
		errs = append(errs, dumpErr)
	}
	if len(res.WalletErrs) > 0 {
		errs = append(errs, fmt.Errorf("wallets: %s", strings.Join(res.WalletErrs, "; ")))
	}
	return res, errors.Join(errs...)
}

func dumpDatabase(ctx context.Context, o BackupOptions, now time.Time, res *BackupResult) error {
	dir := filepath.Join(o.Dir, "database")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("database dump: %w", err)
	}
	final := filepath.Join(dir, o.Database.Name+"-"+now.Format(stampForm)+dumpSuffix)
	partial := final + ".partial"
	env := append(os.Environ(), "PGPASSWORD="+o.Database.Password, "PGCONNECT_TIMEOUT=10")
	dump := exec.CommandContext(ctx, filepath.Join(o.PGBin, "pg_dump"),
		"--format=custom", "--no-password", "--file="+partial,
		"--host="+o.Database.Host, fmt.Sprintf("--port=%d", o.Database.Port),
		"--username="+o.Database.User, "--dbname="+o.Database.Name)
	dump.Env = env
	if out, err := dump.CombinedOutput(); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("pg_dump of %s at %s:%d: %v: %s", o.Database.Name, o.Database.Host, o.Database.Port, err, strings.TrimSpace(string(out)))
	}
	// Reading the whole archive back, not only its table of contents,
	// catches a dump cut short (a full disk).
	check := exec.CommandContext(ctx, filepath.Join(o.PGBin, "pg_restore"), "--file=/dev/null", partial)
	if out, err := check.CombinedOutput(); err != nil {
		_ = os.Remove(partial)
		return fmt.Errorf("the dump does not read back: pg_restore: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err := syncFile(partial); err != nil {
		return fmt.Errorf("database dump: %w", err)
	}
	if err := os.Rename(partial, final); err != nil {
		return fmt.Errorf("database dump: %w", err)
	}
	if err := syncFile(dir); err != nil {
		return fmt.Errorf("database dump: %w", err)
	}
	info, err := os.Stat(final)
	if err != nil {
		return err
	}
	res.Dump, res.DumpBytes = final, info.Size()
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// expireDumps removes the database's dumps older than keepDays, keeping
// the newest whatever its age (a backup job that failed for weeks must
// not leave none), and .partial files a crashed run left.
func expireDumps(dir, database string, now time.Time, keepDays int) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("retention: %w", err)
	}
	type dump struct {
		name    string
		stamp   time.Time
		partial bool
	}
	var dumps []dump
	prefix := database + "-"
	for _, e := range entries {
		name := e.Name()
		partial := strings.HasSuffix(name, dumpSuffix+".partial")
		base := strings.TrimSuffix(strings.TrimSuffix(name, ".partial"), dumpSuffix)
		if !strings.HasPrefix(name, prefix) || !(partial || strings.HasSuffix(name, dumpSuffix)) {
			continue
		}
		stamp, err := time.Parse(stampForm, strings.TrimPrefix(base, prefix))
		if err != nil {
			continue // not ours
		}
		dumps = append(dumps, dump{name, stamp, partial})
	}
	sort.Slice(dumps, func(i, j int) bool { return dumps[i].stamp.After(dumps[j].stamp) })
	cutoff := now.AddDate(0, 0, -keepDays)
	var removed []string
	keptNewest := false
	for _, d := range dumps {
		switch {
		case d.partial && now.Sub(d.stamp) < time.Hour:
			continue // perhaps another run's, still being written
		case !d.partial && !keptNewest:
			keptNewest = true
			continue
		case !d.partial && !d.stamp.Before(cutoff):
			continue
		}
		if err := os.Remove(filepath.Join(dir, d.name)); err != nil {
			return removed, fmt.Errorf("retention: %w", err)
		}
		removed = append(removed, d.name)
	}
	return removed, nil
}

// WalletSlot names the wallet copy of day now: copies rotate through
// keepDays daily slots, so each wallet keeps its last keepDays days'
// copies without anything on its node having to delete old ones (the
// daemon writes them, and no RPC removes a file).
func WalletSlot(now time.Time, keepDays int) string {
	day := now.UTC().Unix() / 86400
	return fmt.Sprintf("wallet-day%02d.dat", day%int64(keepDays))
}

// backupWallet has the daemon write the day's copy on its own node, then
// fetches it onto the backup volume (dir) into the same slot: the copy on
// the wallet's node dies with that node's disk.
func backupWallet(ctx context.Context, w WalletBackup, dir string, now time.Time, keepDays int) (string, string, error) {
	name := fmt.Sprintf("%s wallet %s", w.Coin, w.Instance)
	if !pathPart.MatchString(w.Coin) || !pathPart.MatchString(w.Instance) {
		return "", "", fmt.Errorf("%s: the coin and instance must be letters, digits, - or _", name)
	}
	slot := WalletSlot(now, keepDays)
	to := strings.TrimRight(w.Dir, "/") + "/" + slot
	callCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := w.Client.Call(callCtx, "backupwallet", []any{to}, nil); err != nil {
		return "", "", fmt.Errorf("%s (%s): backupwallet %s: %w", name, w.Client.URL, to, err)
	}
	if w.Probe == "" {
		return "", "", fmt.Errorf("%s: wrote %s on its own node only: Consul names no probe to fetch it from", name, to)
	}
	copied, size, err := fetchWalletCopy(ctx, w, slot, filepath.Join(dir, WalletCopiesDir, w.Coin, w.Instance))
	if err != nil {
		return "", "", fmt.Errorf("%s: wrote %s on its own node, but the copy for the backup volume failed: %w", name, to, err)
	}
	return fmt.Sprintf("%s: %s (%d bytes), from %s on its node", name, copied, size, to), copied, nil
}
