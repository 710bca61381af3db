package chain

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWIF(t *testing.T) {
	key := bytes.Repeat([]byte{0x11}, 32)
	for _, tc := range []struct {
		chain   string
		version byte
		prefix  string // Litecoin's compressed WIFs start so
	}{
		{"main", 0xB0, "T"},
		{"test", 0xEF, "c"},
		{"regtest", 0xEF, "c"},
	} {
		t.Run(tc.chain, func(t *testing.T) {
			wif, err := WIF(key, tc.chain)
			require.NoError(t, err)
			assert.Equal(t, tc.prefix, wif[:1])
			version, payload, err := base58CheckDecode(wif)
			require.NoError(t, err)
			assert.Equal(t, tc.version, version)
			assert.Equal(t, append(bytes.Clone(key), 0x01), payload, "the key, then the compressed flag")
		})
	}
	_, err := WIF(key[:31], "main")
	assert.ErrorContains(t, err, "32 bytes, not 31")
}
