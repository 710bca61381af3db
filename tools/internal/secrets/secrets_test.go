package secrets_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// The rpcauth line is what litecoind itself accepts: a real daemon
// configured with it lets the password in and keeps others out.
func TestRPCAuthIsAcceptedByLitecoind(t *testing.T) {
	if testing.Short() {
		t.Skip("starts litecoind")
	}
	auth := secrets.RPCAuth("pool", "correct horse", "00112233445566778899aabbccddeeff")
	l := testenv.StartLitecoind(t, "-rpcauth="+auth)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := chain.NewClient(l.RPCAddr, "pool", "correct horse").BlockCount(ctx)
	require.NoError(t, err)
	_, err = chain.NewClient(l.RPCAddr, "pool", "battery staple").BlockCount(ctx)
	assert.Equal(t, chain.Auth, chain.KindOf(err))
}
