// Package dbrestore prepares a restore of the pool's database from its
// archive on the cluster (`poolctl database restore`): it checks the
// archive can reach the moment asked for, stops what writes to the
// database and the database itself, clears the stopped cluster's state in
// Consul and records the restore request the members carry out when the
// database job runs again (dbmember.FollowRestore, Patroni's custom
// bootstrap from the archive's service). Deploying the pool then brings
// the database back as a new cluster holding every transaction committed
// up to that moment and none after, and the writers back on it.
package dbrestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbarchive"
	"github.com/scryptpool/poolmicrocloud/tools/internal/dbmember"
	"github.com/scryptpool/poolmicrocloud/tools/internal/jobspec"
)

// ErrRefused is wrapped by a restore refused before anything was stopped:
// a target the archive cannot reach, or no archive serving.
var ErrRefused = errors.New("restore refused")

// Options say what to restore.
type Options struct {
	Pool string
	// Jobs are the pool's jobs: the ones that write to the database and
	// the database's are stopped.
	Jobs []*jobspec.Job
	// Target is the moment to restore to.
	Target time.Time
	Now    func() time.Time
	// Progress gets one line per step.
	Progress io.Writer
}

// Stopped are the kinds of job a restore stops: every job that writes to
// the database, and the database. The wallets, the archive (it serves the
// restore), the health watcher and the web servers keep running: the web
// servers only read, their answers fail while the database is away, and
// their connections find the new primary after.
var Stopped = []jobspec.Kind{jobspec.KindStratum, jobspec.KindPayout, jobspec.KindBlocks, jobspec.KindStats, jobspec.KindBackup, jobspec.KindDatabase}

// Check reads what the archive published and refuses a target it cannot
// reach; it changes nothing.
func Check(ctx context.Context, consul *consulapi.Client, o Options) (dbarchive.Info, error) {
	var info dbarchive.Info
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if n := now(); o.Target.After(n) {
		return info, fmt.Errorf("%w: %s is in the future (now %s)", ErrRefused, stamp(o.Target), stamp(n))
	}
	key := contract.ArchiveInfoKey(o.Pool)
	pair, _, err := consul.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return info, fmt.Errorf("read what the archive holds (%s): %w", key, err)
	}
	if pair == nil {
		return info, fmt.Errorf("%w: the archive has published nothing at %s: is %s running?", ErrRefused, key, contract.ArchiveService(o.Pool))
	}
	if err := json.Unmarshal(pair.Value, &info); err != nil {
		return info, fmt.Errorf("%w: %s: %v", ErrRefused, key, err)
	}
	switch {
	case info.OldestRestorable == nil:
		return info, fmt.Errorf("%w: the archive holds no base backup it can restore yet (%d base backups)", ErrRefused, len(info.Backups))
	case o.Target.Before(*info.OldestRestorable):
		return info, fmt.Errorf("%w: %s is before the archive's oldest restorable point %s", ErrRefused, stamp(o.Target), stamp(*info.OldestRestorable))
	}
	name := contract.ArchiveService(o.Pool)
	entries, _, err := consul.Health().Service(name, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return info, fmt.Errorf("find the archive's service %s: %w", name, err)
	}
	if len(entries) == 0 {
		return info, fmt.Errorf("%w: no instance of %s passes its check: the members could not fetch the archive", ErrRefused, name)
	}
	return info, nil
}

