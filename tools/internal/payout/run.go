package payout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/contract"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
	"github.com/scryptpool/poolmicrocloud/tools/internal/walletprobe"
)

// RunOptions are what the periodic jobs (`poolctl payout`, `poolctl
// blocks`) run with.
type RunOptions struct {
	Pool, Coin, Job string // Job: "payout" or "blocks"
	Network         string

	Consul          *consulapi.Client
	WalletService   string
	Wallets         []string // host:port instead of Consul
	WalletUser      string
	WalletPassword  string
	DatabaseURL     string
	DatabaseService string
	// PoolAddress is where block rewards go; empty: the one the stratum
	// servers keep in Consul KV.
	PoolAddress string

	Track TrackOptions
	Pay   PayOptions
	Log   *slog.Logger
}

// Record is what a run leaves in Consul KV for `poolctl status`.
type Record struct {
	Job        string    `json:"job"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Outcome    string    `json:"outcome"` // ok, waiting, skipped, failed
	Message    string    `json:"message"`
	Wallet     string    `json:"wallet,omitempty"`
	OwedUnits  int64     `json:"owed_units"`
	OwedMiners int       `json:"owed_miners"`
	// Held miners and why.
	Held map[string]string `json:"held,omitempty"`
	// Blocks pending, confirmed and orphaned by this run.
	Blocks *TrackResult `json:"blocks,omitempty"`
	Sent   []Sent       `json:"sent,omitempty"`
	// Owing are the largest pending balances after the run, largest
	// first (at most MaxOwing).
	Owing []Balance `json:"owing,omitempty"`
	// Lines are details status prints under the message (housekeeping:
	// the files a backup wrote, what stats pruned).
	Lines []string `json:"lines,omitempty"`
}

// Run runs one periodic payout or blocks job under a Consul lock and
// records its outcome.
func Run(ctx context.Context, o RunOptions) (Record, error) {
	return Recorded(ctx, RecordedRun{Consul: o.Consul, Pool: o.Pool, Coin: o.Coin, Job: o.Job}, func(ctx context.Context, rec *Record) error {
		return runLocked(ctx, o, rec)
	})
}

// RecordedRun names a periodic job's run: its lock and its record.
type RecordedRun struct {
	Consul          *consulapi.Client // nil: no lock, no record (tests, manual runs)
	Pool, Coin, Job string
}

// Recorded runs body under the job's Consul lock and records its outcome
// in Consul KV. A run that finds the lock held (or body returning ErrBusy)
// records "skipped" and returns nil: a second forced run is not a
// failure. A run that loses its lock (its Consul session expired) has its
// context cancelled, so it stops at the next step.
func Recorded(ctx context.Context, r RecordedRun, body func(ctx context.Context, rec *Record) error) (Record, error) {
	rec := Record{Job: r.Job, Started: time.Now().UTC()}
	runErr := func() error {
		if r.Consul != nil {
			lost, unlock, err := takeLock(ctx, r.Consul, contract.LockKey(r.Pool, r.Coin, r.Job))
			if err != nil {
				return err
			}
			defer unlock()
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-lost:
					cancel()
				case <-ctx.Done():
				}
			}()
		}
		return body(ctx, &rec)
	}()
	rec.Finished = time.Now().UTC()
	if runErr != nil {
		if errors.Is(runErr, ErrBusy) {
			rec.Outcome, rec.Message, runErr = "skipped", runErr.Error(), nil
		} else {
			rec.Outcome, rec.Message = "failed", runErr.Error()
		}
	}
	if r.Consul != nil {
		data, _ := json.Marshal(rec)
		if _, err := r.Consul.KV().Put(&consulapi.KVPair{Key: contract.RecordKey(r.Pool, r.Coin, r.Job), Value: data}, nil); err != nil && runErr == nil {
			runErr = fmt.Errorf("record the run in Consul: %w", err)
		}
	}
	return rec, runErr
}

func runLocked(ctx context.Context, o RunOptions, rec *Record) error {
	db, err := ledger.Open(o.DatabaseURL, o.Consul, o.DatabaseService, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ledger.Migrate(ctx, db); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	address := o.PoolAddress
	if address == "" {
		if address, err = poolAddress(ctx, o); err != nil {
			return err
		}
	}
	wallet, where, err := payerWallet(ctx, o, address)
	if err != nil {
		return err
	}
	rec.Wallet = where
	track, err := TrackBlocks(ctx, db, wallet, o.Track)
	rec.Blocks = &track
	if err != nil {
		return err
	}
	rec.Outcome = "ok"
	rec.Message = fmt.Sprintf("blocks: %d credited, %d orphaned, %d pending", track.Confirmed, track.Orphaned, track.Pending)
	if o.Job != "payout" {
		rec.OwedUnits, rec.OwedMiners, err = owedSummary(ctx, db, o.Coin)
		return err
	}
	res, err := Pay(ctx, db, wallet, o.Pay)
	rec.Sent, rec.Held, rec.OwedUnits, rec.OwedMiners = res.Payouts, res.Held, res.OwedUnits, res.OwedMiners
	if err != nil {
		return err
	}
	if rec.Owing, err = largestOwed(ctx, db, o.Coin, MaxOwing); err != nil {
		return err
	}
	var units int64
	for _, s := range res.Payouts {
		units += s.Units
	}
	rec.Message += fmt.Sprintf("; paid %s in %d transaction(s)", Coins(units, o.Pay.UnitsPerCoin), len(res.Payouts))
	if res.Waiting != "" {
		rec.Outcome = "waiting"
		rec.Message += "; " + res.Waiting
	}
	if len(res.Held) > 0 {
		rec.Message += fmt.Sprintf("; %d miner(s) held", len(res.Held))
	}
	return nil
}

func poolAddress(ctx context.Context, o RunOptions) (string, error) {
	if o.Consul == nil {
		return "", errors.New("no pool address: give --pool-address, or Consul where the stratum servers keep it")
	}
	key := contract.PoolAddressKey(o.Pool, o.Coin)
	pair, _, err := o.Consul.KV().Get(key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("read the pool address from Consul KV %s: %w", key, err)
	}
	if pair == nil || len(pair.Value) == 0 {
		return "", fmt.Errorf("no pool address in Consul KV %s yet: the stratum servers make it when they first start", key)
	}
	return string(pair.Value), nil
}

// payerWallet is the first wallet instance that answers and holds the
// pool address's key. Every instance holds the pool's keys (one HD seed),
// so any of them sees the rewards and can pay: a payout's transaction is
// stored before it is broadcast, and settled by its bytes, not by what
// the instance that built it remembers. (A pool address made before the
// seed existed is held by the instance that made it only.)
func payerWallet(ctx context.Context, o RunOptions, address string) (*chain.Client, string, error) {
	candidates := o.Wallets
	if len(candidates) == 0 {
		if o.Consul == nil {
			return nil, "", errors.New("give --wallet or --wallet-service")
		}
		var err error
		candidates, err = walletprobe.ConsulDiscovery{Consul: o.Consul, WalletService: o.WalletService}.Wallets(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("find the wallets in Consul: %w", err)
		}
	}
	if len(candidates) == 0 {
		return nil, "", fmt.Errorf("no %s wallet is registered", o.Coin)
	}
	// Of the instances holding the key, one marked as having scanned the
	// chain since it was given the pool's seed, before one not marked (a
	// wallet given the seed a moment ago, or whose scan was cut short,
	// may not know every reward; a wallet that never had the pool's seed
	// is not marked either, and is used when none is); of those, the one
	// with the longest chain: an instance that lags, or never caught up
	// with the others (cut off from them, or placed anew), knows neither
	// the latest rewards nor the latest payouts' spends.
	var problems []string
	var best *chain.Client
	bestAt, bestHeight, bestScanned := "", int64(-1), false
	for _, c := range candidates {
		w := chain.NewClient(c, o.WalletUser, o.WalletPassword)
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		mine, err := w.OwnsAddress(callCtx, address)
		var height int64
		var seed chain.SeedScan
		if err == nil && mine {
			seed, err = w.SeedScanned(callCtx)
		}
		if err == nil && mine && !seed.Scanning {
			height, err = w.BlockCount(callCtx)
		}
		cancel()
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", c, err))
		case !mine:
			problems = append(problems, c+": does not hold the key")
		case seed.Scanning:
			// A wallet scanning the chain does not yet know every
			// reward nor every payout's spend.
			problems = append(problems, c+": scanning the chain for the pool's keys")
		case best == nil || seed.Scanned && !bestScanned || seed.Scanned == bestScanned && height > bestHeight:
			best, bestAt, bestHeight, bestScanned = w, c, height, seed.Scanned
		}
	}
	if best != nil {
		return best, bestAt, nil
	}
	return nil, "", fmt.Errorf("no reachable %s wallet holds the key of the pool address %s (%v); the rewards wait until it is back", o.Coin, address, problems)
}

// takeLock takes the Consul lock at key, or returns ErrBusy when another
// run holds it. lost is closed if the lock is lost while held.
func takeLock(ctx context.Context, consul *consulapi.Client, key string) (lost <-chan struct{}, unlock func(), err error) {
	lock, err := consul.LockOpts(&consulapi.LockOptions{
		Key:          key,
		SessionName:  "poolctl " + key,
		SessionTTL:   "30s",
		LockTryOnce:  true,
		LockWaitTime: 2 * time.Second,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("consul lock %s: %w", key, err)
	}
	held, err := lock.Lock(ctx.Done())
	if err != nil {
		return nil, nil, fmt.Errorf("consul lock %s: %w", key, err)
	}
	if held == nil {
		return nil, nil, fmt.Errorf("consul lock %s: %w", key, errConsulLockHeld)
	}
	return held, func() { _ = lock.Unlock() }, nil
}
