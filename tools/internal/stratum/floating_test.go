package stratum

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The floating address is not on this host (TEST-NET-1): the listener is
// made anyway, because keepalived adds the address later; miners on the
// node's address are served meanwhile; closing ends both.
func TestListenMinersOnAnAddressNotYetHere(t *testing.T) {
	ctx := context.Background()
	var lc net.ListenConfig
	_, err := lc.Listen(ctx, "tcp4", "192.0.2.77:0")
	require.Error(t, err, "without IP_FREEBIND an absent address cannot be bound (else this test proves nothing)")

	floating, err := FloatingHostport("192.0.2.77", "127.0.0.1:0")
	require.NoError(t, err)
	assert.Equal(t, "192.0.2.77:0", floating)
	l, err := ListenMiners(ctx, "127.0.0.1:0", floating)
	require.NoError(t, err)
	accepted := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	c.Close()
	require.NoError(t, <-accepted)
	require.NoError(t, l.Close())
	_, err = l.Accept()
	assert.True(t, errors.Is(err, net.ErrClosed), "Accept after Close: %v", err)

	none, err := FloatingHostport("", "127.0.0.1:3333")
	require.NoError(t, err)
	assert.Empty(t, none, "no floating address, no second listener")
	_, err = FloatingHostport("10.0.0.5", "no-port")
	assert.Error(t, err)
}
