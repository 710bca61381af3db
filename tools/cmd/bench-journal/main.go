// Command bench-journal measures what the share journal (issue 16, item
// 6) costs a stratum server, in one run on this machine's disk: shares
// acknowledged per second and the added wait before each answer, with
// the journal (every share on disk before "accepted", fsyncs shared by
// the shares that queue behind one) beside no journal (today's baseline:
// acknowledged from memory, lost with the process). Both feed the
// pool's ledger writer as the stratum server does, from many
// connections at once; the database is not involved (what is measured
// is the answer's path). It also times one bare fdatasync of this disk
// for reference.
//
// Target: 1,000 shares per second (10,000 miners at one share each ten
// seconds, the stratum server's sizing) acknowledged through the journal
// with a 99th percentile wait under 100 ms. Exit codes: 0 met, 1 missed
// or the run failed (figures printed all the same).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scryptpool/poolmicrocloud/tools/internal/journal"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

func main() {
	var o options
	flag.IntVar(&o.shares, "shares", 40_000, "shares per run")
	flag.IntVar(&o.conns, "connections", 64, "connections submitting at once")
	flag.StringVar(&o.dir, "dir", "", "where the journal goes (default: a directory under $TMPDIR; give the disk the pool will use)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-journal:", err)
		os.Exit(1)
	}
}

type options struct {
	shares, conns int
	dir           string
}

const (
	targetRate = 1000.0
	targetP99  = 100 * time.Millisecond
)

type result struct {
	rate          float64
	p50, p99, max time.Duration
	perSync       float64
}

func run(o options) error {
	base := o.dir
	if base == "" {
		d, err := os.MkdirTemp("", "bench-journal-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		base = d
	}
	bare, err := bareSync(base)
	if err != nil {
		return err
	}
	fmt.Printf("bench-journal: %d shares from %d connections at once; disk under %s: one fdatasync of a 300-byte append takes %v (median of 50)\n\n",
		o.shares, o.conns, base, bare.Round(time.Microsecond))

	without, err := measure(o, "")
	if err != nil {
		return err
	}
	with, err := measure(o, filepath.Join(base, "share-journal"))
	if err != nil {
		return err
	}
	fmt.Printf("%-38s %14s %10s %10s %10s %14s\n", "", "shares/s", "p50 wait", "p99 wait", "max wait", "shares/fsync")
	row := func(name string, r result, sync string) {
		fmt.Printf("%-38s %14.0f %10v %10v %10v %14s\n", name, r.rate, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.max.Round(time.Microsecond), sync)
	}
	row("baseline: no journal (lost on a kill)", without, "-")
	row("journal: on disk before the answer", with, fmt.Sprintf("%.1f", with.perSync))
	met := with.rate >= targetRate && with.p99 < targetP99
	verdict := "MET"
	if !met {
		verdict = "NOT MET"
	}
	fmt.Printf("\ntarget: >= %.0f shares/s through the journal with p99 wait < %v: %s\n", targetRate, targetP99, verdict)
	if !met {
		os.Exit(1)
	}
	return nil
}

// measure feeds o.shares shares from o.conns goroutines, each waiting for
// its answer before the next share, as a connection's reader does.
func measure(o options, dir string) (result, error) {
	opts := ledger.WriterOptions{BufferShares: o.shares + 1}
	var j *journal.Journal
	if dir != "" {
		var err error
		if j, err = journal.Open(dir, journal.Options{}); err != nil {
			return result{}, err
		}
		defer j.Close()
		defer os.RemoveAll(dir)
		opts.Journal = j
	}
	w := ledger.NewWriter(nil, opts) // Add never touches the database
	waits := make([]time.Duration, o.shares)
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	per := o.shares / o.conns
	start := time.Now()
	for c := range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				n := c*per + i
				t0 := time.Now()
				err := w.Add(ledger.Share{
					Key: fmt.Sprintf("bench-%d-%d", c, i), Coin: "ltc", Address: fmt.Sprintf("ltc1qbenchaddress%03d", c),
					Worker: "rig1", Difficulty: 16, NetworkDifficulty: 25_000_000, Height: 2_800_000, Instance: "bench", At: t0,
				})
				waits[n] = time.Since(t0)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failed != nil {
		return result{}, failed
	}
	waits = waits[:per*o.conns]
	slices.Sort(waits)
	r := result{
		rate: float64(len(waits)) / elapsed.Seconds(),
		p50:  waits[len(waits)/2], p99: waits[len(waits)*99/100], max: waits[len(waits)-1],
	}
	if j != nil {
		s := j.Stats()
		r.perSync = float64(s.Appended) / float64(max(s.Syncs, 1))
	}
	return r, nil
}

// bareSync is the median time of one small append and fdatasync here.
func bareSync(dir string) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rec := make([]byte, 300)
	var times []time.Duration
	for range 50 {
		t0 := time.Now()
		if _, err := f.Write(rec); err != nil {
			return 0, err
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return 0, err
		}
		times = append(times, time.Since(t0))
	}
	slices.Sort(times)
	return times[len(times)/2], nil
}
