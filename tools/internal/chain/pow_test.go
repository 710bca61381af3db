package chain_test

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

func hexInt(t *testing.T, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 16)
	require.True(t, ok, s)
	return v
}

// litecoinGenesisHeader is Litecoin mainnet's block 0.
func litecoinGenesisHeader(t *testing.T) []byte {
	h := binary.LittleEndian.AppendUint32(nil, 1)
	h = append(h, make([]byte, 32)...)
	root, err := hex.DecodeString("97ddfbbae6be97fd6cdf3e7ca13232a3afff2353e29badfab7f73011edd4ced9")
	require.NoError(t, err)
	for i := len(root) - 1; i >= 0; i-- {
		h = append(h, root[i])
	}
	h = binary.LittleEndian.AppendUint32(h, 1317972665)
	h = binary.LittleEndian.AppendUint32(h, 0x1e0ffff0)
	return binary.LittleEndian.AppendUint32(h, 2084524493)
}

func TestGenesisProofOfWork(t *testing.T) {
	header := litecoinGenesisHeader(t)
	require.Len(t, header, chain.HeaderSize)
	assert.Equal(t, "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2", chain.BlockHash(header))
	pow := chain.ScryptHash(header)
	require.Len(t, pow, 32)
	target := chain.CompactToTarget(0x1e0ffff0)
	// A random hash meets this target once in about a million tries:
	// only a correct scrypt of a correct header does.
	assert.True(t, chain.MeetsTarget(pow, target), "scrypt %x above %x", pow, target)
	assert.GreaterOrEqual(t, chain.DifficultyOf(pow), chain.TargetDifficulty(target))
	// The same header with another nonce is a different hash, almost
	// surely not meeting the target.
	binary.LittleEndian.PutUint32(header[76:], 1)
	assert.False(t, chain.MeetsTarget(chain.ScryptHash(header), target))
}

func TestCompactToTarget(t *testing.T) {
	cases := []struct {
		bits uint32
		want string
	}{
		{0x1d00ffff, "ffff" + zeros(52)},
		{0x1e0ffff0, "ffff0" + zeros(54)},
		{0x207fffff, "7fffff" + zeros(58)},
		{0x03123456, "123456"},
		{0x02123456, "1234"},
		{0x01123456, "12"},
		{0x04923456, "0"}, // negative
		{0x00000000, "0"},
		{0x21010000, "0"}, // beyond 256 bits
	}
	for _, tc := range cases {
		t.Run(chain.HexUint32(tc.bits), func(t *testing.T) {
			assert.Equal(t, 0, hexInt(t, tc.want).Cmp(chain.CompactToTarget(tc.bits)), "%x", chain.CompactToTarget(tc.bits))
		})
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

func TestDifficulty(t *testing.T) {
	assert.Equal(t, 0, hexInt(t, "ffff"+zeros(56)).Cmp(chain.DiffOneTarget))
	assert.Equal(t, 0, chain.DiffOneTarget.Cmp(chain.TargetForDifficulty(1)))
	half := new(big.Int).Rsh(chain.DiffOneTarget, 1)
	assert.Equal(t, 0, half.Cmp(chain.TargetForDifficulty(2)))
	assert.Equal(t, 0, new(big.Int).Lsh(chain.DiffOneTarget, 4).Cmp(chain.TargetForDifficulty(1.0/16)))
	assert.Equal(t, 0, new(big.Int).Div(chain.DiffOneTarget, big.NewInt(1000)).Cmp(chain.TargetForDifficulty(1000)))
	maxTarget := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for _, d := range []float64{0, -1, math.NaN(), math.Inf(-1), 1e-30} {
		assert.Equal(t, 0, maxTarget.Cmp(chain.TargetForDifficulty(d)), "%v", d)
	}
	assert.Equal(t, 0, chain.TargetForDifficulty(math.Inf(1)).Sign())

	// A hash equal to a difficulty's target has exactly that difficulty.
	for _, d := range []float64{1, 16, 0.5, 1024, 123456.789} {
		target := chain.TargetForDifficulty(d)
		var be [32]byte
		target.FillBytes(be[:])
		le := make([]byte, 32)
		for i := range be {
			le[31-i] = be[i]
		}
		assert.Equal(t, 0, target.Cmp(chain.HashValue(le)))
		assert.True(t, chain.MeetsTarget(le, target))
		assert.InEpsilon(t, d, chain.DifficultyOf(le), 1e-9)
	}
	// The regtest target 0x207fffff is difficulty 2^-17-ish: any share
	// difficulty at least 1 is far harder than a regtest block.
	assert.InEpsilon(t, 0xffff/float64(0x7fffff)/256, chain.TargetDifficulty(chain.CompactToTarget(0x207fffff)), 1e-9)
	assert.True(t, math.IsInf(chain.DifficultyOf(make([]byte, 32)), 1))
}

func TestHashValueIsLittleEndian(t *testing.T) {
	h := make([]byte, 32)
	h[0] = 1
	assert.Equal(t, int64(1), chain.HashValue(h).Int64())
	h[0], h[31] = 0, 0x80
	assert.Equal(t, 256, chain.HashValue(h).BitLen())
}

func BenchmarkScryptOnly(b *testing.B) {
	header := make([]byte, chain.HeaderSize)
	for i := 0; i < b.N; i++ {
		header[76] = byte(i)
		_ = chain.ScryptHash(header)
	}
}
