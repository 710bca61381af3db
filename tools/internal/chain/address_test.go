package chain_test

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// The scripts were checked with `validateaddress` of a real Litecoin Core
// 0.21.2.1 on mainnet and testnet; the hashes are BIP 173/350's (hash160
// of the generator point's key, a P2WSH program, the generator's x).
var validAddresses = []struct{ network, addr, script string }{
	{"mainnet", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ", "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac"},
	{"mainnet", "MJaRnao1s62a2zAKSkmG582KbLKianqb7v", "a914751e76e8199196d454941c45d1b3a323f1433bd687"},
	{"mainnet", "3CNHUhP3uyB9EUtRLsmvFUmvGdjGdkTxJw", "a914751e76e8199196d454941c45d1b3a323f1433bd687"},
	{"mainnet", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
	{"mainnet", "LTC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KGMN4N9", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
	{"mainnet", "ltc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qmu8tk5", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
	{"mainnet", "ltc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqpj6zg2", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
	{"main", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ", "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac"},
	{"testnet", "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r", "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac"},
	{"testnet", "QXHFfTBKYXjaaTH1e7Rox8CcdNPGHVhM59", "a914751e76e8199196d454941c45d1b3a323f1433bd687"},
	{"testnet", "2N3vVYSK5XRgVSGWy21PnsRmBUywSQNdCsf", "a914751e76e8199196d454941c45d1b3a323f1433bd687"},
	{"testnet", "tltc1qw508d6qejxtdg4y5r3zarvary0c5xw7klfsuq0", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
	{"testnet", "tltc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qsnr4fp", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
	{"testnet", "tltc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq2a7uhl", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
	// Regtest shares testnet's base58 versions.
	{"regtest", "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r", "76a914751e76e8199196d454941c45d1b3a323f1433bd688ac"},
	{"regtest", "QXHFfTBKYXjaaTH1e7Rox8CcdNPGHVhM59", "a914751e76e8199196d454941c45d1b3a323f1433bd687"},
}

func TestOutputScript(t *testing.T) {
	for _, tc := range validAddresses {
		t.Run("valid-"+tc.network+"-"+tc.addr, func(t *testing.T) {
			script, err := chain.OutputScript(tc.addr, tc.network)
			require.NoError(t, err)
			assert.Equal(t, tc.script, hex.EncodeToString(script))
		})
	}

	invalid := []struct{ name, network, addr, want string }{
		{"base58-checksum", "mainnet", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnK", "bad base58 checksum"},
		{"base58-character", "mainnet", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUn0", "invalid base58 character '0'"},
		{"bech32-checksum", "mainnet", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n8", "bad bech32 checksum"},
		{"testnet-on-mainnet", "mainnet", "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r", "a testnet address (version 0x6f), not for mainnet"},
		{"mainnet-on-regtest", "regtest", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ", "a mainnet address (version 0x30), not for regtest"},
		{"mainnet-bech32-on-testnet", "testnet", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", "a mainnet address, not for testnet"},
		{"testnet-bech32-on-regtest", "regtest", "tltc1qw508d6qejxtdg4y5r3zarvary0c5xw7klfsuq0", "a testnet address, not for regtest"},
		{"bitcoin-bech32", "mainnet", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", `bech32 prefix "bc" is not mainnet's "ltc"`},
		{"bitcoin-p2pkh", "mainnet", "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH", "unknown base58 address version 0x00"},
		{"v0-with-bech32m", "mainnet", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7ka8rek8", "encoded with bech32m, must be bech32"},
		{"mweb", "mainnet", "ltcmweb1qqtjw63kycev3v8nj3hqdwt8cfxs2ch7gu3cmu0jzknsr9p8vqevnvq6wx44ztsrtmswt2juka97rxtc5y03sllqg3ek6utgz6355k5v3cq54scld", "MWEB address cannot receive a coinbase"},
		{"empty", "mainnet", "", "empty"},
		{"unknown-network", "signet", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ", `unknown network "signet"`},
	}
	for _, tc := range invalid {
		t.Run("invalid-"+tc.name, func(t *testing.T) {
			_, err := chain.OutputScript(tc.addr, tc.network)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestCanonicalAddress(t *testing.T) {
	for _, tc := range []struct{ name, network, addr, want, err string }{
		{"p2pkh as it is", "mainnet", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ", "LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ", ""},
		{"bech32 lower case", "mainnet", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", ""},
		{"bech32 upper case", "mainnet", "LTC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KGMN4N9", "ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9", ""},
		{"bech32m v1 upper case", "testnet", "TLTC1P0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ2A7UHL", "tltc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq2a7uhl", ""},
		{"p2sh with litecoin's version", "regtest", "QXHFfTBKYXjaaTH1e7Rox8CcdNPGHVhM59", "QXHFfTBKYXjaaTH1e7Rox8CcdNPGHVhM59", ""},
		{"p2sh with bitcoin's legacy version", "regtest", "2N3vVYSK5XRgVSGWy21PnsRmBUywSQNdCsf", "QXHFfTBKYXjaaTH1e7Rox8CcdNPGHVhM59", ""},
		{"mainnet p2sh with bitcoin's legacy version", "mainnet", "3CNHUhP3uyB9EUtRLsmvFUmvGdjGdkTxJw", "MJaRnao1s62a2zAKSkmG582KbLKianqb7v", ""},
		{"invalid", "mainnet", "ltc1qnotanaddress", "", "address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := chain.CanonicalAddress(tc.addr, tc.network)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			a, _ := chain.OutputScript(tc.addr, tc.network)
			b, _ := chain.OutputScript(got, tc.network)
			assert.Equal(t, a, b, "the canonical spelling pays the same script")
		})
	}
}
