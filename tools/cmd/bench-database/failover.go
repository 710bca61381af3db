package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
)

// failoverInstance marks the shares fed across the power cut.
const failoverInstance = "bench-failover"

// failoverResult is what the power cut of the primary showed. Times are
// seconds after the cut, NaN when it did not happen within patience;
// the counts are -1 when they could not be made.
type failoverResult struct {
	primary, standby string
	feedRate         int
	// promoted: the standby answered /primary; firstWrite: the first
	// share acknowledged after the cut was in it.
	promoted, firstWrite           float64
	acked, ackedBeforeCut, refused int64
	// inPrimary are the distinct fed shares in the new primary; missing
	// the acknowledged ones not there; duplicates rows beyond one per
	// share; unexpected shares there that were never acknowledged.
	inPrimary, missing, duplicates, unexpected int64
	// The writer's own account: failed transactions (each retried),
	// shares of a batch found already stored when retried (its commit's
	// answer lost with the primary), shares given up on.
	failedAttempts, rewritten, dropped uint64
}

// measureFailover cuts the power of the replicated cluster's primary
// while a writer is fed shares at a steady rate.
func measureFailover(ctx context.Context, o options, c *localdb.Cluster) (failoverResult, error) {
	nan := math.NaN()
	res := failoverResult{feedRate: o.feedRate, promoted: nan, firstWrite: nan, inPrimary: -1, missing: -1, duplicates: -1, unexpected: -1}
	primary, standby, err := ready(ctx, c, time.Minute)
	if err != nil {
		return res, err
	}
	res.primary, res.standby = primary.Name, standby.Name
	db, err := ledger.Open(c.DSN(), nil, "", 4)
	if err != nil {
		return res, err
	}
	defer db.Close()
	w := ledger.NewWriter(db, ledger.WriterOptions{})
	writerCtx, stopWriter := context.WithCancel(ctx)
	writerDone := make(chan error, 1)
	go func() { writerDone <- w.Run(writerCtx) }()
	var (
		writerStopped bool
		runErr        error
	)
	stop := func() error {
		if !writerStopped {
			stopWriter()
			runErr, writerStopped = <-writerDone, true
		}
		return runErr
	}
	defer stop()
	// The standby is watched on a connection of its own, whatever its
	// role: a share found there after the cut was written there.
	watch := &memberReader{dsn: standby.DSN()}
	defer watch.close()

	f := &feeder{w: w, rate: o.feedRate, miners: o.miners}
	feedCtx, stopFeed := context.WithCancel(ctx)
	fed := make(chan struct{})
	go func() { defer close(fed); f.run(feedCtx) }()
	defer func() { stopFeed(); <-fed }()

	fmt.Fprintf(os.Stderr, "failover: feeding %d shares/s; primary %s, synchronous standby %s\n", o.feedRate, primary.Name, standby.Name)
	if err := sleep(ctx, 5*time.Second); err != nil {
		return res, err
	}
	if s := w.Stats(); s.Written == 0 {
		return res, fmt.Errorf("no share written before the power cut (last error: %v)", s.LastError)
	}
	cut := time.Now()
	f.markCut()
	if err := primary.Kill(); err != nil {
		return res, err
	}
	fmt.Fprintf(os.Stderr, "failover: power cut on %s\n", primary.Name)

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := cut.Add(o.patience)
	for math.IsNaN(res.promoted) || math.IsNaN(res.firstWrite) {
		if math.IsNaN(res.promoted) && standby.Answers("/primary") {
			res.promoted = time.Since(cut).Seconds()
			fmt.Fprintf(os.Stderr, "failover: %s answers /primary %.1f s after the cut\n", standby.Name, res.promoted)
		}
		if key := f.firstAfterCut(); math.IsNaN(res.firstWrite) && key != "" {
			if ok, _ := watch.has(ctx, key); ok {
				res.firstWrite = time.Since(cut).Seconds()
				fmt.Fprintf(os.Stderr, "failover: share %s, the first acknowledged after the cut, written on %s %.1f s after it\n", key, standby.Name, res.firstWrite)
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "failover: waited %s after the cut\n", o.patience)
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}

	// A little more of the pool's life on the new primary, then the
	// miners stop and the writer writes what it holds.
	if err := sleep(ctx, 5*time.Second); err != nil {
		return res, err
	}
	stopFeed()
	<-fed
	res.acked, res.ackedBeforeCut, res.refused = f.counts()
	flushCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	flushErr := w.Flush(flushCtx)
	cancel()
	runErr = stop()
	s := w.Stats()
	res.failedAttempts, res.rewritten, res.dropped = s.FailedAttempts, s.Duplicates, s.Dropped
	if flushErr != nil || runErr != nil {
		// The writer still held acknowledged shares: counting the new
		// primary now would call them lost while they are not written
		// yet, or written elsewhere.
		fmt.Fprintf(os.Stderr, "failover: the writer did not write everything (flush: %v; run: %v); shares not counted\n", flushErr, runErr)
		return res, nil
	}
	if math.IsNaN(res.promoted) {
		fmt.Fprintln(os.Stderr, "failover: the standby was never promoted; shares not counted")
		return res, nil
	}
	keys, err := watch.keys(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "failover: count the shares on %s: %v\n", standby.Name, err)
		return res, nil
	}
	res.inPrimary, res.missing, res.duplicates, res.unexpected = f.compare(keys)
	return res, nil
}

