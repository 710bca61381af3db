package stratum

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// ErrNotPoolWallets says the pool address kept in Consul KV is not held by
// any of the coin's wallets: whoever can write that key would otherwise
// redirect every block reward.
var ErrNotPoolWallets = errors.New("no wallet of the coin holds its key")

// verifyOwned returns once a wallet of the coin says it holds the key of
// addr. Every registered wallet answering that it does not is
// ErrNotPoolWallets; while some cannot be asked (only the instance that
// made the address holds its key, and it may be down) it waits, saying
// so once.
func verifyOwned(ctx context.Context, addr, key string, finder WalletFinder, dial func(string) *chain.Client, log func(msg string, args ...any)) error {
	logged := false
	for {
		_, all := finder.Wallets()
		var unreachable []string
		for _, w := range all {
			callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			mine, err := dial(w).OwnsAddress(callCtx, addr)
			cancel()
			switch {
			case err != nil:
				unreachable = append(unreachable, fmt.Sprintf("%s: %v", w, err))
			case mine:
				return nil
			}
		}
		if len(all) > 0 && len(unreachable) == 0 {
			return fmt.Errorf("pool address %s in Consul KV %s: %w (asked %s); refusing to mine to it: delete the key to have a wallet make a new one, and find out who wrote it",
				addr, key, ErrNotPoolWallets, strings.Join(all, ", "))
		}
		if !logged {
			log("waiting for a wallet to confirm it holds the pool address's key", "address", addr, "unreachable", strings.Join(unreachable, "; "))
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}
