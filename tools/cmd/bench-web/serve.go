package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scryptpool/poolmicrocloud/tools/internal/poolapi"
	"github.com/scryptpool/poolmicrocloud/tools/internal/poolweb"
)

// serve is the child process: the site over dsn on listen, as the web
// job would run it, with the answer cache on or off. It prints its
// address on stdout when it accepts connections and serves until
// killed.
func serve(ctx context.Context, dsn, listen string, cached bool, dbConns int) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.MaxConns = int32(dbConns)
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	site := siteConfig()
	// What the site logs (a failed query, a timeout) is part of the figures.
	site.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if !cached {
		site.CacheTTL = -1
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: poolweb.New(site, db), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	fmt.Println(l.Addr().String())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "bench-web serve:", err)
		return err
	}
	return nil
}

// siteConfig is the production example's Litecoin pool as the site
// describes it; the rate limiter leaves loopback clients alone, as by
// default.
func siteConfig() poolapi.Config {
	return poolapi.Config{Coins: []poolapi.Coin{{
		ID: coin, Name: "Litecoin", Symbol: "LTC", Family: "bitcoin", Algorithm: "Scrypt",
		Website: "https://litecoin.org/", Network: "mainnet", Address: mainnetAddress(-1),
		FeePercent: feePct, Scheme: scheme, Window: window, MinimumPayment: 0.1, Confirmations: 100,
		UnitsPerCoin: 100_000_000, BlockTime: blockTime,
		Ports: []poolapi.Port{{Port: 3333, ListenAddress: "192.168.1.50", Name: coin, Difficulty: 16,
			MinDiff: 1, MaxDiff: 65536, TargetTime: 15, RetargetTime: 30}},
		Explorer: poolapi.Explorer{
			BlockLink:   "https://chainz.cryptoid.info/ltc/block.dws?$height$.htm",
			TxLink:      "https://chainz.cryptoid.info/ltc/tx.dws?{0}.htm",
			AddressLink: "https://chainz.cryptoid.info/ltc/address.dws?{0}.htm",
		},
	}}}
}
