// Package failover injects the wallet failures the pool's operator lived
// through (a crash, a hang, a lag, a power cut) into wallets running on a
// local cluster, and watches, through Consul, how long it takes to notice
// and to recover, and whether a healthy wallet of the coin was there all
// along. The integration tests check the behaviour; the failover benchmark
// prints the times, for the pool's wallets and for a baseline wallet with
// Nomad's default settings.
package failover

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// Instance is one registered instance of a service, as Consul sees it.
type Instance struct {
	ServiceID string
	AllocID   string
	Address   string
	Meta      map[string]string
	// Passing is whether every check of the instance passes.
	Passing bool
	Status  string
}

// allocOf extracts the allocation ID from a Nomad service registration ID,
// _nomad-task-<alloc id>-<task or group>-<service>-<port>.
func allocOf(serviceID string) string {
	rest := strings.TrimPrefix(serviceID, "_nomad-task-")
	if len(rest) < 36 || rest == serviceID {
		return ""
	}
	return rest[:36]
}

// Snapshot is the service's instances at a moment.
type Snapshot struct {
	At        time.Time
	Instances []Instance
}

// Passing counts the passing instances.
func (s Snapshot) Passing() int {
	n := 0
	for _, i := range s.Instances {
		if i.Passing {
			n++
		}
	}
	return n
}

// Find returns the instance of an allocation, if registered.
func (s Snapshot) Find(allocID string) (Instance, bool) {
	for _, i := range s.Instances {
		if i.AllocID == allocID {
			return i, true
		}
	}
	return Instance{}, false
}

// Observer follows a service's health with blocking queries and keeps
// every change, with the time it saw it.
type Observer struct {
	Consul  *consulapi.Client
	Service string

	mu      sync.Mutex
	history []Snapshot
	changed chan struct{}
}

// NewObserver starts following service until ctx ends.
func NewObserver(ctx context.Context, consul *consulapi.Client, service string) *Observer {
	o := &Observer{Consul: consul, Service: service, changed: make(chan struct{})}
	go o.run(ctx)
	return o
}

func (o *Observer) run(ctx context.Context) {
	var index uint64
	for ctx.Err() == nil {
		q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: time.Minute}).WithContext(ctx)
		entries, meta, err := o.Consul.Health().Service(o.Service, "", false, q)
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if meta.LastIndex < index {
			index = 0
			continue
		}
		index = meta.LastIndex
		snap := Snapshot{At: time.Now()}
		for _, e := range entries {
			addr := e.Service.Address
			if addr == "" {
				addr = e.Node.Address
			}
			status := e.Checks.AggregatedStatus()
			snap.Instances = append(snap.Instances, Instance{
				ServiceID: e.Service.ID,
				AllocID:   allocOf(e.Service.ID),
				Address:   net.JoinHostPort(addr, strconv.Itoa(e.Service.Port)),
				Meta:      e.Service.Meta,
				Passing:   status == consulapi.HealthPassing,
				Status:    status,
			})
		}
		o.mu.Lock()
		o.history = append(o.history, snap)
		close(o.changed)
		o.changed = make(chan struct{})
		o.mu.Unlock()
	}
}

// Now is the latest snapshot.
func (o *Observer) Now() Snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.history) == 0 {
		return Snapshot{}
	}
	return o.history[len(o.history)-1]
}

// Since returns the snapshots taken at or after t, preceded by the one in
// force at t.
func (o *Observer) Since(t time.Time) []Snapshot {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Snapshot
	for i, s := range o.history {
		if !s.At.Before(t) {
			// The state in effect at t is the one before, unless this
			// one began exactly at t.
			if len(out) == 0 && i > 0 && s.At.After(t) {
				out = append(out, o.history[i-1])
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 && len(o.history) > 0 {
		out = append(out, o.history[len(o.history)-1])
	}
	return out
}

// WaitFor waits until cond holds for the latest snapshot and returns it.
func (o *Observer) WaitFor(ctx context.Context, what string, cond func(Snapshot) bool) (Snapshot, error) {
	for {
		o.mu.Lock()
		var snap Snapshot
		if len(o.history) > 0 {
			snap = o.history[len(o.history)-1]
		}
		changed := o.changed
		o.mu.Unlock()
		if len(snap.Instances) > 0 && cond(snap) {
			return snap, nil
		}
		select {
		case <-ctx.Done():
			return snap, fmt.Errorf("%s: not seen in time (last: %s)", what, describe(snap))
		case <-changed:
		}
	}
}

func describe(s Snapshot) string {
	var parts []string
	for _, i := range s.Instances {
		parts = append(parts, fmt.Sprintf("%s %s", i.Meta["instance"], i.Status))
	}
	return strings.Join(parts, ", ")
}

// MinPassing is the fewest passing instances in any snapshot since t.
func (o *Observer) MinPassing(t time.Time) int {
	min := -1
	for _, s := range o.Since(t) {
		if p := s.Passing(); min < 0 || p < min {
			min = p
		}
	}
	return min
}
