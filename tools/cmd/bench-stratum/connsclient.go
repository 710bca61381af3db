package main

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// round is one pushed job the miners wait for.
type round struct {
	id    string
	want  int64
	count atomic.Int64
	last  atomic.Int64 // unix nanos of the latest receipt
	done  chan struct{}
}

func (r *round) received(now int64) {
	for {
		old := r.last.Load()
		if now <= old || r.last.CompareAndSwap(old, now) {
			break
		}
	}
	if r.count.Add(1) == r.want {
		close(r.done)
	}
}

// connsClient is the miners' process of the connection phase: many idle
// miners that note when each new job reaches them.
func connsClient() error {
	addr, n := os.Getenv("BENCH_STRATUM_ADDR"), envInt("CONNS")
	if err := raiseFileLimit(n + 100); err != nil {
		return err
	}
	cmds := commands()
	var armed atomic.Pointer[round]
	miners := make([]*minerConn, n)
	sem := make(chan struct{}, 128)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range miners {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m, err := handshake(addr, true)
			if err != nil {
				errs <- err
				return
			}
			miners[i] = m
		}()
	}
	wg.Wait()
	defer func() {
		for _, m := range miners {
			if m != nil {
				m.conn.Close()
			}
		}
	}()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("connect miner: %w", err)
	}
	for _, m := range miners {
		go func() {
			for {
				line, err := m.r.ReadSlice('\n')
				if err != nil {
					return
				}
				if id, ok := notifyJobID(line); ok {
					if r := armed.Load(); r != nil && r.id == id {
						r.received(time.Now().UnixNano())
					}
				}
			}
		}()
	}
	fmt.Printf("ready %d\n", n)
	for cmd := range cmds {
		var id string
		if _, err := fmt.Sscanf(cmd, "expect %s", &id); err != nil {
			return fmt.Errorf("unknown command %q", cmd)
		}
		r := &round{id: id, want: int64(n), done: make(chan struct{})}
		armed.Store(r)
		fmt.Println("armed")
		select {
		case <-r.done:
		case <-time.After(time.Minute):
		}
		fmt.Printf("got %s %d %d\n", id, r.last.Load(), r.count.Load())
	}
	return nil
}
