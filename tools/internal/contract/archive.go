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