// feeder hands shares to the writer at a steady rate, as miners submit
// them, and remembers which it acknowledged: those the writer accepted
// (a full buffer refuses a share, and the stratum server answers "pool
// busy").
type feeder struct {
	w            *ledger.Writer
	rate, miners int
	started      time.Time

	mu       sync.Mutex
	acked    []bool // by the share's number
	refused  int64
	cut      bool
	atCut    int64
	firstCut string
}

func (f *feeder) run(ctx context.Context) {
	f.started = time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// Shares due by now: a late tick catches up rather than lowering
		// the rate.
		due := int(time.Since(f.started).Seconds() * float64(f.rate))
		f.mu.Lock()
		for n := len(f.acked); n < due; n++ {
			key := failoverInstance + "-" + strconv.Itoa(n)
			err := f.w.Add(benchShare(key, failoverInstance, n%f.miners))
			f.acked = append(f.acked, err == nil)
			switch {
			case err == nil:
				if f.cut && f.firstCut == "" {
					f.firstCut = key
				}
			case errors.Is(err, ledger.ErrBufferFull):
				f.refused++
			default:
				f.mu.Unlock()
				return
			}
		}
		f.mu.Unlock()
	}
}

// markCut notes the power cut: the next share acknowledged is the first
// after it.
func (f *feeder) markCut() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut = true
	for _, a := range f.acked {
		if a {
			f.atCut++
		}
	}
}

func (f *feeder) firstAfterCut() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.firstCut
}

func (f *feeder) counts() (acked, beforeCut, refused int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.acked {
		if a {
			acked++
		}
	}
	return acked, f.atCut, f.refused
}

// compare sets the keys found in the new primary against the shares
// acknowledged.
func (f *feeder) compare(keys []string) (inPrimary, missing, duplicates, unexpected int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := make(map[int]int, len(keys))
	for _, k := range keys {
		n, err := strconv.Atoi(strings.TrimPrefix(k, failoverInstance+"-"))
		if err != nil || n < 0 || n >= len(f.acked) || !f.acked[n] {
			unexpected++
			continue
		}
		seen[n]++
	}
	for n, a := range f.acked {
		if !a {
			continue
		}
		switch c := seen[n]; {
		case c == 0:
			missing++
		default:
			inPrimary++
			duplicates += int64(c - 1)
		}
	}
	return inPrimary, missing, duplicates, unexpected
}

// memberReader reads one member, reconnecting after an error.
type memberReader struct {
	dsn  string
	conn *pgx.Conn
}

func (r *memberReader) connect(ctx context.Context) error {
	if r.conn != nil && !r.conn.IsClosed() {
		return nil
	}
	conn, err := pgx.Connect(ctx, r.dsn)
	if err != nil {
		return err
	}
	r.conn = conn
	return nil
}

func (r *memberReader) has(ctx context.Context, key string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := r.connect(ctx); err != nil {
		return false, err
	}
	var ok bool
	err := r.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM shares WHERE share_key = $1)`, key).Scan(&ok)
	if err != nil {
		r.close()
	}
	return ok, err
}

// keys are the fed shares' keys, one per row.
func (r *memberReader) keys(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	rows, err := r.conn.Query(ctx, `SELECT share_key FROM shares WHERE instance = $1`, failoverInstance)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (r *memberReader) close() {
	if r.conn != nil {
		_ = r.conn.Close(context.Background())
		r.conn = nil
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
