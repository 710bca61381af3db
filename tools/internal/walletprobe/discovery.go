package walletprobe

import (
	"context"
	"fmt"
	"net"
	"strconv"

	consulapi "github.com/hashicorp/consul/api"
)

// ConsulDiscovery finds the coin's wallets in Consul's catalog: every
// registered instance, whatever its checks say.
type ConsulDiscovery struct {
	Consul        *consulapi.Client
	WalletService string
	P2PService    string
}

// Wallets implements Discovery.
func (d ConsulDiscovery) Wallets(ctx context.Context) ([]string, error) {
	return d.addresses(ctx, d.WalletService)
}

// PeerAddrs implements Discovery.
func (d ConsulDiscovery) PeerAddrs(ctx context.Context) ([]string, error) {
	return d.addresses(ctx, d.P2PService)
}

func (d ConsulDiscovery) addresses(ctx context.Context, service string) ([]string, error) {
	entries, _, err := d.Consul.Health().Service(service, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("read service %q: %w", service, err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		out = append(out, net.JoinHostPort(addr, strconv.Itoa(e.Service.Port)))
	}
	return out, nil
}

// StaticDiscovery is a fixed list of instances, for a wallet pair outside
// Consul.
type StaticDiscovery struct {
	RPC []string
	P2P []string
}

// Wallets implements Discovery.
func (s StaticDiscovery) Wallets(context.Context) ([]string, error) { return s.RPC, nil }

// PeerAddrs implements Discovery.
func (s StaticDiscovery) PeerAddrs(context.Context) ([]string, error) { return s.P2P, nil }
