package dbarchive

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// RunOptions configure the archive's process.
type RunOptions struct {
	// Dir is the archive, on the backup node's volume.
	Dir string
	// Members are the database's members; the archive streams from the
	// one that accepts writes.
	Members Members
	// User and Password are the replication login.
	User, Password string
	// Slot is the physical replication slot on the primary
	// (contract.DatabaseArchiveSlot), Application the archive's
	// application_name (contract.DatabaseArchiveApplication).
	Slot, Application string
	// PGBin holds pg_receivewal and pg_basebackup.
	PGBin string
	// BaseBackupEvery is the time between base backups; Keep how far
	// back the archive can restore (retention).
	BaseBackupEvery, Keep time.Duration
	// RetryEvery is the wait before looking for a primary again (1 s if
	// zero): during a failover there is none for about Patroni's TTL.
	RetryEvery time.Duration
	// SlotCopyEvery is how often the standbys' copies of the slot follow
	// the primary's (10 s if zero).
	SlotCopyEvery time.Duration
	// Log gets one line per step.
	Log io.Writer
	// Notify, when set, hears of the archive's events.
	Notify func(Event)
	Now    func() time.Time
}

// EventKind says what happened.
type EventKind string

const (
	EventStreaming   EventKind = "streaming"    // pg_receivewal started against Member
	EventStreamEnded EventKind = "stream-ended" // it exited (Err says why)
	EventBackup      EventKind = "base-backup"  // a base backup is in the archive
	EventExpired     EventKind = "expired"      // retention removed something
	// The archive was not on the primary's history (Reason says why): its
	// contents moved to SetAside and it started afresh.
	EventSetAside EventKind = "set-aside"
)

// Event is one thing the archive did, for tests and monitoring.
type Event struct {
	Kind   EventKind
	At     time.Time
	Member string
	Backup *Backup
	Err    error
	// SetAside and Reason tell of an EventSetAside.
	SetAside, Reason string
}

var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// Check says what is wrong with the options, naming the setting.
func (o RunOptions) Check() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("no archive directory given")
	case o.Members == nil:
		return fmt.Errorf("no way to find the database's members")
	case o.User == "":
		return fmt.Errorf("no replication login given")
	case o.Password == "":
		return fmt.Errorf("the replication login's password is empty")
	case !slotName.MatchString(o.Slot):
		return fmt.Errorf("replication slot %q: only a-z, 0-9 and _ (Patroni's rule)", o.Slot)
	case o.BaseBackupEvery < time.Minute:
		return fmt.Errorf("base backups every %s: at least a minute apart", o.BaseBackupEvery)
	case o.Keep < o.BaseBackupEvery:
		return fmt.Errorf("keeping %s with base backups every %s: keep at least one interval", o.Keep, o.BaseBackupEvery)
	}
	return checkPrograms(o.PGBin, "pg_receivewal", "pg_basebackup")
}

type archiver struct {
	o   RunOptions
	now func() time.Time
	mu  sync.Mutex // one log line at a time
	// dir is held to take a base backup, apply retention or set the
	// archive aside: none of them moves what another one writes.
	dir sync.Mutex
	// setAside tells the base backups that the archive started afresh.
	setAside chan struct{}
}

// Run keeps the archive until ctx ends: it streams WAL from the primary,
// keeps a copy of the slot on every standby at the primary's slot's
// position, finds the new primary after a failover and resumes where the
// archive ends (pg_receivewal fetches the timeline history and follows
// the switch; the new primary kept the WAL for its copy of the slot, so
// the archive has no gap), takes a base backup at start when there is
// none and then every BaseBackupEvery, and applies retention after each.
// Before streaming from a primary it checks that the archive's WAL is on
// the primary's history; when it is not (a cluster restored from it, or
// another cluster), it sets the archive aside and starts afresh.
// It returns nil when ctx ends and an error only for options it cannot
// run with.
func Run(ctx context.Context, o RunOptions) error {
	if o.Application == "" {
		o.Application = contract.DatabaseArchiveApplication
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = time.Second
	}
	if o.SlotCopyEvery <= 0 {
		o.SlotCopyEvery = 10 * time.Second
	}
	if err := o.Check(); err != nil {
		return err
	}
	a := &archiver{o: o, now: o.Now, setAside: make(chan struct{}, 1)}
	if a.now == nil {
		a.now = time.Now
	}
	if _, err := os.Stat(o.Dir); err == nil {
		aside, err := finishPendingSetAside(o.Dir)
		if err != nil {
			return fmt.Errorf("archive directory: %w", err)
		}
		if aside != "" {
			a.logf("finished setting the archive aside into %s (interrupted)", aside)
		}
	}
	for _, d := range []string{o.Dir, WALDir(o.Dir), baseDir(o.Dir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("archive directory: %w", err)
		}
	}
	removed, err := removeUnfinished(o.Dir)
	if err != nil {
		return fmt.Errorf("remove unfinished base backups: %w", err)
	}
	for _, r := range removed {
		a.logf("removed %s: a base backup interrupted before it was whole", filepath.Join(baseDir(o.Dir), r))
	}
	a.logf("archive %s: WAL from the primary through slot %s, a base backup every %s, restorable for %s", o.Dir, o.Slot, o.BaseBackupEvery, o.Keep)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.stream(ctx) }()
	go func() { defer wg.Done(); a.backups(ctx) }()
	wg.Wait()
	a.logf("stopped")
	return nil
}