// Prepare stops the writers and the database, waits until none of their
// allocations runs, clears Patroni's keys and records the restore
// request. Deploying the pool afterwards carries it out.
func Prepare(ctx context.Context, nomad *nomadapi.Client, consul *consulapi.Client, o Options) (dbmember.RestoreRequest, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	logf := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "restore: "+format+"\n", args...)
		}
	}
	var ids []string
	for _, j := range o.Jobs {
		if slices.Contains(Stopped, j.Kind) {
			ids = append(ids, j.ID())
		}
	}
	// Periodic jobs' launches are jobs of their own: a payout running now
	// is stopped too (its intent settles it after the restore).
	var all []string
	for _, id := range ids {
		all = append(all, id)
		children, _, err := nomad.Jobs().PrefixList(id + "/")
		if err != nil {
			return dbmember.RestoreRequest{}, fmt.Errorf("list the launches of %s: %w", id, err)
		}
		for _, c := range children {
			if c.ParentID == id && c.Status != "dead" {
				all = append(all, c.ID)
			}
		}
	}
	for _, id := range all {
		_, _, err := nomad.Jobs().Deregister(id, false, (&nomadapi.WriteOptions{}).WithContext(ctx))
		if err != nil && !notFound(err) {
			return dbmember.RestoreRequest{}, fmt.Errorf("stop job %s: %w", id, err)
		}
		logf("%s: stop asked", id)
	}
	for _, id := range all {
		if err := waitStopped(ctx, nomad, id); err != nil {
			return dbmember.RestoreRequest{}, err
		}
		logf("%s: stopped", id)
	}
	prefix := contract.DatabaseDCSPrefix(o.Pool)
	if _, err := consul.KV().DeleteTree(prefix, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return dbmember.RestoreRequest{}, fmt.Errorf("clear the stopped cluster's keys under %s: %w", prefix, err)
	}
	logf("the stopped cluster's state (Patroni's keys under %s) cleared", prefix)
	at := now()
	r := dbmember.RestoreRequest{ID: dbmember.NewRestoreID(at), Target: o.Target.UTC(), Archive: contract.ArchiveService(o.Pool), Requested: at.UTC()}
	b, err := json.Marshal(r)
	if err != nil {
		return r, err
	}
	key := contract.DatabaseRestoreKey(o.Pool)
	if _, err := consul.KV().Put(&consulapi.KVPair{Key: key, Value: b}, (&consulapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return r, fmt.Errorf("record the restore request at %s: %w", key, err)
	}
	logf("restore %s to %s recorded at %s: each member sets its copy aside once, the first restores from %s, the others copy it",
		r.ID, stamp(r.Target), key, r.Archive)
	return r, nil
}

// waitStopped follows a job's allocations with blocking queries until
// none runs or waits to run.
func waitStopped(ctx context.Context, nomad *nomadapi.Client, id string) error {
	var index uint64
	for {
		q := (&nomadapi.QueryOptions{WaitIndex: index, WaitTime: time.Minute}).WithContext(ctx)
		allocs, meta, err := nomad.Jobs().Allocations(id, false, q)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("job %s still runs: %w", id, ctx.Err())
			}
			return fmt.Errorf("follow job %s's allocations: %w", id, err)
		}
		live := 0
		for _, a := range allocs {
			if a.ClientStatus == nomadapi.AllocClientStatusRunning || a.ClientStatus == nomadapi.AllocClientStatusPending {
				live++
			}
		}
		if live == 0 {
			return nil
		}
		index = meta.LastIndex
	}
}

func notFound(err error) bool {
	var ue nomadapi.UnexpectedResponseError
	if errors.As(err, &ue) && ue.StatusCode() == 404 {
		return true
	}
	return strings.Contains(err.Error(), "job not found")
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.999999Z07:00") }

// AllowTime gives the database job the time a restore may take before
// Nomad judges its members: a member that restores fetches the archive
// and replays its WAL before PostgreSQL answers, which on a Pi with a
// large archive takes longer than the minutes a member normally has to
// start (check_restart's grace would restart it mid-restore, over and
// over). The next poolctl deploy registers the usual job again, which
// restarts the members one at a time.
func AllowTime(jobs []*jobspec.Job, d time.Duration) {
	for _, j := range jobs {
		if j.Kind != jobspec.KindDatabase {
			continue
		}
		if u := j.Job.Update; u != nil {
			u.HealthyDeadline = &d
			progress := d + 5*time.Minute
			u.ProgressDeadline = &progress
		}
		for _, g := range j.Job.TaskGroups {
			for _, s := range g.Services {
				for i := range s.Checks {
					if cr := s.Checks[i].CheckRestart; cr != nil {
						grace := d
						cr.Grace = &grace
					}
				}
			}
		}
	}
}
