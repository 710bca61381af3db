package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scryptpool/poolmicrocloud/tools/internal/localdb"
)

// figure is one run of one approach; memory in MiB.
type figure struct {
	wall time.Duration
	// heap is the peak Go heap of this process above the heap before.
	heap float64
	// db is the peak private memory of the PostgreSQL processes serving
	// the run's connection; NaN when it could not be sampled throughout.
	db float64
	// shared is the most of shared_buffers the backend had touched.
	shared float64
	// workers is how many parallel workers the backend started.
	workers int
	credits int
	units   int64
}

const mib = 1 << 20

// measure runs f on a new connection (a new backend, so that no earlier
// run's memory counts), after a GC, and samples this process's heap and
// the database processes serving the connection while it runs.
func measure(ctx context.Context, pg *localdb.Scratch, f func(*pgx.Conn) (int, int64, error)) (figure, error) {
	conn, err := pgx.Connect(ctx, pg.DSN)
	if err != nil {
		return figure{}, err
	}
	defer conn.Close(context.Background())
	var backend int
	if err := conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return figure{}, fmt.Errorf("backend pid: %w", err)
	}
	db, err := newDBSampler(pg.Pid(), backend)
	if err != nil {
		return figure{}, err
	}

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	peakHeap := base.HeapAlloc
	var peakDB dbMemory
	var dbErr error
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peakHeap = max(peakHeap, m.HeapAlloc)
		d, err := db.sample()
		if err != nil {
			dbErr = err
			return
		}
		peakDB.Private, peakDB.Shared = max(peakDB.Private, d.Private), max(peakDB.Shared, d.Shared)
	}
	sample()
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	start := time.Now()
	credits, units, err := f(conn)
	wall := time.Since(start)
	close(done)
	<-sampled
	sample()
	fig := figure{wall: wall, heap: float64(peakHeap-base.HeapAlloc) / mib,
		db: float64(peakDB.Private) / mib, shared: float64(peakDB.Shared) / mib, credits: credits, units: units, workers: len(db.workers)}
	if dbErr != nil {
		fmt.Fprintf(os.Stderr, "database memory not measured: %v\n", dbErr)
		fig.db, fig.shared = math.NaN(), math.NaN()
	}
	return fig, err
}

// summarize is the median time of the runs and the most memory any run
// took: a memory limit holds only if it holds every time.
func summarize(fs []figure) figure {
	sorted := append([]figure(nil), fs...)
	sort.Slice(sorted, func(i, k int) bool { return sorted[i].wall < sorted[k].wall })
	s := sorted[len(sorted)/2]
	for _, f := range fs {
		// max is NaN when either is: one run not measured leaves the
		// highest unknown.
		s.heap, s.db, s.shared = max(s.heap, f.heap), max(s.db, f.db), max(s.shared, f.shared)
		s.workers = max(s.workers, f.workers)
	}
	return s
}
