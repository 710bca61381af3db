package dbarchive

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// Patroni before 3.2 keeps a permanent physical slot on the primary only:
// a member promoted in a failover creates it afresh, at its own position,
// and may already have recycled WAL the archive had not received. So the
// archive keeps a copy of its slot on every standby itself, advanced to
// where the primary's slot is (what the archive has on disk): the member
// that is promoted then holds every segment the archive still needs, and
// Patroni keeps the slot as it finds it. Patroni drops slots it does not
// know on a standby unless the cluster's ignore_slots names them.

// keepStandbySlots keeps the slot on every member but primary until ctx
// ends; failures are logged once per member and message.
func (a *archiver) keepStandbySlots(ctx context.Context, primary ledger.Member) {
	reported := map[string]string{}
	created := map[string]bool{}
	report := func(member, msg string) {
		if reported[member] != msg {
			reported[member] = msg
			if msg != "" {
				a.logf("slot copy on %s: %s", member, msg)
			}
		}
	}
	t := time.NewTicker(a.o.SlotCopyEvery)
	defer t.Stop()
	for {
		pos, err := a.slotPosition(ctx, primary)
		if err != nil {
			report(primary.String(), err.Error())
		} else if pos != "" {
			members, err := a.o.Members(ctx)
			if err != nil {
				report("the members", err.Error())
			}
			for _, m := range members {
				if m == primary {
					continue
				}
				made, err := a.keepSlot(ctx, m, pos)
				switch {
				case err != nil:
					report(m.String(), err.Error())
				case made && created[m.String()]:
					report(m.String(), fmt.Sprintf("slot %s was gone again: Patroni drops it unless the cluster's ignore_slots names it", a.o.Slot))
				case made:
					created[m.String()] = true
					report(m.String(), "")
					a.logf("slot copy on %s: created slot %s, following the primary's", m, a.o.Slot)
				default:
					report(m.String(), "")
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *archiver) connect(ctx context.Context, m ledger.Member, attrs string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(connString([]ledger.Member{m}, a.o.User, a.o.Application, attrs))
	if err != nil {
		return nil, err
	}
	cfg.Password = a.o.Password
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// slotPosition is the restart position of the primary's slot: WAL the
// archive has flushed ("" while the slot has none).
func (a *archiver) slotPosition(ctx context.Context, primary ledger.Member) (string, error) {
	conn, err := a.connect(ctx, primary, "read-write")
	if err != nil {
		return "", fmt.Errorf("read the slot's position: %s", oneLine(err))
	}
	defer conn.Close(context.Background())
	var pos *string
	err = conn.QueryRow(ctx, "SELECT restart_lsn::text FROM pg_catalog.pg_replication_slots WHERE slot_name = $1", a.o.Slot).Scan(&pos)
	if err != nil || pos == nil {
		return "", err
	}
	return *pos, nil
}

// keepSlot creates the slot on a standby when it has none and advances
// it to pos (never back: a standby's copy at or past pos stays).
func (a *archiver) keepSlot(ctx context.Context, m ledger.Member, pos string) (created bool, err error) {
	conn, err := a.connect(ctx, m, "standby")
	if err != nil {
		return false, fmt.Errorf("connect: %s", oneLine(err))
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(ctx, "SELECT pg_catalog.pg_create_physical_replication_slot($1, true) WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)", a.o.Slot)
	if err != nil {
		return false, fmt.Errorf("create slot %s: %w", a.o.Slot, err)
	}
	created = tag.RowsAffected() == 1
	_, err = conn.Exec(ctx, "SELECT pg_catalog.pg_replication_slot_advance(slot_name, least($2::pg_lsn, pg_catalog.pg_last_wal_replay_lsn())) FROM pg_catalog.pg_replication_slots WHERE slot_name = $1 AND slot_type = 'physical' AND restart_lsn < least($2::pg_lsn, pg_catalog.pg_last_wal_replay_lsn())", a.o.Slot, pos)
	if err != nil {
		return created, fmt.Errorf("advance slot %s to %s: %w", a.o.Slot, pos, err)
	}
	return created, nil
}
