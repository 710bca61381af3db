package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/stratum"
)

const (
	// payoutAddress is a regtest address the server accepts as a worker.
	payoutAddress = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"
	// hardBits keeps blocks practically impossible: shares only.
	hardBits = "1d00ffff"
	// shareDifficulty is low enough that nearly every hash is a share,
	// so pre-solving costs about one hash per share; the server's check
	// costs one scrypt whatever the difficulty.
	shareDifficulty = 1.0 / 65536
)

// benchWork is the work for block n: a fresh previous-block hash each n,
// built the same way in the server and in the miners.
func benchWork(n int) (*chain.Work, error) {
	prev := sha256.Sum256([]byte(fmt.Sprintf("bench-stratum tip %d", n)))
	bits, err := chain.ParseHexUint32(hardBits)
	if err != nil {
		return nil, err
	}
	t := &chain.Template{
		Version: 0x20000000, PreviousBlockHash: hex.EncodeToString(prev[:]), CoinbaseValue: 50_0000_0000,
		MinTime: 1_700_000_000, CurTime: 1_700_000_100, Bits: hardBits, Height: int64(200 + n),
		Target: fmt.Sprintf("%064x", chain.CompactToTarget(bits)),
	}
	script, err := chain.OutputScript(payoutAddress, "regtest")
	if err != nil {
		return nil, err
	}
	w, err := chain.NewWork(t, script, []byte("/bench/"), stratum.ExtranonceSize)
	if err != nil {
		return nil, fmt.Errorf("build work %d: %w", n, err)
	}
	return w, nil
}
