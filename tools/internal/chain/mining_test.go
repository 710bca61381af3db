package chain_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
)

// verboseBlock is the part of getblock (verbosity 2) these tests read.
type verboseBlock struct {
	Hash   string `json:"hash"`
	Height int64  `json:"height"`
	Tx     []struct {
		TxID string `json:"txid"`
		Vin  []struct {
			Coinbase string `json:"coinbase"`
		} `json:"vin"`
		Vout []struct {
			Value        float64 `json:"value"`
			ScriptPubKey struct {
				Hex string `json:"hex"`
			} `json:"scriptPubKey"`
		} `json:"vout"`
	} `json:"tx"`
}

// solved is a block mined through Work, as a stratum server would: a
// template, a job, a header searched over nonces, the assembled block.
type solved struct {
	template   *chain.Template
	work       *chain.Work
	extranonce []byte
	header     []byte
	block      []byte
}

func (s *solved) hex() string { return hex.EncodeToString(s.block) }

// solve builds work from the daemon's template and searches nonces until
// the scrypt hash meets the network target (or, with miss, until it does
// not: a header that is no block).
func solve(t *testing.T, ctx context.Context, c *chain.Client, script, tag []byte, edit func(*chain.Template), miss bool) *solved {
	t.Helper()
	tmpl, err := c.BlockTemplate(ctx, "")
	require.NoError(t, err)
	if edit != nil {
		edit(tmpl)
	}
	w, err := chain.NewWork(tmpl, script, tag, 8)
	require.NoError(t, err)
	// extranonce1 (the server's, per connection) || extranonce2 (the
	// miner's), as stratum fills them.
	en := []byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0, byte(tmpl.Height)}
	for nonce := uint32(0); ; nonce++ {
		require.Less(t, nonce, uint32(10000), "no nonce found")
		header := w.Header(en, w.CurTime, nonce, w.Version)
		if chain.MeetsTarget(chain.ScryptHash(header), w.Target) != miss {
			block, err := w.Block(en, header)
			require.NoError(t, err)
			return &solved{template: tmpl, work: w, extranonce: en, header: header, block: block}
		}
	}
}

// mineOne solves a block and requires the daemon to accept it and the
// peer to follow.
func mineOne(t *testing.T, ctx context.Context, a, b *chain.Client, script, tag []byte) (*solved, verboseBlock) {
	t.Helper()
	s := solve(t, ctx, a, script, tag, nil, false)
	require.NoError(t, a.SubmitBlock(ctx, s.hex()), "height %d", s.template.Height)
	hash := chain.BlockHash(s.header)
	best, err := a.BestBlockHash(ctx)
	require.NoError(t, err)
	require.Equal(t, hash, best)
	waitTip(t, ctx, b, hash)

	var blk verboseBlock
	require.NoError(t, a.Call(ctx, "getblock", []any{hash, 2}, &blk))
	require.Equal(t, s.template.Height, blk.Height)
	require.Len(t, blk.Tx, 1+len(s.template.Transactions))
	cb := blk.Tx[0]
	assert.Equal(t, s.work.CoinbaseTxID(s.extranonce), cb.TxID)
	assert.Equal(t, hex.EncodeToString(script), cb.Vout[0].ScriptPubKey.Hex)
	assert.Equal(t, s.template.CoinbaseValue, int64(math.Round(cb.Vout[0].Value*1e8)))
	assert.Contains(t, cb.Vin[0].Coinbase, hex.EncodeToString(tag)+"08"+hex.EncodeToString(s.extranonce))
	for i, tx := range s.template.Transactions {
		assert.Equal(t, tx.TxID, blk.Tx[i+1].TxID)
	}
	return s, blk
}

func waitTip(t *testing.T, ctx context.Context, c *chain.Client, hash string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		best, err := c.BestBlockHash(ctx)
		require.NoError(t, err)
		if best == hash {
			return
		}
		require.True(t, time.Now().Before(deadline), "peer stuck at %s, want %s", best, hash)
		time.Sleep(50 * time.Millisecond)
	}
}

func newAddress(t *testing.T, ctx context.Context, c *chain.Client, kind string) string {
	t.Helper()
	var addr string
	require.NoError(t, c.Call(ctx, "getnewaddress", []any{"", kind}, &addr))
	return addr
}

func generateTo(t *testing.T, ctx context.Context, c *chain.Client, height int64, addr string) {
	t.Helper()
	n, err := c.BlockCount(ctx)
	require.NoError(t, err)
	require.LessOrEqual(t, n, height)
	for n < height {
		batch := min(height-n, 100)
		_, err := c.GenerateToAddress(ctx, int(batch), addr)
		require.NoError(t, err)
		n += batch
	}
}

