package stratum

import (
	"context"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"
)

// WalletFinder says which of the coin's wallets are in service.
type WalletFinder interface {
	// Wallets returns the RPC addresses of the wallets whose checks pass
	// and of all registered ones.
	Wallets() (passing, all []string)
	// Changed is signalled when the answer of Wallets may have changed.
	Changed() <-chan struct{}
}

// StaticWallets is a fixed list, all taken as passing: for a server run
// beside wallets outside Consul.
type StaticWallets []string

// Wallets implements WalletFinder.
func (s StaticWallets) Wallets() (passing, all []string) { return s, s }

// Changed implements WalletFinder: a fixed list never changes.
func (s StaticWallets) Changed() <-chan struct{} { return nil }

// ConsulWallets follows the wallet service's health in Consul with
// blocking queries, so a wallet going critical is seen within the
// probe's check interval.
type ConsulWallets struct {
	Consul  *consulapi.Client
	Service string

	mu      sync.Mutex
	passing []string
	all     []string
	changed chan struct{}
	ready   chan struct{}
	once    sync.Once
}

// Wallets implements WalletFinder.
func (c *ConsulWallets) Wallets() (passing, all []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.passing, c.all
}

// Changed implements WalletFinder.
func (c *ConsulWallets) Changed() <-chan struct{} {
	c.init()
	return c.changed
}

func (c *ConsulWallets) init() {
	c.once.Do(func() {
		c.changed = make(chan struct{}, 1)
		c.ready = make(chan struct{})
	})
}

// Ready is closed after the first answer from Consul.
func (c *ConsulWallets) Ready() <-chan struct{} {
	c.init()
	return c.ready
}

// Run follows Consul until ctx ends; an unreachable agent keeps the last
// answer (the wallets did not vanish because the agent did).
func (c *ConsulWallets) Run(ctx context.Context, log func(string, ...any)) {
	c.init()
	var index uint64
	first := true
	failing := false
	for ctx.Err() == nil {
		q := (&consulapi.QueryOptions{WaitIndex: index, WaitTime: time.Minute}).WithContext(ctx)
		entries, meta, err := c.Consul.Health().Service(c.Service, "", false, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				log("read wallets from Consul", "service", c.Service, "err", err)
				failing = true
			}
			index = 0
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		failing = false
		if meta.LastIndex < index {
			index = 0 // Consul's index went back (a restart): start over
		} else {
			index = meta.LastIndex
		}
		var passing, all []string
		for _, e := range entries {
			addr := e.Service.Address
			if addr == "" {
				addr = e.Node.Address
			}
			hostport := net.JoinHostPort(addr, strconv.Itoa(e.Service.Port))
			all = append(all, hostport)
			if e.Checks.AggregatedStatus() == consulapi.HealthPassing {
				passing = append(passing, hostport)
			}
		}
		slices.Sort(passing)
		slices.Sort(all)
		c.mu.Lock()
		same := slices.Equal(passing, c.passing) && slices.Equal(all, c.all)
		c.passing, c.all = passing, all
		c.mu.Unlock()
		if first {
			close(c.ready)
			first = false
		}
		if !same {
			select {
			case c.changed <- struct{}{}:
			default:
			}
		}
	}
}
