package dbarchive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// takeBackup takes a base backup of primary into the archive: tar,
// gzipped, with a fast checkpoint and without WAL (the archive streams
// it). It is written under a temporary name and renamed only once whole,
// with its backup.json, so that nothing half-written is ever a base
// backup.
func (a *archiver) takeBackup(ctx context.Context, primary ledger.Member) (Backup, error) {
	started := a.now()
	b := Backup{ID: backupID(started), Started: started.UTC(), From: primary.String()}
	final := filepath.Join(baseDir(a.o.Dir), b.ID)
	if _, err := os.Stat(final); err == nil {
		return b, fmt.Errorf("base backup %s exists already", final)
	}
	tmp := filepath.Join(baseDir(a.o.Dir), tmpPrefix+b.ID)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return b, fmt.Errorf("create %s: %w", tmp, err)
	}
	done := false
	defer func() {
		if !done {
			_ = os.RemoveAll(tmp)
		}
	}()
	err := program(ctx, a.o.PGBin, "pg_basebackup", a.o.Password, a.logLine,
		"--pgdata="+tmp, "--format=tar", "--gzip", "--wal-method=none", "--checkpoint=fast",
		"--label=poolctl archive "+b.ID, "--no-password",
		"--dbname="+connString([]ledger.Member{primary}, a.o.User, a.o.Application+"-basebackup", "read-write"))
	if err != nil {
		return b, err
	}
	if ctx.Err() != nil {
		return b, ctx.Err()
	}
	b.Finished = a.now().UTC()
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return b, err
	}
	for _, e := range entries {
		if n := e.Name(); n != baseTar && n != manifestFile {
			return b, fmt.Errorf("base backup %s has %s: tablespaces are not archived", b.ID, n)
		}
		info, err := e.Info()
		if err != nil {
			return b, err
		}
		b.Bytes += info.Size()
	}
	if b.Timeline, b.StartLSN, b.EndLSN, err = manifestWAL(filepath.Join(tmp, manifestFile)); err != nil {
		return b, fmt.Errorf("base backup %s: %w", b.ID, err)
	}
	meta, _ := json.MarshalIndent(b, "", "  ")
	if err := writeSynced(filepath.Join(tmp, metaFile), append(meta, '\n')); err != nil {
		return b, err
	}
	if err := syncDir(tmp); err != nil {
		return b, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return b, fmt.Errorf("name base backup %s: %w", b.ID, err)
	}
	done = true
	return b, syncDir(baseDir(a.o.Dir))
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// removeUnfinished removes base backups whose taking was interrupted
// (their temporary directories): no restore reads them.
func removeUnfinished(dir string) ([]string, error) {
	entries, err := os.ReadDir(baseDir(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), tmpPrefix) {
			if err := os.RemoveAll(filepath.Join(baseDir(dir), e.Name())); err != nil {
				return out, err
			}
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// sinceStart is how long ago t was, rounded for a log line.
func sinceStart(now, t time.Time) time.Duration { return now.Sub(t).Round(100 * time.Millisecond) }
