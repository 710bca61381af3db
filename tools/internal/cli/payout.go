package cli

import (
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/scryptpool/poolmicrocloud/tools/internal/config"
	"github.com/scryptpool/poolmicrocloud/tools/internal/deploy"
	"github.com/scryptpool/poolmicrocloud/tools/internal/payout"
)

// unitsPerCoin: every coin the pool runs (Litecoin) counts its smallest
// units so.
var unitsPerCoin = config.Chains["litecoin"].UnitsPerCoin

// ledgerFlags are what both periodic ledger jobs need: the coin's wallets,
// the database, and how blocks are credited.
func ledgerFlags() []cli.Flag {
	return append(append(connFlags(), databaseFlags()...),
		&cli.StringFlag{Name: "coin", Required: true, Usage: "the coin's name in pool.hcl"},
		&cli.StringFlag{Name: "network", Value: "mainnet", Usage: "mainnet, testnet or regtest: which addresses are valid"},
		&cli.StringFlag{Name: "wallet-service", Usage: "Consul service of the coin's wallets"},
		&cli.StringSliceFlag{Name: "wallet", Usage: "a wallet's RPC address, host:port, instead of Consul (repeatable)"},
		&cli.StringFlag{Name: "credentials", Required: true, Usage: "file holding the wallets' RPC user:password"},
		&cli.StringFlag{Name: "pool-address", Usage: "the address block rewards go to (default: the one in Consul KV)"},
		&cli.IntFlag{Name: "confirmations", Value: 100, Usage: "a block's reward is credited at this depth"},
		&cli.StringFlag{Name: "scheme", Value: "pplns", Usage: "pplns or proportional"},
		&cli.Float64Flag{Name: "window", Value: 2, Usage: "PPLNS: the last shares worth N x the network difficulty share a block"},
		&cli.Float64Flag{Name: "fee-percent", Usage: "the pool's fee"},
	)
}

func blocksCommand() *cli.Command {
	return &cli.Command{
		Name:  "blocks",
		Usage: "follow found blocks to confirmed or orphaned and credit miners once (run by the <coin>-blocks job)",
		Description: "Asks the wallet holding the pool address about every pending block: its depth,\n" +
			"and its coinbase's category and amount. A block at --confirmations is divided\n" +
			"among its window's miners (PPLNS or proportional, after the fee) in one database\n" +
			"transaction that only a pending block can enter. Exit 0 also when another run\n" +
			"holds the lock (recorded as skipped).",
		Flags:  ledgerFlags(),
		Action: func(c *cli.Context) error { return runLedgerJob(c, "blocks") },
	}
}

func payoutCommand() *cli.Command {
	return &cli.Command{
		Name:  "payout",
		Usage: "credit matured blocks and pay miners what they are owed, exactly once (run by the <coin>-payout job)",
		Description: "First gives the wallet every recent payout it has not seen, and settles any\n" +
			"payout an earlier run left open by broadcasting the transaction stored with it\n" +
			"(on any wallet instance: every one holds the pool's keys); then pays every miner owed at\n" +
			"least --minimum in batches of at most --max-outputs outputs, never more than\n" +
			"the wallet's mature balance minus --reserve. A miner whose address the coin\n" +
			"cannot pay is held with the reason. The outcome is kept in Consul for\n" +
			"`poolctl status`. Exit 1 when the run failed (nothing is paid twice on retry).",
		Flags: append(ledgerFlags(),
			&cli.Float64Flag{Name: "minimum", Value: 0.1, Usage: "coins: smaller balances wait for the next run"},
			&cli.Float64Flag{Name: "reserve", Value: 0.01, Usage: "coins always left in the wallet for fees"},
			&cli.IntFlag{Name: "max-outputs", Value: 500, Usage: "outputs per payout transaction"},
			&cli.DurationFlag{Name: "send-timeout", Value: 2 * time.Minute, Usage: "how long the wallet may take to build one payout's transaction"},
		),
		Action: func(c *cli.Context) error { return runLedgerJob(c, "payout") },
	}
}

func runLedgerJob(c *cli.Context, job string) error {
	user, password, err := walletLogin(c)
	if err != nil {
		return err
	}
	scheme := c.String("scheme")
	if scheme != "pplns" && scheme != "proportional" {
		return withCode(ExitInvalid, fmt.Errorf("--scheme must be pplns or proportional, not %q", scheme))
	}
	if !(c.Float64("window") > 0) {
		return withCode(ExitInvalid, fmt.Errorf("--window must be above 0"))
	}
	dbURL, err := databaseURL(c)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
	o := payout.RunOptions{
		Pool: c.String("pool"), Coin: c.String("coin"), Job: job, Network: c.String("network"),
		WalletService: c.String("wallet-service"), Wallets: c.StringSlice("wallet"),
		WalletUser: user, WalletPassword: password,
		DatabaseURL: dbURL, DatabaseService: c.String("database-service"),
		PoolAddress: c.String("pool-address"),
		Track: payout.TrackOptions{
			Coin: c.String("coin"), Confirmations: int64(c.Int("confirmations")), FeePercent: c.Float64("fee-percent"),
			Scheme:       payout.Scheme{Name: scheme, Window: c.Float64("window")},
			UnitsPerCoin: unitsPerCoin, OrphanDepth: 10,
		},
		Log: log,
	}
	if job == "payout" {
		o.Pay = payout.PayOptions{
			Coin: o.Coin, Network: o.Network, UnitsPerCoin: unitsPerCoin,
			Minimum:     int64(math.Round(c.Float64("minimum") * float64(unitsPerCoin))),
			Reserve:     int64(math.Round(c.Float64("reserve") * float64(unitsPerCoin))),
			MaxOutputs:  c.Int("max-outputs"),
			SendTimeout: c.Duration("send-timeout"),
		}
	}
	if o.WalletService != "" || o.DatabaseService != "" || o.PoolAddress == "" || c.String("consul-address") != "" {
		consul, _, err := deploy.NewConsul(taskConnOptions(c))
		if err != nil {
			return withCode(ExitRuntime, err)
		}
		o.Consul = consul
	}
	rec, err := payout.Run(c.Context, o)
	fmt.Fprintf(c.App.Writer, "%s %s: %s: %s\n", o.Coin, job, rec.Outcome, rec.Message)
	for _, s := range rec.Sent {
		how := "sent"
		if s.Reconciled {
			how = "settled from an earlier run"
		}
		fmt.Fprintf(c.App.Writer, "  %s %s: %s to %d miner(s), txid %s\n", s.ID, how, payout.Coins(s.Units, unitsPerCoin), s.Outputs, s.TxID)
	}
	for addr, why := range rec.Held {
		fmt.Fprintf(c.App.Writer, "  held %s: %s\n", addr, why)
	}
	if err != nil {
		return withCode(ExitRuntime, err)
	}
	return nil
}
