// Package durable writes small files that must survive a power cut: a
// reader finds the old content or the new, never a torn file, and the new
// one is on disk when the call returns.
package durable

import (
	"os"
	"path/filepath"
)

// WriteFile replaces path with data: written to path+".tmp", synced,
// renamed over path, and the directory synced so that the rename is on
// disk too.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir syncs directory dir, so that files created, renamed or removed
// in it stay so after a power cut.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
