package chain

import (
	"errors"
	"fmt"
	"strings"
)

// Network holds what tells one Litecoin network's addresses from
// another's.
type Network struct {
	Name    string
	PubKey  byte   // base58 P2PKH version
	Script  []byte // base58 P2SH versions: Litecoin's own first, then Bitcoin's legacy one
	HRP     string // bech32 segwit prefix
	MWEBHRP string // MWEB stealth addresses, which a coinbase cannot pay
}

// Networks are Litecoin's, under the names pool configurations use.
var Networks = map[string]Network{
	"mainnet": {Name: "mainnet", PubKey: 0x30, Script: []byte{0x32, 0x05}, HRP: "ltc", MWEBHRP: "ltcmweb"},
	"testnet": {Name: "testnet", PubKey: 0x6f, Script: []byte{0x3a, 0xc4}, HRP: "tltc", MWEBHRP: "tmweb"},
	"regtest": {Name: "regtest", PubKey: 0x6f, Script: []byte{0x3a, 0xc4}, HRP: "rltc", MWEBHRP: "tmweb"},
}

// LookupNetwork finds a network by the pool's name for it or by the chain
// name getblockchaininfo reports ("main", "test", "regtest").
func LookupNetwork(name string) (Network, error) {
	switch name {
	case "main":
		name = "mainnet"
	case "test":
		name = "testnet"
	}
	n, ok := Networks[name]
	if !ok {
		return Network{}, fmt.Errorf("unknown network %q (want mainnet, testnet or regtest)", name)
	}
	return n, nil
}

// Script opcodes used in output scripts.
const (
	opDup         = 0x76
	opHash160     = 0xa9
	opEqual       = 0x87
	opEqualVerify = 0x88
	opCheckSig    = 0xac
	opReturn      = 0x6a
)

// OutputScript is the scriptPubKey that pays address on network
// ("mainnet", "testnet" or "regtest"): P2PKH, P2SH, or a segwit program.
func OutputScript(address, network string) ([]byte, error) {
	net, err := LookupNetwork(network)
	if err != nil {
		return nil, err
	}
	script, err := net.outputScript(strings.TrimSpace(address))
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", address, err)
	}
	return script, nil
}

func (n Network) outputScript(addr string) ([]byte, error) {
	if addr == "" {
		return nil, errors.New("empty")
	}
	lower := strings.ToLower(addr)
	if strings.HasPrefix(lower, n.MWEBHRP+"1") {
		return nil, errors.New("an MWEB address cannot receive a coinbase output")
	}
	if strings.HasPrefix(lower, n.HRP+"1") {
		version, program, err := decodeSegwit(addr, n.HRP)
		if err != nil {
			return nil, err
		}
		return witnessScript(version, program), nil
	}
	for _, other := range sortedNetworks() {
		if other.HRP != n.HRP && strings.HasPrefix(lower, other.HRP+"1") {
			return nil, fmt.Errorf("a %s address, not for %s", other.Name, n.Name)
		}
		if other.MWEBHRP != n.MWEBHRP && strings.HasPrefix(lower, other.MWEBHRP+"1") {
			return nil, fmt.Errorf("a %s MWEB address, not for %s", other.Name, n.Name)
		}
	}
	version, payload, err := base58CheckDecode(addr)
	if err != nil {
		if hrp, _, _, bErr := bech32Decode(addr); bErr == nil {
			// Valid bech32, but not one of Litecoin's: a Bitcoin address, say.
			return nil, fmt.Errorf("bech32 prefix %q is not %s's %q", hrp, n.Name, n.HRP)
		}
		return nil, err
	}
	if len(payload) != 20 {
		return nil, fmt.Errorf("base58 payload of %d bytes, want a 20-byte hash", len(payload))
	}
	if version == n.PubKey {
		return p2pkhScript(payload), nil
	}
	for _, v := range n.Script {
		if version == v {
			return p2shScript(payload), nil
		}
	}
	for _, other := range sortedNetworks() {
		if version == other.PubKey || version == other.Script[0] || version == other.Script[1] {
			return nil, fmt.Errorf("a %s address (version 0x%02x), not for %s", other.Name, version, n.Name)
		}
	}
	return nil, fmt.Errorf("unknown base58 address version 0x%02x", version)
}

// sortedNetworks gives a fixed order, so error messages do not change
// from run to run.
func sortedNetworks() []Network {
	return []Network{Networks["mainnet"], Networks["testnet"], Networks["regtest"]}
}

func p2pkhScript(hash []byte) []byte {
	s := make([]byte, 0, 25)
	s = append(s, opDup, opHash160, 20)
	s = append(s, hash...)
	return append(s, opEqualVerify, opCheckSig)
}

func p2shScript(hash []byte) []byte {
	s := make([]byte, 0, 23)
	s = append(s, opHash160, 20)
	s = append(s, hash...)
	return append(s, opEqual)
}

func witnessScript(version byte, program []byte) []byte {
	op := byte(0)
	if version > 0 {
		op = 0x50 + version // OP_1..OP_16
	}
	s := make([]byte, 0, 2+len(program))
	s = append(s, op, byte(len(program)))
	return append(s, program...)
}

// CanonicalAddress is the one spelling of the address's output script on
// network: bech32 in lower case, P2SH with Litecoin's own version (not
// Bitcoin's legacy one), P2PKH as it is. Two spellings of one script are
// one destination to the wallet (send refuses both in one call as a
// "duplicated address"), so the pool keeps one balance per script under
// this spelling.
func CanonicalAddress(address, network string) (string, error) {
	net, err := LookupNetwork(network)
	if err != nil {
		return "", err
	}
	script, err := OutputScript(address, network)
	if err != nil {
		return "", err
	}
	return net.addressOf(script)
}

// addressOf spells an output script OutputScript made.
func (n Network) addressOf(script []byte) (string, error) {
	switch {
	case len(script) == 25 && script[0] == opDup && script[1] == opHash160 && script[2] == 20 && script[23] == opEqualVerify && script[24] == opCheckSig:
		return base58CheckEncode(n.PubKey, script[3:23]), nil
	case len(script) == 23 && script[0] == opHash160 && script[1] == 20 && script[22] == opEqual:
		return base58CheckEncode(n.Script[0], script[2:22]), nil
	case len(script) >= 4 && (script[0] == 0 || script[0] > 0x50 && script[0] <= 0x60) && int(script[1]) == len(script)-2:
		version := byte(0)
		if script[0] != 0 {
			version = script[0] - 0x50
		}
		return encodeSegwit(n.HRP, version, script[2:])
	}
	return "", fmt.Errorf("output script %x is not one an address spells", script)
}
