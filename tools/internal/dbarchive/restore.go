package dbarchive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// RestoreOptions say what to restore where.
type RestoreOptions struct {
	// Dir is the archive; DataDir the data directory to create, empty or
	// absent.
	Dir, DataDir string
	// Target is the moment to restore to: recovery replays every
	// transaction committed up to it and none after.
	Target time.Time
	// PGBin holds pg_waldump, which finds the archive's last commit; ""
	// leaves that out (a Target after the last commit then makes recovery
	// stop with "recovery ended before configured recovery target").
	PGBin string
	Now   func() time.Time
	// Log gets one line per step.
	Log io.Writer
}

// Restored says what Restore did.
type Restored struct {
	Backup Backup
	// ToEnd is set when Target is after the archive's last commit:
	// recovery then replays the whole archive, the state at Target as
	// far as the archive knows; LastCommit is that commit's time.
	ToEnd      bool
	LastCommit time.Time
	// Settings are the recovery settings written to postgresql.auto.conf.
	Settings []string
}

// Restore prepares a point-in-time restore: it extracts the newest base
// backup that ended before o.Target into o.DataDir and writes the
// recovery settings (restore_command reading the archive's WAL,
// recovery_target_time, promote at the target, the latest timeline) and
// recovery.signal. Starting PostgreSQL on the directory then recovers to
// exactly o.Target and promotes. It refuses a target in the future or
// before the oldest restorable point, and a data directory that is not
// empty; it never writes to the archive.
func Restore(ctx context.Context, o RestoreOptions) (Restored, error) {
	var r Restored
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "archive restore: "+format+"\n", args...)
		}
	}
	if n := now(); o.Target.After(n) {
		return r, refuse("restore target %s is in the future (now %s)", formatTime(o.Target), formatTime(n))
	}
	if err := checkEmpty(o.DataDir); err != nil {
		return r, err
	}
	backups, err := ListBackups(o.Dir)
	if err != nil {
		return r, err
	}
	wal, err := listWAL(WALDir(o.Dir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return r, err
	}
	b, err := ChooseBackup(backups, wal, o.Target)
	if err != nil {
		return r, refuse("archive %s: %v", o.Dir, err)
	}
	r.Backup = b
	target := &o.Target
	if o.PGBin != "" {
		last, ok, err := lastCommit(ctx, o.PGBin, WALDir(o.Dir), wal)
		if err != nil {
			return r, err
		}
		// Recovery stops at the first commit after the target; with none
		// in the archive it would end short of it and refuse to promote.
		if ok && !o.Target.Before(last) {
			r.ToEnd, r.LastCommit, target = true, last, nil
			logf("%s is after the archive's last commit (%s): recovering to the end of the archive", formatTime(o.Target), formatTime(last))
		}
	}
	logf("base backup %s (finished %s, %d bytes) into %s", b.ID, formatTime(b.Finished), b.Bytes, o.DataDir)
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return r, fmt.Errorf("create the data directory: %w", err)
	}
	if err := os.Chmod(o.DataDir, 0o700); err != nil {
		return r, err
	}
	start := now()
	if err := extract(filepath.Join(baseDir(o.Dir), b.ID, baseTar), o.DataDir); err != nil {
		return r, fmt.Errorf("restore base backup %s: %w", b.ID, err)
	}
	logf("extracted in %s", now().Sub(start).Round(time.Millisecond))
	r.Settings = RecoverySettings(o.Dir, target)
	if err := writeRecovery(o.DataDir, r.Settings); err != nil {
		return r, err
	}
	logf("recovery settings in postgresql.auto.conf, recovery.signal written: start PostgreSQL on %s to recover and promote", o.DataDir)
	return r, nil
}

// checkEmpty accepts an absent or empty directory only.
func checkEmpty(dir string) error {
	if dir == "" {
		return refuse("no data directory given")
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return refuse("data directory %s is not empty (it has %s): restore only into an empty directory", dir, entries[0].Name())
	}
	return nil
}

// RestoreCommand is the restore_command that reads the archive in dir:
// it copies the segment PostgreSQL asks for, or, when the archive has
// only the partial file pg_receivewal was writing (the newest segment, or
// a timeline's last one), that file, which ends in zeroes where the WAL
// received ends. Nothing is written to the archive.
func RestoreCommand(dir string) string {
	// A shell command (PostgreSQL runs it with sh -c) in which PostgreSQL
	// replaces %f and %p; a literal % is written %%.
	wal := strings.ReplaceAll(shellQuote(WALDir(dir)), "%", "%%")
	return "d=" + wal + `; if [ -f "$d/%f" ]; then exec cp "$d/%f" "%p"; elif [ -f "$d/%f.partial" ]; then exec cp "$d/%f.partial" "%p"; else exit 1; fi`
}

// RecoverySettings are the settings of a restore from the archive in dir
// to target (nil: to the end of the archive), as postgresql.auto.conf
// lines; Patroni's custom bootstrap takes the same ones as recovery_conf.
func RecoverySettings(dir string, target *time.Time) []string {
	out := []string{"restore_command = " + confQuote(RestoreCommand(dir))}
	if target != nil {
		out = append(out, "recovery_target_time = "+confQuote(target.UTC().Format("2006-01-02 15:04:05.999999-07")))
	}
	return append(out,
		// Follow the failovers the archive saw, to the timeline that was
		// the primary's at the target.
		"recovery_target_timeline = 'latest'",
		"recovery_target_action = 'promote'")
}

func writeRecovery(dataDir string, settings []string) error {
	for _, name := range []string{"standby.signal", "postmaster.pid"} {
		if err := os.Remove(filepath.Join(dataDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.auto.conf"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write the recovery settings: %w", err)
	}
	text := "# point-in-time recovery from the pool's archive (poolctl archive restore)\n" + strings.Join(settings, "\n") + "\n"
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("write the recovery settings: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dataDir, "recovery.signal"), nil, 0o600)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func confQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
