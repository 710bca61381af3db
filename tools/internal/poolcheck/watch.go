package poolcheck

import (
	"context"
	"fmt"
	"io"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// retryDelay is how long a follower waits after Consul refused a query
// before asking again; a blocking query cannot wait on an API that is down.
const retryDelay = 2 * time.Second

// Watch keeps the pool's check current until ctx ends: it follows the
// expected services recorded in KV and the health of each of them with
// blocking queries, and publishes the verdict whenever it changes.
func Watch(ctx context.Context, consul *consulapi.Client, pool string, log io.Writer) error {
	var kvIndex uint64
	for ctx.Err() == nil {
		q := (&consulapi.QueryOptions{WaitIndex: kvIndex, WaitTime: 5 * time.Minute}).WithContext(ctx)
		expected, index, err := ReadExpected(consul, pool, q)
		if err != nil {
			fmt.Fprintf(log, "health: %v; retrying\n", err)
			if !pause(ctx, retryDelay) {
				return nil
			}
			continue
		}
		if kvIndex != 0 && index == kvIndex {
			continue // the blocking query timed out without a change
		}
		kvIndex = index
		if expected == nil {
			fmt.Fprintf(log, "health: no deployment of pool %q recorded in %s yet\n", pool, contract.ServicesKey(pool))
			continue
		}
		fmt.Fprintf(log, "health: watching %d services of pool %q\n", len(expected), pool)
		follow(ctx, consul, pool, expected, kvIndex, log)
	}
	return nil
}

type update struct {
	i       int
	entries []*consulapi.ServiceEntry
}

// follow publishes verdicts for one set of expected services until ctx
// ends or the set changes in KV.
func follow(ctx context.Context, consul *consulapi.Client, pool string, expected []Expected, kvIndex uint64, log io.Writer) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	updates := make(chan update)
	for i, e := range expected {
		go followService(ctx, consul, i, e.Service, updates, log)
	}
	changed := make(chan struct{})
	go func() {
		defer close(changed)
		for ctx.Err() == nil {
			q := (&consulapi.QueryOptions{WaitIndex: kvIndex, WaitTime: 5 * time.Minute}).WithContext(ctx)
			_, index, err := ReadExpected(consul, pool, q)
			if err != nil {
				if !pause(ctx, retryDelay) {
					return
				}
				continue
			}
			if index != kvIndex {
				return
			}
		}
	}()
	states := make([]ServiceState, len(expected))
	seen := make([]bool, len(expected))
	for i, e := range expected {
		states[i] = ServiceState{Expected: e}
	}
	last := ""
	// retry fires when a publication failed: the verdict must reach
	// Consul even if nothing changes afterwards.
	retry := time.NewTimer(0)
	<-retry.C
	defer retry.Stop()
	publish := func() {
		if !allTrue(seen) {
			return // publish once every service has been read
		}
		v := Judge(append([]ServiceState(nil), states...))
		now := v.Status + "\n" + v.Output()
		if now == last {
			return
		}
		if err := Publish(ctx, consul, pool, v); err != nil {
			fmt.Fprintf(log, "health: %v; retrying\n", err)
			retry.Reset(retryDelay)
			return
		}
		last = now
		fmt.Fprintf(log, "health: pool %s is %s\n%s\n", pool, v.Status, v.Output())
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			fmt.Fprintf(log, "health: the expected services changed\n")
			return
		case <-retry.C:
			publish()
		case u := <-updates:
			states[u.i] = StateOf(expected[u.i], u.entries)
			seen[u.i] = true
			publish()
		}
	}
}

func followService(ctx context.Context, consul *consulapi.Client, i int, service string, updates chan<- update, log io.Writer) {
	var index uint64
	for ctx.Err() == nil {
		q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: 5 * time.Minute}).WithContext(ctx)
		entries, meta, err := consul.Health().Service(service, "", false, q)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(log, "health: read service %q: %v; retrying\n", service, err)
			}
			if !pause(ctx, retryDelay) {
				return
			}
			continue
		}
		switch {
		case meta.LastIndex < index:
			index = 0 // Consul restarted and its index went back: start over
			continue
		case meta.LastIndex == index:
			continue // the blocking query timed out without a change
		}
		index = meta.LastIndex
		select {
		case updates <- update{i: i, entries: entries}:
		case <-ctx.Done():
			return
		}
	}
}

func allTrue(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
