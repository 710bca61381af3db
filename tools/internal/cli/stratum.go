package cli

import (
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
)

func stratumCommand() *cli.Command {
	def := stratum.DefaultConfig()
	return &cli.Command{
		Name:  "stratum",
		Usage: "serve miners: a stratum v1 server for one coin (run by the <coin>-stratum jobs)",
		Description: "Takes work from the healthiest of the coin's wallets (per Consul, or --wallet),\n" +
			"serves it to miners over stratum v1, checks their shares with scrypt, submits\n" +
			"blocks to every wallet in service and writes shares and blocks to PostgreSQL.\n" +
			"On SIGTERM it sends client.reconnect and waits --drain for miners to leave.",
		Flags: append(connFlags(),
			&cli.StringFlag{Name: "pool", Value: "scryptpool", Usage: "the pool's name (Consul KV prefix)"},
			&cli.StringFlag{Name: "coin", Required: true, Usage: "the coin's name in pool.hcl"},
			&cli.StringFlag{Name: "network", Value: "mainnet", Usage: "mainnet, testnet or regtest: which addresses are valid"},
			&cli.StringFlag{Name: "listen", Required: true, Usage: "address miners connect to, host:port"},
			&cli.StringFlag{Name: "metrics-listen", Required: true, Usage: "address serving /metrics and /v1/check, host:port"},
			&cli.StringFlag{Name: "wallet-service", Usage: "Consul service of the coin's wallets"},
			&cli.StringSliceFlag{Name: "wallet", Usage: "a wallet's RPC address, host:port, instead of Consul (repeatable)"},
			&cli.StringFlag{Name: "credentials", Required: true, Usage: "file holding the wallets' RPC user:password"},
			&cli.StringFlag{Name: "database-service", Usage: "Consul service of the pool's PostgreSQL"},
			&cli.StringFlag{Name: "database-url", Usage: "postgres:// URL instead of Consul (password from --database-credentials when absent)"},
			&cli.StringFlag{Name: "database-credentials", Usage: "file holding the database user:password"},
			&cli.StringFlag{Name: "database-name", Value: "pool", Usage: "database name"},
			&cli.StringFlag{Name: "stratum-service", Usage: "Consul service of the stratum servers, where miners are sent on shutdown"},
			&cli.StringFlag{Name: "floating-address", Usage: "the pool's floating address (IPv4): also listen there at --listen's port, whether or not this node holds it now, and send miners there on shutdown"},
			&cli.StringFlag{Name: "pool-address", Usage: "address block rewards go to (default: one made by a wallet, kept in Consul KV)"},
			&cli.StringFlag{Name: "instance", Value: defaultInstance(), Usage: "this server's name in shares and coinbases"},
			&cli.Float64Flag{Name: "fee-percent", Usage: "the pool's fee (used by payouts; recorded here for the operator)"},
			&cli.Float64Flag{Name: "difficulty", Value: def.Vardiff.Start, Usage: "share difficulty a miner starts at"},
			&cli.Float64Flag{Name: "min-difficulty", Value: def.Vardiff.Min, Usage: "lowest share difficulty vardiff sets"},
			&cli.Float64Flag{Name: "max-difficulty", Value: def.Vardiff.Max, Usage: "highest share difficulty vardiff sets"},
			&cli.IntFlag{Name: "target-share-seconds", Value: int(def.Vardiff.TargetInterval / time.Second), Usage: "vardiff aims at one share per miner this often"},
			&cli.IntFlag{Name: "max-connections", Value: def.MaxConnections, Usage: "miners served at once"},
			&cli.IntFlag{Name: "max-connections-per-ip", Value: def.MaxConnectionsPerIP, Usage: "miners from one address, or one IPv6 /64 (0: no limit)"},
			&cli.IntFlag{Name: "memory-limit", EnvVars: []string{"NOMAD_MEMORY_LIMIT"}, Usage: "the task's memory limit in MiB, set by Nomad: --max-connections is lowered to what fits (0: unknown)"},
			&cli.IntFlag{Name: "max-workers-per-connection", Value: def.MaxWorkersPerConnection, Usage: "worker names one connection may authorize"},
			&cli.IntFlag{Name: "ban-after-drops", Value: def.BanAfterDrops, Usage: "ban an address whose connections are dropped for misbehaviour this often within --ban-window (0: no bans)"},
			&cli.DurationFlag{Name: "ban-window", Value: def.BanWindow, Usage: "the window --ban-after-drops counts in"},
			&cli.DurationFlag{Name: "ban-duration", Value: def.BanDuration, Usage: "how long a ban lasts"},
			&cli.DurationFlag{Name: "drain", Value: 8 * time.Second, Usage: "how long miners get to leave on shutdown"},
			&cli.StringFlag{Name: "share-journal", Usage: "directory of the local share journal: a share is answered \"accepted\" only once it is on disk there, and shares the database never got are written from it at the next start (empty: no journal; a crash or power cut loses the shares not yet in the database)"},
		),
		Action: func(c *cli.Context) error {
			if c.Int("max-workers-per-connection") < 1 {
				return withCode(ExitInvalid, fmt.Errorf("--max-workers-per-connection must be at least 1"))
			}
			user, password, err := walletLogin(c)
			if err != nil {
				return err
			}
			if c.String("pool-address") != "" {
				if _, err := chain.OutputScript(c.String("pool-address"), c.String("network")); err != nil {
					return withCode(ExitInvalid, fmt.Errorf("--pool-address: %w", err))
				}
			}
			dbURL, err := databaseURL(c)
			if err != nil {
				return withCode(ExitInvalid, err)
			}
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
			cfg := stratum.DefaultConfig()
			cfg.Coin, cfg.Network, cfg.Instance, cfg.Log = c.String("coin"), c.String("network"), c.String("instance"), log
			cfg.Vardiff.Start = c.Float64("difficulty")
			cfg.Vardiff.Min = c.Float64("min-difficulty")
			cfg.Vardiff.Max = c.Float64("max-difficulty")
			cfg.Vardiff.TargetInterval = time.Duration(c.Int("target-share-seconds")) * time.Second
			cfg.Vardiff.RetargetAfter = 3 * cfg.Vardiff.TargetInterval
			cfg.MaxConnections = c.Int("max-connections")
			cfg.MaxConnectionsPerIP = c.Int("max-connections-per-ip")
			cfg.MemoryLimitMiB = c.Int("memory-limit")
			cfg.MaxWorkersPerConnection = c.Int("max-workers-per-connection")
			cfg.BanAfterDrops = c.Int("ban-after-drops")
			cfg.BanWindow = c.Duration("ban-window")
			cfg.BanDuration = c.Duration("ban-duration")
			o := stratum.RunOptions{
				Config: cfg, Listen: c.String("listen"), MetricsListen: c.String("metrics-listen"),
				WalletService: c.String("wallet-service"), Wallets: c.StringSlice("wallet"),
				DatabaseService: c.String("database-service"), StratumService: c.String("stratum-service"),
				WalletUser: user, WalletPassword: password, DatabaseURL: dbURL,
				PoolAddress:    c.String("pool-address"),
				PoolAddressKey: contract.PoolAddressKey(c.String("pool"), c.String("coin")),
				CoinbaseTag:    "/" + c.String("pool") + ":" + c.String("instance") + "/",
				Drain:          c.Duration("drain"),
				ShareJournal:   c.String("share-journal"),
			}
			if f := c.String("floating-address"); f != "" {
				if a, err := netip.ParseAddr(f); err != nil || !a.Is4() {
					return withCode(ExitInvalid, fmt.Errorf("--floating-address %q is not an IPv4 address", f))
				}
				o.FloatingAddress = f
			}
			if o.WalletService != "" || o.DatabaseService != "" || o.StratumService != "" || o.PoolAddress == "" {
				consul, _, err := deploy.NewConsul(taskConnOptions(c))
				if err != nil {
					return withCode(ExitRuntime, err)
				}
				o.Consul = consul
			}
			if err := stratum.Run(c.Context, o); err != nil {
				return withCode(ExitRuntime, err)
			}
			return nil
		},
	}
}

