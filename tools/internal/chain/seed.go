package chain

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	addr, err := c.KeyAddress(ctx, wif)
	if err != nil {
		return "", err
	}
	_, hash, err := base58CheckDecode(addr)
	if err != nil || len(hash) != 20 {
		return "", fmt.Errorf("deriveaddresses gave %q, not a P2PKH address: %v", addr, err)
	}
	slices.Reverse(hash)
	return hex.EncodeToString(hash), nil
}

// KeyAddress is the P2PKH address of the key wif, derived by the daemon
// (getdescriptorinfo, deriveaddresses: no wallet is involved).
func (c *Client) KeyAddress(ctx context.Context, wif string) (string, error) {
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
	return addrs[0], nil
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
	w, err := c.walletInfo(ctx)
	if err != nil {
		return SeedKept, err
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

// RescannedLabel marks, as the label of the seed's own address in a
// wallet's address book, that the wallet has scanned the whole chain
// since it was given the seed. A wallet given the seed after its daemon
// had synced blocks would otherwise never see what those blocks paid
// the pool's keys; the mark makes the scan happen once, even if the
// process asking for it dies mid-way.
const RescannedLabel = "poolctl: chain scanned for the pool's HD seed"

// WalletScan is how far a wallet is with the scan EnsureScanned asks for.
type WalletScan struct {
	// Done: the wallet has scanned the chain since it holds the seed
	// (marked); false while a scan runs.
	Done bool
	// From is the height this call's scan started at: 0, or the lowest
	// block a pruned daemon still has (what older blocks paid the pool's
	// keys stays unknown to this wallet). -1: this call scanned nothing.
	From int64
}

type walletInfo struct {
	HDSeedID string          `json:"hdseedid"`
	Scanning json.RawMessage `json:"scanning"`
}

func (c *Client) walletInfo(ctx context.Context) (walletInfo, error) {
	var w walletInfo
	if err := c.Call(ctx, "getwalletinfo", nil, &w); err != nil {
		return w, fmt.Errorf("getwalletinfo: %w", err)
	}
	return w, nil
}

// scanning: false, or {"duration": s, "progress": p} while scanning.
func (w walletInfo) scanning() bool {
	s := strings.TrimSpace(string(w.Scanning))
	return s != "" && s != "false" && s != "null"
}

// SeedScan is what a wallet says of its HD seed and its scan.
type SeedScan struct {
	// Scanning: a scan runs now.
	Scanning bool
	// Scanned: the wallet is marked (RescannedLabel) as having scanned
	// the chain since it holds its seed. A wallet never given the pool's
	// seed by a probe is not marked.
	Scanned bool
}

// SeedScanned reads, with the calls a payout's wallet login may make
// (getwalletinfo, getblockchaininfo, getaddressinfo), whether the wallet
// is scanning and whether it is marked as having scanned the chain since
// it holds its HD seed. The seed's address is made from the hdseedid
// (its hash160, byte-reversed) without the seed.
func (c *Client) SeedScanned(ctx context.Context) (SeedScan, error) {
	_, _, st, err := c.seedMark(ctx)
	return st, err
}

// seedMark reads what SeedScanned reports, and the seed's address ("" if
// the wallet has no HD seed) and the chain, for EnsureScanned.
func (c *Client) seedMark(ctx context.Context) (addr string, info *BlockchainInfo, st SeedScan, err error) {
	w, err := c.walletInfo(ctx)
	if err != nil {
		return "", nil, st, err
	}
	st.Scanning = w.scanning()
	id, err := hex.DecodeString(w.HDSeedID)
	if err != nil || len(id) != 20 {
		return "", nil, st, nil // no HD seed: not marked
	}
	if info, err = c.BlockchainInfo(ctx); err != nil {
		return "", nil, st, err
	}
	slices.Reverse(id)
	addr = base58CheckEncode(p2pkhVersion(info.Chain), id)
	st.Scanned, err = c.marked(ctx, addr)
	return addr, info, st, err
}

// p2pkhVersion is the version byte of Litecoin's P2PKH addresses on the
// named chain: 0x30 ("L...") on the main network, 0x6F on test networks.
func p2pkhVersion(chainName string) byte {
	if chainName == "main" {
		return 0x30
	}
	return 0x6F
}

// marked says whether addr carries RescannedLabel in the wallet.
func (c *Client) marked(ctx context.Context, addr string) (bool, error) {
	var ai struct {
		Labels []json.RawMessage `json:"labels"`
	}
	if err := c.Call(ctx, "getaddressinfo", []any{addr}, &ai); err != nil {
		return false, fmt.Errorf("getaddressinfo: %w", err)
	}
	for _, l := range ai.Labels {
		var name string
		if json.Unmarshal(l, &name) != nil {
			// Older daemons give {"name": ..., "purpose": ...}.
			var o struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(l, &o)
			name = o.Name
		}
		if name == RescannedLabel {
			return true, nil
		}
	}
	return false, nil
}

// EnsureScanned makes the loaded wallet, which holds the pool's HD seed,
// scan the chain once for what the seed's keys were paid, and marks it
// done (RescannedLabel). A pruned daemon scans from the lowest block it
// still has. The scan can take long on a main chain: ctx should not end
// before it does (the daemon goes on scanning if it does, and a later
// call waits for that scan, then starts its own).
func (c *Client) EnsureScanned(ctx context.Context) (WalletScan, error) {
	none := WalletScan{From: -1}
	addr, info, st, err := c.seedMark(ctx)
	switch {
	case err != nil || st.Scanning:
		return none, err
	case addr == "":
		return none, errors.New("the wallet has no HD seed to scan for")
	case st.Scanned:
		return WalletScan{Done: true, From: -1}, nil
	}
	from := int64(0)
	if info.Pruned {
		from = info.PruneHeight
	}
	if err := c.Call(ctx, "rescanblockchain", []any{from}, nil); err != nil {
		return none, fmt.Errorf("rescanblockchain from height %d: %w", from, err)
	}
	if err := c.Call(ctx, "setlabel", []any{addr, RescannedLabel}, nil); err != nil {
		return none, fmt.Errorf("setlabel: %w", err)
	}
	return WalletScan{Done: true, From: from}, nil
}
