package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
)

// readRestore reads the last restore the operator asked for (nil: none
// ever); an unreadable one is a line.
func readRestore(ctx context.Context, c *Clients, pool string) (*dbmember.RestoreRequest, string) {
	key := contract.DatabaseRestoreKey(pool)
	pair, _, err := c.Consul.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, APIError(c.ConsulAt, "read the database's last restore", err).Error()
	}
	if pair == nil {
		return nil, ""
	}
	r, err := dbmember.ParseRestoreRequest(pair.Value)
	if err != nil {
		return nil, fmt.Sprintf("%s: %v", key, err)
	}
	return &r, ""
}

// writeRestore shows the last restore: what the database was restored
// to, and when.
func writeRestore(w io.Writer, r *dbmember.RestoreRequest, problem string) {
	switch {
	case problem != "":
		fmt.Fprintf(w, "  last restore\t%s\n", problem)
	case r != nil:
		fmt.Fprintf(w, "  last restore\tto %s, asked %s (restore %s)\n",
			r.Target.UTC().Format("2006-01-02 15:04:05.000 UTC"), r.Requested.UTC().Format("2006-01-02 15:04 UTC"), r.ID)
	}
}

// readArchive reads what the database's archive last published; a
// missing key is no error (no archive yet), an unreadable one is a line.
func readArchive(ctx context.Context, c *Clients, pool string) (*dbarchive.Info, string) {
	key := contract.ArchiveInfoKey(pool)
	pair, _, err := c.Consul.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, APIError(c.ConsulAt, "read the database archive's record", err).Error()
	}
	if pair == nil {
		return nil, ""
	}
	var info dbarchive.Info
	if err := json.Unmarshal(pair.Value, &info); err != nil {
		return nil, fmt.Sprintf("%s is not what the archive writes: %v", key, err)
	}
	return &info, ""
}

// writeArchive shows the archive: its last base backup, how far back a
// restore can go, and how fresh its WAL is, as of at.
func writeArchive(w io.Writer, info *dbarchive.Info, problem string, at time.Time) {
	fmt.Fprintln(w, "\nDatabase archive")
	switch {
	case problem != "":
		fmt.Fprintf(w, "  %s\n", problem)
		return
	case info == nil:
		fmt.Fprintln(w, "  none yet: the archive job has published nothing (poolctl archive run)")
		return
	}
	age := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return fmt.Sprintf("%s (%s ago)", t.UTC().Format("2006-01-02 15:04 UTC"), since(at.Sub(*t)))
	}
	if b := info.LastBackup; b != nil {
		fmt.Fprintf(w, "  last base backup\t%s\t%.1f MiB\n", age(&b.Finished), float64(b.Bytes)/(1<<20))
	} else {
		fmt.Fprintln(w, "  last base backup\tNONE: nothing can be restored yet")
	}
	fmt.Fprintf(w, "  oldest restorable point\t%s\n", age(info.OldestRestorable))
	fmt.Fprintf(w, "  newest WAL received\t%s\t%s\n", age(info.NewestWALWritten), info.NewestWAL)
	if info.LastCommit != nil {
		fmt.Fprintf(w, "  last commit archived\t%s\n", age(info.LastCommit))
	}
	if info.Gap != "" {
		fmt.Fprintf(w, "  GAP: WAL segment %s is missing: nothing after it can be restored from the older base backups\n", info.Gap)
	}
	if info.SetAside != "" {
		fmt.Fprintf(w, "  history before the last restore\t%s (poolctl archive restore --dir)\n", info.SetAside)
	}
}

// since is an age for people: seconds to hours as Go writes them, days
// beyond two.
func since(d time.Duration) string {
	if d >= 48*time.Hour {
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), (d%(24*time.Hour))/time.Hour)
	}
	return d.Round(time.Second).String()
}
