package contract

// The database's archive (poolctl archive run, on the node holding the
// backup volume) streams WAL from the primary through a physical
// replication slot of this name. Patroni keeps it as a permanent slot
// (bootstrap.dcs.slots in the members' configuration), so the primary
// keeps the WAL the archive has not received, and a new primary creates
// the slot after a failover. Patroni only allows [a-z0-9_] in slot names.
const DatabaseArchiveSlot = "archive"

// DatabaseArchiveApplication is the archive's application_name on the
// primary (pg_stat_replication): not a member's name, so Patroni never
// makes it a synchronous standby and no commit waits for the archive.
const DatabaseArchiveApplication = "poolctl-archive"

// ArchiveInfoKey is where the archive publishes what it holds (its last
// base backup, the oldest point it can restore, the newest WAL): poolctl
// status shows it, as the archive's disk is on another node.
func ArchiveInfoKey(pool string) string { return KVRoot(pool) + "archive" }

// ArchiveService is the archive's service in Consul: `poolctl archive
// run` serves what the archive holds there, read-only, to the replication
// login, so that a member on another node can restore from it.
func ArchiveService(pool string) string { return pool + "-archive" }

// DatabaseRestoreKey holds the last restore the operator asked for
// (`poolctl database restore`): JSON RestoreRequest. Every member reads it
// when it starts: it sets aside a data directory older than the request
// once, and the member that creates the new cluster restores it from the
// archive. It stays after the restore, so that a member whose node was
// away during it sets its stale copy aside too.
func DatabaseRestoreKey(pool string) string { return KVRoot(pool) + "database-restore" }
