package stratum

import (
	"context"
	"errors"
	"testing"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The pool address read from Consul KV is used only once a wallet of the
// coin says it holds its key, against real regtest wallets: an address of
// a wallet outside the pool (whoever could write the key) is refused; one
// of a wallet that cannot be asked is waited for.
func TestPoolAddressMustBeThePoolWallets(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	a, b, outsider := testenv.StartLitecoind(t), testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	addrOf := func(l *testenv.Litecoind) string {
		addr, err := l.Client().NewAddress(ctx)
		require.NoError(t, err)
		return addr
	}
	ofA, ofOutsider := addrOf(a), addrOf(outsider)
	dial := func(hostport string) *chain.Client { return chain.NewClient(hostport, a.User, a.Password) }
	const key = "poolctl/p/ltc/pool-address"
	dead := "127.0.0.1:1"

	for _, tc := range []struct {
		name    string
		addr    string
		wallets []string
		want    error  // nil: accepted
		waits   bool   // still asking when the context ends
		message string // in the error
	}{
		{"held by one of the wallets", ofA, []string{b.RPCAddr, a.RPCAddr}, nil, false, ""},
		{"held by the only reachable wallet", ofA, []string{dead, a.RPCAddr}, nil, false, ""},
		{"held by no wallet of the pool", ofOutsider, []string{a.RPCAddr, b.RPCAddr}, ErrNotPoolWallets, false, "refusing to mine to it"},
		{"the wallet that could hold it cannot be asked", ofA, []string{b.RPCAddr, dead}, context.Canceled, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			var logged []string
			// The first "waiting" line ends the wait: the test needs no clock.
			log := func(msg string, _ ...any) { logged = append(logged, msg); cancel() }
			err := verifyOwned(runCtx, tc.addr, key, StaticWallets(tc.wallets), dial, log)
			if tc.want == nil {
				require.NoError(t, err)
				require.Empty(t, logged)
				return
			}
			require.True(t, errors.Is(err, tc.want), "got %v, want %v", err, tc.want)
			require.Contains(t, err.Error(), tc.message)
			if tc.waits {
				require.Equal(t, []string{"waiting for a wallet to confirm it holds the pool address's key"}, logged)
			} else {
				require.Contains(t, err.Error(), key, "the error names the key")
			}
		})
	}
}

// The server reads the pool address from Consul KV as it starts: an
// address someone wrote there that no wallet of the pool holds stops it
// with the reason.
func TestPoolAddressFromConsulIsChecked(t *testing.T) {
	testenv.Integration(t)
	ctx := context.Background()
	a, outsider := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	foreign, err := outsider.Client().NewAddress(ctx)
	require.NoError(t, err)
	c := testenv.StartConsul(t)
	consul := c.Client(t)
	const key = "poolctl/p/ltc/pool-address"
	_, err = consul.KV().Put(&consulapi.KVPair{Key: key, Value: []byte(foreign)}, nil)
	require.NoError(t, err)
	o := RunOptions{Config: DefaultConfig(), Consul: consul, PoolAddressKey: key}
	dial := func(hostport string) *chain.Client { return chain.NewClient(hostport, a.User, a.Password) }
	_, err = poolAddress(ctx, o, StaticWallets{a.RPCAddr}, dial)
	require.ErrorIs(t, err, ErrNotPoolWallets)
}