func (a *archiver) logf(format string, args ...any) { a.logLine(fmt.Sprintf(format, args...)) }

func (a *archiver) logLine(line string) {
	if a.o.Log == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.o.Log, "archive: %s\n", line)
}

func (a *archiver) notify(e Event) {
	if a.o.Notify != nil {
		e.At = a.now()
		a.o.Notify(e)
	}
}

// wait waits d or until ctx ends, and says whether to go on.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (a *archiver) login() login { return login{a.o.User, a.o.Password} }

// primary finds the primary, trying again every RetryEvery until one
// answers or ctx ends; it logs a failure once, not every attempt.
func (a *archiver) primary(ctx context.Context, free bool, what string) (ledger.Member, bool) {
	var lastErr string
	var since time.Time
	for {
		p, err := findPrimary(ctx, a.o.Members, a.login(), a.o.Slot, a.o.Application, free)
		if err == nil {
			if lastErr != "" {
				a.logf("%s: primary %s found after %s without one", what, p, sinceStart(a.now(), since))
			}
			return p, true
		}
		if ctx.Err() != nil {
			return p, false
		}
		if err.Error() != lastErr {
			if lastErr == "" {
				since = a.now()
			}
			lastErr = err.Error()
			a.logf("%s: %v; trying every %s", what, err, a.o.RetryEvery)
		}
		if !wait(ctx, a.o.RetryEvery) {
			return p, false
		}
	}
}

// stream runs pg_receivewal against the primary, and again against
// whichever member is primary when it exits, until ctx ends. After a
// run that failed at once (a primary that refuses what the archive asks
// for) it waits, longer each time, up to 30 RetryEvery.
func (a *archiver) stream(ctx context.Context) {
	backoff := a.o.RetryEvery
	for ctx.Err() == nil {
		p, ok := a.primary(ctx, true, "WAL")
		if !ok {
			return
		}
		if err := a.followPrimary(ctx, p); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.logf("WAL: %v; again in %s", err, backoff)
			if !wait(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 30*a.o.RetryEvery)
			continue
		}
		a.logf("WAL: streaming from %s into %s (slot %s)", p, WALDir(a.o.Dir), a.o.Slot)
		a.notify(Event{Kind: EventStreaming, Member: p.String()})
		started := a.now()
		keepCtx, stopKeeping := context.WithCancel(ctx)
		kept := make(chan struct{})
		go func() { defer close(kept); a.keepStandbySlots(keepCtx, p) }()
		err := program(ctx, a.o.PGBin, "pg_receivewal", a.o.Password, a.logLine,
			"--directory="+WALDir(a.o.Dir), "--slot="+a.o.Slot,
			// Flush every write and report it at once: the slot then
			// releases on the primary only WAL on the archive's disk, and
			// the archive's lag shows in pg_stat_replication as it is.
			"--synchronous",
			// Exit when the connection is lost, to look for the primary
			// again (it may be another member now).
			"--no-loop", "--no-password", "--verbose",
			"--dbname="+connString([]ledger.Member{p}, a.o.User, a.o.Application, "read-write"))
		stopKeeping()
		<-kept
		if ctx.Err() != nil {
			return
		}
		ran := a.now().Sub(started)
		a.logf("WAL: pg_receivewal from %s ended after %s: %v", p, ran.Round(100*time.Millisecond), err)
		a.notify(Event{Kind: EventStreamEnded, Member: p.String(), Err: err})
		if ran > 10*a.o.RetryEvery {
			backoff = a.o.RetryEvery
			continue
		}
		if !wait(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 30*a.o.RetryEvery)
	}
}

// followPrimary checks that the archive is on primary's history, so
// that streaming from it continues the archive, and sets the archive
// aside when it is not.
func (a *archiver) followPrimary(ctx context.Context, primary ledger.Member) error {
	why, tail, err := a.offHistory(ctx, primary)
	if err != nil || why == "" && tail == nil {
		return err
	}
	a.dir.Lock()
	defer a.dir.Unlock()
	why, tail, err = a.offHistory(ctx, primary)
	if err != nil {
		return err
	}
	if why == "" {
		if tail == nil {
			return nil
		}
		if err := clearPastBranch(WALDir(a.o.Dir), *tail); err != nil {
			return err
		}
		a.logf("WAL: %s", tail)
		return nil
	}
	aside, err := setAside(a.o.Dir, a.now())
	if err != nil {
		return err
	}
	a.logf("set the archive aside into %s and started %s afresh: %s; WAL from %s through slot %s and a base backup at once",
		aside, a.o.Dir, why, primary, a.o.Slot)
	a.notify(Event{Kind: EventSetAside, Member: primary.String(), SetAside: aside, Reason: why})
	select {
	case a.setAside <- struct{}{}:
	default:
	}
	return nil
}

