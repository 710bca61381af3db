// Package webserve runs the pool's web server (`poolctl web`, the
// <pool>-web job): it follows the pool definition deploy recorded in
// Consul and each coin's pool address, builds the site's handler from
// them, and serves it until its context ends, finishing the requests
// under way.
package webserve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/aclcheck"
	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolweb"
)

// Site builds the handler that serves the pool's site from its settings
// and the database: poolweb.New (the pages, and MiningCore's API under
// /api/) unless Options say otherwise.
type Site func(cfg poolapi.Config, db poolapi.Querier) http.Handler

// Options are what Run needs.
type Options struct {
	Pool string
	// Listen is host:port; a listener, when set, is used instead (tests).
	Listen   string
	Listener net.Listener
	// Consul holds the pool's definition (contract.ConfigKey) and pool
	// addresses (contract.PoolAddressKey), read with the job's token.
	Consul *consulapi.Client
	// Definition, when set, is used instead of the recorded one (a pool
	// definition file run by hand); pool addresses still come from Consul.
	Definition *config.Pool
	DB         poolapi.Querier
	Site       Site
	// Follow is how long one blocking query on the definition waits, and
	// so how late a newly chosen pool address is seen (1 minute).
	Follow time.Duration
	// ShutdownTimeout bounds the wait for requests under way (5 s).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
}

// Settings are what the site is built from: the definition and the pool
// addresses known so far, by coin.
type Settings struct {
	Pool      *config.Pool
	Addresses map[string]string
}

// Config is the API's configuration for s.
func (s Settings) Config() poolapi.Config {
	cfg := poolapi.ConfigFrom(s.Pool)
	for i := range cfg.Coins {
		cfg.Coins[i].Address = s.Addresses[cfg.Coins[i].ID]
	}
	return cfg
}

// Run serves the site until ctx ends. It waits for the pool's definition
// before it listens, so the job's check fails until there is a site to
// serve.
func Run(ctx context.Context, o Options) error {
	if o.Site == nil {
		o.Site = poolweb.New
	}
	if o.Follow <= 0 {
		o.Follow = time.Minute
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &follower{o: o}
	first, err := f.next(ctx)
	if err != nil {
		// Stopped before there was anything to serve: a clean stop.
		return nil
	}
	var current atomic.Pointer[http.Handler]
	install := func(s Settings) {
		h := o.Site(s.Config(), o.DB)
		current.Store(&h)
		o.Logger.Info("site built", "coins", len(s.Pool.Coins), "pool_addresses", len(s.Addresses))
	}
	install(first)

	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", o.Listen); err != nil {
			return fmt.Errorf("listen on %s: %w", o.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	o.Logger.Info("serving", "address", ln.Addr().String())

	followCtx, stopFollowing := context.WithCancel(ctx)
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		for {
			s, err := f.next(followCtx)
			if err != nil {
				return
			}
			install(s)
		}
	}()

	select {
	case err = <-served:
		stopFollowing()
		<-followed
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	stopFollowing()
	<-followed
	shutdownCtx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests still waiting on the database (its queries may take
		// the API's query timeout): the site only reads, so cutting them
		// loses nothing, and the stop is a normal one.
		o.Logger.Warn("requests under way cut at shutdown", "after", o.ShutdownTimeout, "error", err)
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// follower reads the definition with blocking queries and the pool
// addresses after each answer, and tells what changed.
type follower struct {
	o     Options
	index uint64
	last  []byte
	addrs map[string]string
}

// next returns the settings when they first exist and whenever they
// change afterwards; it ends with ctx. Consul's errors are logged and
// retried: the site keeps serving what it knows.
func (f *follower) next(ctx context.Context) (Settings, error) {
	for {
		s, changed, err := f.read(ctx)
		switch {
		case ctx.Err() != nil:
			return Settings{}, ctx.Err()
		case err != nil:
			f.o.Logger.Warn("read the pool's settings from Consul", "error", err)
			select {
			case <-ctx.Done():
				return Settings{}, ctx.Err()
			case <-time.After(5 * time.Second):
			}
		case changed:
			return s, nil
		}
	}
}

func (f *follower) read(ctx context.Context) (Settings, bool, error) {
	def, raw := f.o.Definition, []byte(nil)
	if def == nil {
		q := (&consulapi.QueryOptions{WaitIndex: f.index, WaitTime: f.o.Follow}).WithContext(ctx)
		pair, meta, err := f.o.Consul.KV().Get(contract.ConfigKey(f.o.Pool), q)
		if err != nil {
			return Settings{}, false, fmt.Errorf("read %s: %w", contract.ConfigKey(f.o.Pool), err)
		}
		// An index that goes back (a restored Consul) starts over.
		if meta.LastIndex < f.index {
			f.index = 0
		} else {
			f.index = meta.LastIndex
		}
		if pair == nil {
			return Settings{}, false, fmt.Errorf("%s does not exist: poolctl deploy records the pool's definition there", contract.ConfigKey(f.o.Pool))
		}
		raw = pair.Value
		def = &config.Pool{}
		if err := json.Unmarshal(raw, def); err != nil {
			return Settings{}, false, fmt.Errorf("%s is not a pool definition: %w", contract.ConfigKey(f.o.Pool), err)
		}
		if def.Web == nil {
			def.Web = &config.Web{}
		}
	} else if f.addrs != nil {
		// A definition of its own: only the addresses are followed.
		select {
		case <-ctx.Done():
			return Settings{}, false, ctx.Err()
		case <-time.After(f.o.Follow):
		}
	}
	addrs := map[string]string{}
	for _, c := range def.Coins {
		key := contract.PoolAddressKey(f.o.Pool, c.Name)
		pair, _, err := f.o.Consul.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
		if aclcheck.Forbidden(err) {
			// A coin added to the definition before the job's policy was
			// brought up to date (poolctl policies): the other coins'
			// sites go on being followed.
			f.o.Logger.Warn("the web job's token may not read a pool address; run poolctl policies and update the ACL policy", "key", key, "error", err)
			continue
		}
		if err != nil {
			return Settings{}, false, fmt.Errorf("read %s: %w", key, err)
		}
		if pair != nil {
			addrs[c.Name] = string(pair.Value)
		}
	}
	changed := f.addrs == nil || string(raw) != string(f.last) || !maps.Equal(addrs, f.addrs)
	f.last, f.addrs = raw, addrs
	return Settings{Pool: def, Addresses: addrs}, changed, nil
}
