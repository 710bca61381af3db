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
			entries, _, err := consul.Health().Service(service, "", false, (&consulapi.QueryOptions{}).WithContext(ctx))
			if err != nil {
				return fmt.Errorf("find the database in Consul: %w", err)
			}
			if len(entries) == 0 {
				return fmt.Errorf("no %s service in Consul", service)
			}
			e := entries[0]
			cc.Host = e.Service.Address
			if cc.Host == "" {
				cc.Host = e.Node.Address
			}
			cc.Port = uint16(e.Service.Port)
			cc.Fallbacks = nil
			return nil
		}
	}
	return pgxpool.NewWithConfig(context.Background(), cfg)
}