// walletLogin checks what the commands that talk to a coin's wallets share
// (--network, --wallet-service or --wallet) and reads --credentials.
func walletLogin(c *cli.Context) (user, password string, err error) {
	user, password, err = chain.ReadCredentials(c.String("credentials"))
	if err != nil {
		return "", "", withCode(ExitInvalid, fmt.Errorf("read the wallets' credentials: %w", err))
	}
	if _, err := chain.LookupNetwork(c.String("network")); err != nil {
		return "", "", withCode(ExitInvalid, err)
	}
	if c.String("wallet-service") == "" && len(c.StringSlice("wallet")) == 0 {
		return "", "", withCode(ExitInvalid, fmt.Errorf("give --wallet-service or at least one --wallet"))
	}
	return user, password, nil
}

// databaseURL is --database-url, or a URL for --database-service (whose
// host and port the server looks up in Consul), with the password from
// --database-credentials.
func databaseURL(c *cli.Context) (string, error) {
	raw := c.String("database-url")
	if raw == "" {
		if c.String("database-service") == "" {
			return "", fmt.Errorf("give --database-service or --database-url")
		}
		raw = "postgres://localhost:5432/" + url.PathEscape(c.String("database-name")) + "?sslmode=disable"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("--database-url must be a postgres:// URL")
	}
	if path := c.String("database-credentials"); path != "" {
		user, password, err := chain.ReadCredentials(path)
		if err != nil {
			return "", fmt.Errorf("read the database credentials: %w", err)
		}
		u.User = url.UserPassword(user, password)
	}
	return u.String(), nil
}

// defaultInstance names this server after its Nomad allocation.
func defaultInstance() string {
	if id := os.Getenv("NOMAD_ALLOC_ID"); len(id) >= 8 {
		return id[:8]
	}
	host, _ := os.Hostname()
	return host
}
