package chain

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test vectors of BIP 173 and BIP 350.
func TestBech32Checksums(t *testing.T) {
	valid := []struct {
		s   string
		enc bech32Encoding
	}{
		{"A12UEL5L", encBech32},
		{"a12uel5l", encBech32},
		{"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs", encBech32},
		{"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", encBech32},
		{"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", encBech32},
		{"?1ezyfcl", encBech32},
		{"A1LQFN3A", encBech32m},
		{"a1lqfn3a", encBech32m},
		{"an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6", encBech32m},
		{"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx", encBech32m},
		{"split1checkupstagehandshakeupstreamerranterredcaperredlc445v", encBech32m},
		{"?1v759aa", encBech32m},
	}
	for _, tc := range valid {
		t.Run("valid-"+tc.s, func(t *testing.T) {
			hrp, data, enc, err := bech32Decode(tc.s)
			require.NoError(t, err)
			assert.Equal(t, tc.enc, enc)
			assert.Equal(t, strings.ToLower(tc.s), bech32Encode(hrp, data, enc), "round trip")
		})
	}
	invalid := []string{
		"pzry9x0s0muk",  // no separator
		"1pzry9x0s0muk", // empty prefix
		"x1b4n0q5v",     // invalid data character
		"li1dgmt3",      // checksum too short
		"A1G7SGD8",      // checksum over the upper-case prefix
		"10a06t8",       // empty prefix
		"1qzzfhee",      // empty prefix
		"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx", // too long
	}
	for _, s := range invalid {
		t.Run("invalid-"+s, func(t *testing.T) {
			_, _, _, err := bech32Decode(s)
			assert.Error(t, err)
		})
	}
}

// BIP 350's segwit address vectors, under their own (Bitcoin) prefixes.
func TestSegwitVectors(t *testing.T) {
	valid := []struct{ addr, script string }{
		{"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
		{"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
		{"bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"},
		{"BC1SW50QGDZ25J", "6002751e"},
		{"bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"},
		{"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
		{"tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
		{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
	}
	for _, tc := range valid {
		t.Run("valid-"+tc.addr, func(t *testing.T) {
			hrp := strings.ToLower(tc.addr[:2])
			version, program, err := decodeSegwit(tc.addr, hrp)
			require.NoError(t, err)
			assert.Equal(t, tc.script, hex.EncodeToString(witnessScript(version, program)))
			again, err := encodeSegwit(hrp, version, program)
			require.NoError(t, err)
			assert.Equal(t, strings.ToLower(tc.addr), again)
		})
	}
	invalid := []struct{ addr, hrp, why string }{
		{"tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "tb", "prefix"},
		{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "bc", "encoded with bech32, must be bech32m"},
		{"tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "tb", "encoded with bech32, must be bech32m"},
		{"BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "bc", "encoded with bech32, must be bech32m"},
		{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "bc", "encoded with bech32m, must be bech32"},
		{"tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", "tb", "encoded with bech32m, must be bech32"},
		{"bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "bc", "invalid bech32 character"},
		{"BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "bc", "unknown witness version 17"},
		{"bc1pw5dgrnzv", "bc", "witness program of 1 bytes"},
		{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav", "bc", "witness program of 41 bytes"},
		{"BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "bc", "version 0 witness program of 16 bytes"},
		{"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "tb", "mixes upper and lower case"},
		{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "bc", "padding"},
		{"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "tb", "padding"},
		{"bc1gmk9yu", "bc", "no witness version"},
	}
	for _, tc := range invalid {
		t.Run("invalid-"+tc.addr, func(t *testing.T) {
			_, _, err := decodeSegwit(tc.addr, tc.hrp)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.why)
		})
	}
}

func TestBase58RoundTrip(t *testing.T) {
	for _, b := range [][]byte{{}, {0}, {0, 0, 1}, {0xff, 0xfe}, []byte("hello world")} {
		s := base58Encode(b)
		got, err := base58Decode(s)
		require.NoError(t, err)
		assert.Equal(t, append([]byte{}, b...), append([]byte{}, got...), s)
	}
	// Bitcoin's address of the generator point's key (BIP 173's example
	// key): the hash160 of the Litecoin vectors in address_test.go.
	v, payload, err := base58CheckDecode("1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH")
	require.NoError(t, err)
	assert.Equal(t, byte(0), v)
	assert.Equal(t, "751e76e8199196d454941c45d1b3a323f1433bd6", hex.EncodeToString(payload))
}
