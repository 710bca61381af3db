package chain

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
)

// WIF is a private key in the wallet import format of the chain the
// daemon names ("main", "test", "regtest"), for a compressed public key:
// Base58Check(version, key, 0x01), version 0xB0 on Litecoin's main
// network and 0xEF on its test networks.
func WIF(key []byte, chainName string) (string, error) {
	if len(key) != 32 {
		return "", fmt.Errorf("a private key is 32 bytes, not %d", len(key))
	}
	version := byte(0xEF)
	if chainName == "main" {
		version = 0xB0
	}
	return base58CheckEncode(version, append(slices.Clone(key), 0x01)), nil
}

// SeedID is the hdseedid a wallet reports once wif is its HD seed: the
// hash160 of the key's public key, byte-reversed, in hex. The daemon does
// the elliptic-curve work: the P2PKH address of pkh(wif) carries that
// hash160.
func (c *Client) SeedID(ctx context.Context, wif string) (string, error) {
	desc := "pkh(" + wif + ")"
	var info struct {
		Checksum string `json:"checksum"`
	}
	if err := c.Call(ctx, "getdescriptorinfo", []any{desc}, &info); err != nil {
		return "", fmt.Errorf("getdescriptorinfo: %w", err)
	}
	var addrs []string
	if err := c.Call(ctx, "deriveaddresses", []any{desc + "#" + info.Checksum}, &addrs); err != nil {
		return "", fmt.Errorf("deriveaddresses: %w", err)
	}
	if len(addrs) != 1 {
		return "", fmt.Errorf("deriveaddresses gave %d addresses for one key", len(addrs))
	}
	_, hash, err := base58CheckDecode(addrs[0])
	if err != nil || len(hash) != 20 {
		return "", fmt.Errorf("deriveaddresses gave %q, not a P2PKH address: %v", addrs[0], err)
	}
	slices.Reverse(hash)
	return hex.EncodeToString(hash), nil
}

// Seeded is what EnsureSeededWallet did.
type Seeded int

const (
	// SeedKept: the wallet was loaded with the seed already.
	SeedKept Seeded = iota
	// SeedNewWallet: the wallet was created blank and given the seed
	// before it made any key.
	SeedNewWallet
	// SeedReplaced: the wallet had another seed and now has this one; its
	// older keys stay its own, and a rescan finds what the new seed's
	// keys were paid before.
	SeedReplaced
)

// RPC error codes of Litecoin Core that EnsureSeededWallet handles.
const (
	rpcWalletNotFound      = -18
	rpcWalletAlreadyLoaded = -35
)

// EnsureSeededWallet loads the named wallet, creating it the first time
// blank and at once giving it seed (a 32-byte private key) as its HD
// seed, so that every instance holding the seed makes the same addresses
// and holds the keys of all of them. A wallet that has another seed is
// given this one.
func (c *Client) EnsureSeededWallet(ctx context.Context, name string, seed []byte) (Seeded, error) {
	var loaded []string
	if err := c.Call(ctx, "listwallets", nil, &loaded); err != nil {
		return SeedKept, err
	}
	created := false
	if !slices.Contains(loaded, name) {
		err := c.Call(ctx, "loadwallet", []any{name}, nil)
		if CodeOf(err) == rpcWalletNotFound {
			// disable_private_keys false, blank true: no seed of its own.
			err = c.Call(ctx, "createwallet", []any{name, false, true}, nil)
			created = err == nil
		}
		if err != nil && CodeOf(err) != rpcWalletAlreadyLoaded {
			return SeedKept, err
		}
	}
	info, err := c.BlockchainInfo(ctx)
	if err != nil {
		return SeedKept, err
	}
	wif, err := WIF(seed, info.Chain)
	if err != nil {
		return SeedKept, err
	}
	want, err := c.SeedID(ctx, wif)
	if err != nil {
		return SeedKept, err
	}
	var w struct {
		HDSeedID string `json:"hdseedid"`
	}
	if err := c.Call(ctx, "getwalletinfo", nil, &w); err != nil {
		return SeedKept, fmt.Errorf("getwalletinfo: %w", err)
	}
	if w.HDSeedID == want {
		return SeedKept, nil
	}
	if err := c.Call(ctx, "sethdseed", []any{true, wif}, nil); err != nil {
		return SeedKept, fmt.Errorf("sethdseed: %w", err)
	}
	if created {
		return SeedNewWallet, nil
	}
	return SeedReplaced, nil
}
