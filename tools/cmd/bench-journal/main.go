// Command bench-journal measures what the share journal (issue 16, item
// 6) costs a stratum server, in one run on this machine's disk: shares
// acknowledged per second and the added wait before each answer, with
// the journal (every share on disk before "accepted", fsyncs shared by
// the shares that queue behind one) beside no journal (the baseline:
// acknowledged from memory, lost with the process). Then a process
// acknowledging shares with the database away is killed with SIGKILL,
// with and without the journal, and the acknowledged shares a restart
// would write are counted. Both feed the
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
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scryptpool/poolmicrocloud/tools/internal/journal"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

func main() {
	if dir := os.Getenv(childEnv); dir != "" {
		child(dir)
		return
	}
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
	lost          int
}

const childEnv = "BENCH_JOURNAL_CHILD"

type killed struct{ acked, replayed, lost int }

// killRun starts this program as a child that acknowledges shares as a
// stratum server does, with the database away, kills it with SIGKILL once
// it acknowledged 5,000, and counts what a restart would write.
func killRun(base string, journaled bool) (killed, error) {
	dir := filepath.Join(base, "kill-journal")
	defer os.RemoveAll(dir)
	arg := "none"
	if journaled {
		arg = dir
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+arg)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return killed{}, err
	}
	if err := cmd.Start(); err != nil {
		return killed{}, err
	}
	acked := map[string]bool{}
	sc := bufio.NewScanner(out)
	for sc.Scan() && len(acked) < 5000 {
		acked[sc.Text()] = true
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if len(acked) < 5000 {
		return killed{}, fmt.Errorf("the child acknowledged only %d shares", len(acked))
	}
	k := killed{acked: len(acked)}
	if !journaled {
		k.lost = k.acked // held in memory only
		return k, nil
	}
	j, err := journal.Open(dir, journal.Options{})
	if err != nil {
		return k, err
	}
	defer j.Close()
	replayed := map[string]bool{}
	if _, err := j.Replay(func(p []byte) (uint64, error) {
		var r struct{ Share *ledger.Share }
		if err := json.Unmarshal(p, &r); err != nil || r.Share == nil {
			return 0, fmt.Errorf("not a share record: %q", p)
		}
		replayed[r.Share.Key] = true
		return uint64(len(replayed)), nil
	}); err != nil {
		return k, err
	}
	k.replayed = len(replayed)
	for key := range acked {
		if !replayed[key] {
			k.lost++
		}
	}
	return k, nil
}

// child acknowledges shares from 16 connections and prints each key once
// Add returned, as the server writes "accepted" only then.
func child(dir string) {
	opts := ledger.WriterOptions{BufferShares: 1 << 20}
	if dir != "none" {
		j, err := journal.Open(dir, journal.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		opts.Journal = j
	}
	w := ledger.NewWriter(nil, opts)
	var mu sync.Mutex
	stdout := bufio.NewWriter(os.Stdout)
	for c := range 16 {
		go func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("kill-%d-%d", c, i)
				if err := w.Add(ledger.Share{Key: key, Coin: "ltc", Address: "ltc1qbench", Worker: "rig", Difficulty: 16, Instance: "bench"}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintln(stdout, key)
				_ = stdout.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}

func run(o options) error {
	// Always a directory of its own, even under --dir: a pool's data
	// directory may hold a real share journal.
	base, err := os.MkdirTemp(o.dir, "bench-journal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
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
	fmt.Println()
	fmt.Printf("%-38s %14s %10s %10s\n", "killed with SIGKILL (database away)", "acknowledged", "replayed", "lost")
	for _, journaled := range []bool{false, true} {
		k, err := killRun(base, journaled)
		if err != nil {
			return err
		}
		name := "baseline: no journal"
		if journaled {
			name = "journal"
		}
		fmt.Printf("%-38s %14d %10d %10d\n", name, k.acked, k.replayed, k.lost)
		if journaled {
			with.lost = k.lost
		}
	}
	met := with.rate >= targetRate && with.p99 < targetP99 && with.lost == 0
	verdict := "MET"
	if !met {
		verdict = "NOT MET"
	}
	fmt.Printf("\ntarget: >= %.0f shares/s through the journal with p99 wait < %v, 0 acknowledged shares lost to a kill: %s\n", targetRate, targetP99, verdict)
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
		defer os.RemoveAll(dir) // runs after Close
		defer j.Close()
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
