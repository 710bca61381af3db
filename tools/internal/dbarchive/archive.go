// Package dbarchive keeps the database's archive on the backup node: WAL
// streamed from the primary with pg_receivewal through a replication
// slot, following failovers, and base backups taken with pg_basebackup,
// with retention; it reports what the archive holds and restores it to a
// point in time into an empty data directory.
//
// The archive is a directory:
//
//	wal/             segments as pg_receivewal names them (the newest ends in .partial) and timeline history files
//	base/<id>/       one base backup: base.tar.gz, backup_manifest, backup.json
//	base/.tmp-<id>/  a base backup being taken; never read, removed at start
//
// Nothing is ever overwritten; a base backup appears under its final name
// only once it is whole.
package dbarchive

import "path/filepath"

const (
	walSubdir  = "wal"
	baseSubdir = "base"
	tmpPrefix  = ".tmp-"
	// Files of one base backup.
	baseTar      = "base.tar.gz"
	manifestFile = "backup_manifest"
	metaFile     = "backup.json"
)

// WALDir is where the archive keeps WAL: what restore_command reads.
func WALDir(dir string) string { return filepath.Join(dir, walSubdir) }

func baseDir(dir string) string { return filepath.Join(dir, baseSubdir) }
