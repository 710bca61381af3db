package cli

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/walletprobe"
	"github.com/scryptpool/poolmicrocloud/tools/internal/walletstart"
)

func walletCommand() *cli.Command {
	return &cli.Command{
		Name:  "wallet",
		Usage: "the pool's wallets (run by the <coin>-wallet jobs)",
		Subcommands: []*cli.Command{{
			Name:  "probe",
			Usage: "follow one wallet and answer Consul's checks for it",
			Description: "Polls the wallet's RPC every --poll, compares its height with the coin's\n" +
				"other instances (from Consul) and its peers, keeps it peered with them, and\n" +
				"serves /v1/live (answers at all), /v1/sync (usable: synced, 429 when a\n" +
				"little behind, 503 when too far behind, in initial block download, stuck,\n" +
				"or refusing the credentials) and /v1/status (JSON) from the last poll.\n" +
				"With --backups-dir and --backup-login-file it also serves GET\n" +
				"/wallet-backups/wallet-dayNN.dat from that directory to that login (HTTP\n" +
				"basic auth), for the backup job to keep a copy off this node.",
			Flags: append(connFlags(),
				&cli.StringFlag{Name: "rpc", Required: true, Usage: "the wallet's RPC address, host:port"},
				&cli.StringFlag{Name: "p2p", Usage: "the wallet's peer-to-peer address, host:port (left out of peering)"},
				&cli.StringFlag{Name: "listen", Required: true, Usage: "address to serve the checks on, host:port"},
				&cli.StringFlag{Name: "credentials", Required: true, Usage: "file holding the RPC user:password"},
				&cli.StringFlag{Name: "wallet-service", Usage: "Consul service of the coin's wallets, to compare heights with"},
				&cli.StringFlag{Name: "p2p-service", Usage: "Consul service of the coin's wallets' peer-to-peer ports, to peer with"},
				&cli.StringFlag{Name: "wallet-name", Value: "pool", Usage: "wallet the daemon must have loaded (created the first time)"},
				&cli.Int64Flag{Name: "max-lag-blocks", Value: 2, Usage: "blocks behind the best height before the wallet is out of service"},
				&cli.DurationFlag{Name: "max-tip-age", Value: 30 * time.Minute, Usage: "tip age that, with others ahead, puts the wallet out of service"},
				&cli.DurationFlag{Name: "poll", Value: time.Second, Usage: "how often to ask the wallet"},
				&cli.DurationFlag{Name: "rpc-timeout", Value: 2 * time.Second, Usage: "how long one RPC call may take"},
				&cli.DurationFlag{Name: "hung-after", Value: 3 * time.Second, Usage: "no answer for this long means the wallet hangs"},
				&cli.StringFlag{Name: "backups-dir", Usage: "directory the daemon writes its wallet copies into (backupwallet), served to the backup job"},
				&cli.StringFlag{Name: "backup-login-file", Usage: "file holding the backup job's wallet login, user:password; without it no copy is served"},
				&cli.StringFlag{Name: "hd-seed-file", Usage: "file holding the pool's HD seed (32 bytes in hex): a new wallet is made with it, one with another seed is given it; without it the wallet keeps a seed of its own"},
			),
			Action: func(c *cli.Context) error {
				user, password, err := chain.ReadCredentials(c.String("credentials"))
				if err != nil {
					return withCode(ExitInvalid, fmt.Errorf("read the wallet's credentials: %w", err))
				}
				p := &walletprobe.Probe{
					RPC:     chain.NewClient(c.String("rpc"), user, password),
					Self:    c.String("rpc"),
					SelfP2P: c.String("p2p"),
					Wallet:  c.String("wallet-name"),
					Limits: walletprobe.Limits{
						Hung:         c.Duration("hung-after"),
						MaxLagBlocks: c.Int64("max-lag-blocks"),
						MaxTipAge:    c.Duration("max-tip-age"),
					},
					Poll:       c.Duration("poll"),
					RPCTimeout: c.Duration("rpc-timeout"),
					PeerEvery:  10,
					Log:        c.App.ErrWriter,
				}
				if file := c.String("hd-seed-file"); file != "" {
					if p.Seed, err = readSeed(file); err != nil {
						return withCode(ExitInvalid, err)
					}
				}
				if dir, file := c.String("backups-dir"), c.String("backup-login-file"); dir != "" || file != "" {
					if dir == "" || file == "" {
						return withCode(ExitInvalid, fmt.Errorf("--backups-dir and --backup-login-file go together"))
					}
					user, password, err := chain.ReadCredentials(file)
					if err != nil {
						return withCode(ExitInvalid, fmt.Errorf("read the backup login: %w", err))
					}
					p.Backups = &walletprobe.Backups{Dir: dir, User: user, Password: password}
				}
				if svc := c.String("wallet-service"); svc != "" {
					consul, _, err := deploy.NewConsul(taskConnOptions(c))
					if err != nil {
						return withCode(ExitRuntime, err)
					}
					p.Discovery = walletprobe.ConsulDiscovery{Consul: consul, WalletService: svc, P2PService: c.String("p2p-service")}
				}
				return serveProbe(c.Context, p, c.String("listen"))
			},
		}, walletDaemonCommand()},
	}
}