// Two peered regtest daemons, since getblocktemplate wants a peer. Blocks
// built by NewWork/Header/Block are submitted to one and must reach the
// other: at low heights (BIP 34 height as OP_N), with a wallet
// transaction (witness commitment), through MWEB activation (the HogEx
// and the extension block), and past BIP 34's enforcement.
func TestMiningAgainstLitecoind(t *testing.T) {
	testenv.Integration(t)
	la, lb := testenv.StartLitecoind(t), testenv.StartLitecoind(t)
	a, b := la.Client(), lb.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	la.ConnectTo(t, lb)

	scripts := map[string][]byte{}
	t.Run("addresses", func(t *testing.T) {
		for _, kind := range []string{"legacy", "p2sh-segwit", "bech32"} {
			addr := newAddress(t, ctx, a, kind)
			script, err := chain.OutputScript(addr, "regtest")
			require.NoError(t, err, kind)
			var info struct {
				ScriptPubKey string `json:"scriptPubKey"`
			}
			require.NoError(t, a.Call(ctx, "getaddressinfo", []any{addr}, &info))
			assert.Equal(t, info.ScriptPubKey, hex.EncodeToString(script), "%s %s", kind, addr)
			var valid struct {
				IsValid      bool   `json:"isvalid"`
				ScriptPubKey string `json:"scriptPubKey"`
			}
			require.NoError(t, a.Call(ctx, "validateaddress", []any{addr}, &valid))
			assert.True(t, valid.IsValid)
			assert.Equal(t, valid.ScriptPubKey, hex.EncodeToString(script))
			_, err = chain.OutputScript(addr, "mainnet")
			assert.Error(t, err, "a regtest address is not for mainnet")
			scripts[kind] = script
		}
		_, err := chain.OutputScript(newAddress(t, ctx, a, "mweb"), "regtest")
		assert.ErrorContains(t, err, "MWEB address cannot receive a coinbase")
	})
	require.Len(t, scripts, 3)
	kinds := []string{"legacy", "p2sh-segwit", "bech32"}
	tag := []byte("/scryptpool/")

	t.Run("low heights", func(t *testing.T) {
		for h := int64(1); h <= 17; h++ {
			tg := tag
			if h%2 == 0 {
				tg = nil
			}
			s, blk := mineOne(t, ctx, a, b, scripts[kinds[h%3]], tg)
			coinbase := blk.Tx[0].Vin[0].Coinbase
			if h <= 16 {
				assert.Equal(t, hex.EncodeToString([]byte{byte(0x50 + h)}), coinbase[:2], "height %d is OP_%d", h, h)
			} else {
				assert.Equal(t, "0111", coinbase[:4])
			}
			assert.NotEmpty(t, s.template.DefaultWitnessCommitment)
		}
	})

	t.Run("rejections", func(t *testing.T) {
		bad := solve(t, ctx, a, scripts["bech32"], tag, nil, true)
		var rejected *chain.BlockRejected
		err := a.SubmitBlock(ctx, bad.hex())
		require.ErrorAs(t, err, &rejected)
		assert.Equal(t, "high-hash", rejected.Reason)

		good := solve(t, ctx, a, scripts["bech32"], tag, nil, false)
		// Another extranonce in the block than the header committed to.
		tampered := bytes.Clone(good.block)
		i := bytes.Index(tampered, good.extranonce)
		require.Positive(t, i)
		tampered[i] ^= 0xff
		err = a.SubmitBlock(ctx, hex.EncodeToString(tampered))
		require.ErrorAs(t, err, &rejected)
		assert.Equal(t, "bad-txnmrklroot", rejected.Reason)
		assert.False(t, chain.IsDuplicate(err))

		require.NoError(t, a.SubmitBlock(ctx, good.hex()))
		err = a.SubmitBlock(ctx, good.hex())
		assert.True(t, chain.IsDuplicate(err), "%v", err)
		waitTip(t, ctx, b, chain.BlockHash(good.header))

		err = a.SubmitBlock(ctx, "00")
		assert.Equal(t, -22, chain.CodeOf(err), "undecodable block: %v", err)
	})

	wallet := newAddress(t, ctx, a, "bech32")
	t.Run("wallet transaction", func(t *testing.T) {
		generateTo(t, ctx, a, 120, wallet) // coinbases mature after 100
		var txid string
		require.NoError(t, a.Call(ctx, "sendtoaddress", []any{newAddress(t, ctx, a, "bech32"), 1.5}, &txid))
		s, blk := mineOne(t, ctx, a, b, scripts["legacy"], tag)
		require.Len(t, blk.Tx, 2)
		assert.Equal(t, txid, blk.Tx[1].TxID)
		assert.Greater(t, s.template.Transactions[0].Fee, int64(0))
		assert.Equal(t, int64(50e8)+s.template.Transactions[0].Fee, s.template.CoinbaseValue)
	})

	t.Run("mweb", func(t *testing.T) {
		// MWEB is BIP 9 bit 4 on regtest, 144-block periods: started at
		// 144, locked in at 288, active from block 432.
		generateTo(t, ctx, a, 431, wallet)
		info, err := a.BlockchainInfo(ctx)
		require.NoError(t, err)
		require.Equal(t, int64(431), info.Blocks)
		// The first MWEB block needs a peg-in: its HogEx must spend
		// something, and there is no previous HogEx.
		var txid string
		require.NoError(t, a.Call(ctx, "sendtoaddress", []any{newAddress(t, ctx, a, "mweb"), 2}, &txid))

		// The HogEx is last, so the daemon reads an MWEB block after it:
		// without one, or without its presence byte, the block is
		// unreadable.
		s := solve(t, ctx, a, scripts["bech32"], tag, nil, false)
		require.NotEmpty(t, s.template.MWEB)
		mweb, err := hex.DecodeString(s.template.MWEB)
		require.NoError(t, err)
		require.True(t, bytes.HasSuffix(s.block, append([]byte{1}, mweb...)))
		bare := s.block[:len(s.block)-len(mweb)-1]
		err = a.SubmitBlock(ctx, hex.EncodeToString(bare))
		assert.Equal(t, -22, chain.CodeOf(err), "block without its MWEB part: %v", err)
		var rejected *chain.BlockRejected
		noMarker := append(bytes.Clone(bare), mweb...)
		require.ErrorAs(t, a.SubmitBlock(ctx, hex.EncodeToString(noMarker)), &rejected)
		assert.Equal(t, "mweb-missing", rejected.Reason, "MWEB part without the 0x01 marker")
		absent := append(bytes.Clone(bare), 0)
		require.ErrorAs(t, a.SubmitBlock(ctx, hex.EncodeToString(absent)), &rejected)
		assert.Equal(t, "mweb-missing", rejected.Reason, "MWEB part marked absent")

		for range 3 {
			s, blk := mineOne(t, ctx, a, b, scripts["p2sh-segwit"], tag)
			require.NotEmpty(t, s.template.MWEB, "height %d", s.template.Height)
			require.GreaterOrEqual(t, len(blk.Tx), 2, "coinbase and HogEx")
			require.NoError(t, a.Call(ctx, "sendtoaddress", []any{newAddress(t, ctx, a, "mweb"), 1}, &txid))
		}
		info, err = a.BlockchainInfo(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(434), info.Blocks)
		var forks struct {
			Softforks map[string]struct {
				Active bool  `json:"active"`
				Height int64 `json:"height"`
			} `json:"softforks"`
		}
		require.NoError(t, a.Call(ctx, "getblockchaininfo", nil, &forks))
		assert.True(t, forks.Softforks["mweb"].Active)
		assert.Equal(t, int64(432), forks.Softforks["mweb"].Height)
	})

	t.Run("bip34 enforced", func(t *testing.T) {
		generateTo(t, ctx, a, 499, wallet)
		wrong := solve(t, ctx, a, scripts["bech32"], tag, func(t *chain.Template) { t.Height++ }, false)
		var rejected *chain.BlockRejected
		require.ErrorAs(t, a.SubmitBlock(ctx, wrong.hex()), &rejected)
		assert.Equal(t, "bad-cb-height", rejected.Reason)
		s, blk := mineOne(t, ctx, a, b, scripts["bech32"], tag)
		assert.Equal(t, int64(500), s.template.Height)
		assert.True(t, strings.HasPrefix(blk.Tx[0].Vin[0].Coinbase, "02f401"), blk.Tx[0].Vin[0].Coinbase)
	})

	t.Run("longpoll", func(t *testing.T) {
		tmpl, err := a.BlockTemplate(ctx, "")
		require.NoError(t, err)
		require.NotEmpty(t, tmpl.LongPollID)
		got := make(chan *chain.Template, 1)
		go func() {
			next, err := a.BlockTemplate(ctx, tmpl.LongPollID)
			assert.NoError(t, err)
			got <- next
		}()
		select {
		case <-got:
			t.Fatal("a longpoll answered before anything changed")
		case <-time.After(500 * time.Millisecond):
		}
		hashes, err := b.GenerateToAddress(ctx, 1, wallet)
		require.NoError(t, err)
		select {
		case next := <-got:
			require.NotNil(t, next)
			assert.Equal(t, hashes[0], next.PreviousBlockHash)
			assert.Equal(t, tmpl.Height+1, next.Height)
		case <-time.After(30 * time.Second):
			t.Fatal("the longpoll did not answer a new block")
		}
	})
}

// The header's fields are where miners put them.
func TestHeaderLayout(t *testing.T) {
	w := regtestWork(t)
	en := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	h := w.Header(en, 0x11223344, 0x55667788, 0x20000000)
	require.Len(t, h, chain.HeaderSize)
	assert.Equal(t, uint32(0x20000000), binary.LittleEndian.Uint32(h[0:]))
	assert.Equal(t, w.PrevHash[:], h[4:36])
	assert.Equal(t, uint32(0x11223344), binary.LittleEndian.Uint32(h[68:]))
	assert.Equal(t, w.Bits, binary.LittleEndian.Uint32(h[72:]))
	assert.Equal(t, uint32(0x55667788), binary.LittleEndian.Uint32(h[76:]))
	assert.Nil(t, w.Header(en[:7], 0, 0, 0), "wrong extranonce size")
}
