package failover

import (
	"context"
	"sync"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// FirstAfter returns when the first snapshot since t satisfied cond.
func (o *Observer) FirstAfter(t time.Time, cond func(Snapshot) bool) (time.Time, bool) {
	for _, s := range o.Since(t) {
		if cond(s) {
			if s.At.Before(t) {
				return t, true
			}
			return s.At, true
		}
	}
	return time.Time{}, false
}

// WaitFirstAfter is FirstAfter that waits for the observer's next changes
// until cond holds or ctx ends.
func (o *Observer) WaitFirstAfter(ctx context.Context, t time.Time, cond func(Snapshot) bool) (time.Time, bool) {
	for {
		// Take the channel before looking, so a change in between wakes us.
		o.mu.Lock()
		changed := o.changed
		o.mu.Unlock()
		if at, ok := o.FirstAfter(t, cond); ok {
			return at, true
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-changed:
		}
	}
}

// TaskStartedAfter returns when Nomad (re)started an allocation's task
// after t, from the task's events.
func TaskStartedAfter(ctx context.Context, nomad *nomadapi.Client, allocID, task string, t time.Time) (time.Time, bool) {
	a, _, err := nomad.Allocations().Info(allocID, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil || a.TaskStates[task] == nil {
		return time.Time{}, false
	}
	for _, e := range a.TaskStates[task].Events {
		at := time.Unix(0, e.Time)
		if e.Type == nomadapi.TaskStarted && at.After(t) {
			return at, true
		}
	}
	return time.Time{}, false
}

// Availability is what a client of the wallets would have found, sampled:
// whether some wallet Consul offered was really usable (answering RPC and
// within maxLag blocks of the best height) at every sample, and for how
// long Consul offered a wallet that was not.
type Availability struct {
	Samples int
	// Unserved counts samples in which no offered wallet was usable.
	Unserved int
	// Misled is the time during which Consul offered a broken wallet.
	Misled time.Duration
}

// Sampler checks availability every interval until stopped.
type Sampler struct {
	obs      *Observer
	client   func(addr string) *chain.Client
	maxLag   int64
	interval time.Duration

	mu     sync.Mutex
	result Availability
	stop   context.CancelFunc
	done   chan struct{}
}

// StartSampler begins sampling the observed service's wallets.
func StartSampler(ctx context.Context, obs *Observer, client func(addr string) *chain.Client, maxLag int64, interval time.Duration) *Sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{obs: obs, client: client, maxLag: maxLag, interval: interval, stop: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// Stop ends sampling and returns what it found.
func (s *Sampler) Stop() Availability {
	s.stop()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result
}

func (s *Sampler) run(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (s *Sampler) sample(ctx context.Context) {
	snap := s.obs.Now()
	type answer struct {
		offered bool
		height  int64
		ok      bool
	}
	answers := make([]answer, len(snap.Instances))
	var wg sync.WaitGroup
	for i, inst := range snap.Instances {
		answers[i].offered = inst.Passing
		wg.Add(1)
		go func(i int, addr string) {
			defer wg.Done()
			callCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			if h, err := s.client(addr).BlockCount(callCtx); err == nil {
				answers[i].height, answers[i].ok = h, true
			}
		}(i, inst.Address)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	best := int64(0)
	for _, a := range answers {
		if a.ok && a.height > best {
			best = a.height
		}
	}
	served, misled := false, false
	for _, a := range answers {
		if !a.offered {
			continue
		}
		if a.ok && best-a.height <= s.maxLag {
			served = true
		} else {
			misled = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.result.Samples++
	if !served {
		s.result.Unserved++
	}
	if misled {
		s.result.Misled += s.interval
	}
}