// readSeed reads an HD seed file: 32 bytes in hex.
func readSeed(file string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read the HD seed: %w", err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != 32 {
		return nil, fmt.Errorf("%s: the HD seed is 64 hexadecimal digits (32 bytes); the file holds %d characters that are not", file, len(strings.TrimSpace(string(data))))
	}
	return seed, nil
}

// serveProbe runs the probe and its HTTP server until ctx ends.
func serveProbe(ctx context.Context, p *walletprobe.Probe, listen string) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return withCode(ExitRuntime, fmt.Errorf("listen on %s: %w", listen, err))
	}
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 2 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	err = srv.Serve(l)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func walletDaemonCommand() *cli.Command {
	return &cli.Command{
		Name:      "daemon",
		Usage:     "run the coin daemon, and rebuild its block database when it will not open",
		ArgsUsage: "-- <daemon> <argument>...",
		Description: "Runs the daemon as a child (its output passed through, SIGTERM and SIGINT\n" +
			"forwarded, its exit status returned). When it stops because its block\n" +
			"database is corrupt (\"Error opening block database\", \"Corrupted block\n" +
			"database detected\"), it is started again with -reindex-chainstate when the\n" +
			"chainstate is what is broken, or -reindex for the block index or block files;\n" +
			"a failed -reindex-chainstate is followed by one -reindex, and a failed\n" +
			"-reindex ends the command. A rebuild under way is recorded in the datadir\n" +
			"(" + walletstart.MarkerFile + ") so that one interrupted by another kill goes on.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "which wallet, for log lines (coin/instance)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return withCode(ExitInvalid, fmt.Errorf("no daemon command: poolctl wallet daemon -- <daemon> <argument>..."))
			}
			if _, err := walletstart.Datadir(c.Args().Slice()[1:]); err != nil {
				return withCode(ExitInvalid, err)
			}
			// Registered here, before any signal can end poolctl itself:
			// the daemon must get every signal and the time to flush.
			signals := make(chan os.Signal, 4)
			signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
			defer signal.Stop(signals)
			s := &walletstart.Supervisor{
				Name:    c.String("name"),
				Command: c.Args().Slice(),
				Signals: signals,
				Stdout:  c.App.Writer,
				Stderr:  c.App.ErrWriter,
				Log:     c.App.ErrWriter,
			}
			err := s.Run(context.WithoutCancel(c.Context))
			var exit *walletstart.ExitError
			if errors.As(err, &exit) {
				if exit.Damage == walletstart.Undamaged {
					return reported(exit.Code, "%w", err)
				}
				return withCode(exit.Code, err)
			}
			if err != nil {
				return withCode(ExitRuntime, fmt.Errorf("wallet %s: %w", c.String("name"), err))
			}
			return nil
		},
	}
}