// offHistory says why the archive is not on primary's history, or ""
// when it is; and what of its newest segment lies past the primary's
// branch, to clear (onHistory).
func (a *archiver) offHistory(ctx context.Context, primary ledger.Member) (string, *pastBranch, error) {
	s, err := identify(ctx, primary, a.login(), a.o.Application)
	if err != nil {
		return "", nil, err
	}
	end, err := readArchiveEnd(WALDir(a.o.Dir))
	if err != nil {
		return "", nil, err
	}
	_, why, tail := onHistory(end, s)
	return why, tail, nil
}

// waitBackups waits d, or until the archive starts afresh, or until ctx
// ends, and says whether to go on.
func (a *archiver) waitBackups(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-a.setAside:
		return true
	case <-t.C:
		return true
	}
}

// backupWanted says why no base backup of primary belongs in the archive
// now, or "": one belongs there once the archive's WAL is on primary's
// history and streaming has begun (the backup's WAL then follows what
// the archive holds).
func (a *archiver) backupWanted(ctx context.Context, primary ledger.Member) (string, error) {
	end, err := readArchiveEnd(WALDir(a.o.Dir))
	if err != nil {
		return "", err
	}
	if end.Empty {
		return "no WAL streamed yet", nil
	}
	why, _, err := a.offHistory(ctx, primary)
	if why != "" {
		why = "the archive is to be set aside: " + why
	}
	return why, err
}

// backups takes a base backup when the archive has none, then every
// BaseBackupEvery after the last one started, and applies retention.
func (a *archiver) backups(ctx context.Context) {
	a.expire()
	lastWait := ""
	for ctx.Err() == nil {
		backups, err := ListBackups(a.o.Dir)
		if err != nil {
			a.logf("base backups: %v", err)
			if !a.waitBackups(ctx, a.o.BaseBackupEvery) {
				return
			}
			continue
		}
		if n := len(backups); n > 0 {
			next := backups[n-1].Started.Add(a.o.BaseBackupEvery)
			if d := next.Sub(a.now()); d > 0 {
				a.logf("base backup: the next at %s", formatTime(next))
				if !a.waitBackups(ctx, d) {
					return
				}
				continue
			}
		} else if lastWait == "" {
			a.logf("base backup: the archive has none; taking one")
		}
		p, ok := a.primary(ctx, false, "base backup")
		if !ok {
			return
		}
		a.dir.Lock()
		why, err := a.backupWanted(ctx, p)
		if err != nil || why != "" {
			a.dir.Unlock()
			if err != nil {
				why = err.Error()
			}
			if why != lastWait {
				a.logf("base backup: not yet from %s: %s", p, why)
				lastWait = why
			}
			if !a.waitBackups(ctx, a.o.RetryEvery) {
				return
			}
			continue
		}
		lastWait = ""
		a.logf("base backup: from %s", p)
		b, err := a.takeBackup(ctx, p)
		a.dir.Unlock()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			a.logf("base backup from %s failed: %v; again in %s", p, err, a.o.RetryEvery*30)
			if !a.waitBackups(ctx, a.o.RetryEvery*30) {
				return
			}
			continue
		}
		a.logf("base backup %s: %d bytes from %s in %s, WAL %s to %s on timeline %d",
			b.ID, b.Bytes, b.From, b.Finished.Sub(b.Started).Round(time.Millisecond), b.StartLSN, b.EndLSN, b.Timeline)
		a.notify(Event{Kind: EventBackup, Member: b.From, Backup: &b})
		a.expire()
	}
}

// expire applies retention; a failure is logged and retried after the
// next base backup.
func (a *archiver) expire() {
	a.dir.Lock()
	defer a.dir.Unlock()
	backups, err := ListBackups(a.o.Dir)
	if err != nil {
		a.logf("retention: %v", err)
		return
	}
	wal, err := listWAL(WALDir(a.o.Dir))
	if err != nil {
		a.logf("retention: %v", err)
		return
	}
	e := expire(backups, wal, a.now(), a.o.Keep)
	for _, b := range e.Backups {
		if err := os.RemoveAll(filepath.Join(baseDir(a.o.Dir), b.ID)); err != nil {
			a.logf("retention: %v", err)
			return
		}
		a.logf("retention: removed base backup %s (finished %s): a newer one covers the last %s", b.ID, formatTime(b.Finished), a.o.Keep)
	}
	for _, f := range e.WAL {
		if err := os.Remove(walPath(WALDir(a.o.Dir), f)); err != nil {
			a.logf("retention: %v", err)
			return
		}
	}
	if n := len(e.WAL); n > 0 {
		a.logf("retention: removed %d WAL segment files, %s to %s: older than the oldest base backup kept", n, e.WAL[0].Name, e.WAL[n-1].Name)
	}
	if len(e.Backups) > 0 || len(e.WAL) > 0 {
		a.notify(Event{Kind: EventExpired})
	}
}
