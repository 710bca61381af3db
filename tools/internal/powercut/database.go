package powercut

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
)

// Member is one database member as Patroni keeps it in Consul.
type Member struct {
	Role     string `json:"role"`
	State    string `json:"state"`
	APIURL   string `json:"api_url"`
	XLog     int64  `json:"xlog_location"`
	Timeline int    `json:"timeline"`
}

// Database is the database's state as Patroni keeps it in Consul: the
// leader lock's holder, the synchronous standby and the members.
type Database struct {
	Leader      string
	SyncStandby string
	Members     map[string]Member
}

// Healthy says members run: a primary with its synchronous standby (and,
// with one member, the primary alone).
func (d Database) Healthy(members int) bool {
	p, ok := d.Members[d.Leader]
	if !ok || p.State != "running" || len(d.Members) != members {
		return false
	}
	if members == 1 {
		return true
	}
	r, ok := d.Members[d.SyncStandby]
	return ok && r.State == "running"
}

// ReadDatabase reads the database's keys in Consul.
func ReadDatabase(ctx context.Context, consul *consulapi.Client, pool string) (Database, error) {
	prefix := contract.DatabaseDCSPrefix(pool)
	pairs, _, err := consul.KV().List(prefix, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return Database{}, err
	}
	d := Database{Members: map[string]Member{}}
	for _, p := range pairs {
		key := strings.TrimPrefix(p.Key, prefix)
		switch {
		case key == "leader":
			d.Leader = string(p.Value)
		case key == "sync":
			var v struct {
				SyncStandby *string `json:"sync_standby"`
			}
			if json.Unmarshal(p.Value, &v) == nil && v.SyncStandby != nil {
				d.SyncStandby = *v.SyncStandby
			}
		case strings.HasPrefix(key, "members/"):
			var m Member
			if err := json.Unmarshal(p.Value, &m); err != nil {
				return d, fmt.Errorf("%s: %w", p.Key, err)
			}
			d.Members[strings.TrimPrefix(key, "members/")] = m
		}
	}
	return d, nil
}

// WaitDatabase reads the database's keys until cond holds, and says what
// it last read when limit passes first.
func WaitDatabase(ctx context.Context, consul *consulapi.Client, pool, what string, limit time.Duration, cond func(Database) bool) (Database, error) {
	deadline := time.Now().Add(limit)
	var last Database
	var lastErr error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s, err := ReadDatabase(ctx, consul, pool)
		if err == nil && cond(s) {
			return s, nil
		}
		last, lastErr = s, err
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	return last, fmt.Errorf("database: waited %s for %s; last state %+v (err %v)", limit, what, last, lastErr)
}
