package ledger

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sys/unix"
)

// Open makes a connection pool for dsn (a postgres:// URL). With consul
// and service, every new connection looks up the database's members in
// Consul (those passing their checks) and connects to the one that
// accepts writes: the primary, wherever Patroni has put it. A connection
// to a replica is refused by target_session_attrs=read-write and the next
// member is tried, so a failover needs no restart: connections to the
// old primary fail, the pool drops them, and new ones find the new
// primary.
func Open(dsn string, consul *consulapi.Client, service string, maxConns int32) (*pgxpool.Pool, error) {
	return open(dsn, consul, service, maxConns, pgconn.ValidateConnectTargetSessionAttrsReadWrite)
}

// OpenReader is Open for a read-only login (the web job's): its sessions
// start read-only (default_transaction_read_only), so the primary is told
// from the replicas by pg_is_in_recovery() (target_session_attrs=primary)
// rather than by whether the session may write.
func OpenReader(dsn string, consul *consulapi.Client, service string, maxConns int32) (*pgxpool.Pool, error) {
	return open(dsn, consul, service, maxConns, pgconn.ValidateConnectTargetSessionAttrsPrimary)
}

func open(dsn string, consul *consulapi.Client, service string, maxConns int32, primary pgconn.ValidateConnectFunc) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	cfg.ConnConfig.DialFunc = DeadPeerDialer().DialContext
	if consul != nil && service != "" {
		cfg.ConnConfig.ValidateConnect = primary
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			members, err := Members(ctx, consul, service)
			if err != nil {
				return err
			}
			// The URL's TLS variants (sslmode=prefer: TLS, then plain)
			// are tried for each member in turn.
			variants := []*tls.Config{cc.TLSConfig}
			for _, fb := range cc.Fallbacks {
				if fb.Host == cc.Host && fb.Port == cc.Port {
					variants = append(variants, fb.TLSConfig)
				}
			}
			cc.Host, cc.Port, cc.Fallbacks = members[0].Host, members[0].Port, nil
			for i, m := range members {
				for j, v := range variants {
					if i == 0 && j == 0 {
						continue
					}
					cc.Fallbacks = append(cc.Fallbacks, &pgconn.FallbackConfig{Host: m.Host, Port: m.Port, TLSConfig: v})
				}
			}
			return nil
		}
	}
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// DeadPeerTimeout bounds how long a connection waits on a database that
// stopped answering without closing it: a primary whose node lost power
// sends no reset, and a write would otherwise wait for the kernel's
// retransmissions to give up, about fifteen minutes. Data sent and not
// acknowledged for this long ends the connection (TCP_USER_TIMEOUT), and
// an idle connection is probed as often (keepalive), so the caller's
// retry finds the new primary.
const DeadPeerTimeout = 20 * time.Second

// DeadPeerDialer dials connections that notice a dead peer within
// DeadPeerTimeout.
func DeadPeerDialer() *net.Dialer {
	return &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: DeadPeerTimeout / 2, Interval: DeadPeerTimeout / 4, Count: 2},
		Control: func(network, address string, c syscall.RawConn) error {
			var opErr error
			err := c.Control(func(fd uintptr) {
				opErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(DeadPeerTimeout/time.Millisecond))
			})
			if err != nil {
				return err
			}
			if opErr != nil && network != "unix" {
				return fmt.Errorf("set TCP_USER_TIMEOUT: %w", opErr)
			}
			return nil
		},
	}
}

// Member is one instance of the database as Consul lists it.
type Member struct {
	Host string
	Port uint16
}

func (m Member) String() string { return net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))) }

// Members finds the database's instances that pass their checks in
// Consul, in Consul's order. Which one is the primary only a connection
// can tell (Open asks for a writable one).
func Members(ctx context.Context, consul *consulapi.Client, service string) ([]Member, error) {
	entries, _, err := consul.Health().Service(service, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("find the database in Consul: %w", err)
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no instance of %s passes its checks in Consul", service)
	}
	out := make([]Member, 0, len(entries))
	for _, e := range entries {
		host := e.Service.Address
		if host == "" {
			host = e.Node.Address
		}
		out = append(out, Member{Host: host, Port: uint16(e.Service.Port)})
	}
	return out, nil
}

// Resolve finds one instance of the database that passes its checks:
// enough for a dump, which a replica serves as well as the primary (the
// synchronous one is never behind a commit).
func Resolve(ctx context.Context, consul *consulapi.Client, service string) (string, uint16, error) {
	members, err := Members(ctx, consul, service)
	if err != nil {
		return "", 0, err
	}
	return members[0].Host, members[0].Port, nil
}
