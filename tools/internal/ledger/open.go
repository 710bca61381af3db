package ledger

import (
	"context"
	"fmt"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open makes a connection pool for dsn (a postgres:// URL). With consul
// and service, host and port come from the service's Consul entry for
// every new connection: the database job can be restarted elsewhere on
// its node with a new port.
func Open(dsn string, consul *consulapi.Client, service string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	if consul != nil && service != "" {
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			host, port, err := Resolve(ctx, consul, service)
			if err != nil {
				return err
			}
			cc.Host, cc.Port, cc.Fallbacks = host, port, nil
			return nil
		}
	}
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// Resolve finds the database's host and port in Consul: the database job
// can be restarted elsewhere on its node with a new port.
func Resolve(ctx context.Context, consul *consulapi.Client, service string) (string, uint16, error) {
	entries, _, err := consul.Health().Service(service, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", 0, fmt.Errorf("find the database in Consul: %w", err)
	}
	if len(entries) == 0 {
		return "", 0, fmt.Errorf("no %s service in Consul", service)
	}
	e := entries[0]
	host := e.Service.Address
	if host == "" {
		host = e.Node.Address
	}
	return host, uint16(e.Service.Port), nil
}
