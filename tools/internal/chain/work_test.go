package chain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// testdata/template-mweb.json is a real regtest getblocktemplate answer
// at height 432, MWEB's first block: a peg-in, the HogEx, the mweb field.
func regtestTemplate(t testing.TB) *chain.Template {
	data, err := os.ReadFile("testdata/template-mweb.json")
	require.NoError(t, err)
	var tmpl chain.Template
	require.NoError(t, json.Unmarshal(data, &tmpl))
	return &tmpl
}

var payout = mustHex("0014751e76e8199196d454941c45d1b3a323f1433bd6")

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func regtestWork(t testing.TB) *chain.Work {
	w, err := chain.NewWork(regtestTemplate(t), payout, []byte("/scryptpool/"), 8)
	require.NoError(t, err)
	return w
}

func sha256d(b []byte) []byte {
	h := sha256.Sum256(b)
	h = sha256.Sum256(h[:])
	return h[:]
}

// referenceMerkleRoot is the textbook tree over all txids.
func referenceMerkleRoot(ids [][]byte) []byte {
	for len(ids) > 1 {
		if len(ids)%2 == 1 {
			ids = append(ids, ids[len(ids)-1])
		}
		var next [][]byte
		for i := 0; i < len(ids); i += 2 {
			next = append(next, sha256d(append(bytes.Clone(ids[i]), ids[i+1]...)))
		}
		ids = next
	}
	return ids[0]
}

func TestMerkleBranchFoldsToTheRoot(t *testing.T) {
	for n := 0; n <= 9; n++ {
		tmpl := regtestTemplate(t)
		tmpl.MWEB = ""
		tmpl.Transactions = nil
		for i := 0; i < n; i++ {
			id := sha256d([]byte{byte(i)})
			display := bytes.Clone(id)
			for a, b := 0, len(display)-1; a < b; a, b = a+1, b-1 {
				display[a], display[b] = display[b], display[a]
			}
			tmpl.Transactions = append(tmpl.Transactions, chain.TemplateTx{Data: "00", TxID: hex.EncodeToString(display)})
		}
		w, err := chain.NewWork(tmpl, payout, nil, 8)
		require.NoError(t, err)
		en := []byte{9, 9, 9, 9, 9, 9, 9, 9}
		ids := [][]byte{sha256d(w.Coinbase(en))}
		for i := 0; i < n; i++ {
			ids = append(ids, sha256d([]byte{byte(i)}))
		}
		header := w.Header(en, 0, 0, 0)
		assert.Equal(t, referenceMerkleRoot(ids), header[36:68], "%d transactions", n)
		assert.Len(t, w.MerkleBranch, bitsFor(n+1), "%d transactions", n)
		assert.Len(t, w.StratumMerkleBranch(), len(w.MerkleBranch))
	}
}

// bitsFor is the merkle tree's depth for n leaves.
func bitsFor(n int) int {
	d := 0
	for (1 << d) < n {
		d++
	}
	return d
}

func TestStratumEncodings(t *testing.T) {
	w := regtestWork(t)
	// previousblockhash 7aff6472...0b74 (display) is 740b539a... internally;
	// stratum swaps each 4-byte word of the internal order.
	assert.Equal(t, "7aff647275ec60f9f3f6d958f73324e1a1336e02e158ea2cf8ef069e9a530b74", regtestTemplate(t).PreviousBlockHash)
	assert.Equal(t, "9a530b74f8ef069ee158ea2ca1336e02f73324e1f3f6d95875ec60f97aff6472", chain.StratumPrevHash(w))
	assert.Equal(t, "20000000", chain.HexUint32(w.Version))
	assert.Equal(t, "207fffff", chain.HexUint32(w.Bits))
	assert.Equal(t, "6b0655c0", chain.HexUint32(0x6b0655c0))
	for _, s := range []string{"", "0000000", "000000000", "zzzzzzzz", "-0000001"} {
		_, err := chain.ParseHexUint32(s)
		assert.Error(t, err, s)
	}
	v, err := chain.ParseHexUint32("DEADbeef")
	require.NoError(t, err)
	assert.Equal(t, uint32(0xdeadbeef), v)
}

// The coinbase scriptSig starts with the height as Core's BIP 34 check
// builds it, `CScript() << nHeight`.
func TestCoinbaseHeight(t *testing.T) {
	cases := []struct {
		height int64
		push   string
	}{
		{1, "51"}, {2, "52"}, {16, "60"}, {17, "0111"}, {127, "017f"}, {128, "028000"},
		{255, "02ff00"}, {256, "020001"}, {500, "02f401"}, {32767, "02ff7f"}, {32768, "03008000"},
		{2500000, "03a02526"}, {8388608, "0400008000"},
	}
	for _, tc := range cases {
		tmpl := regtestTemplate(t)
		tmpl.Height = tc.height
		w, err := chain.NewWork(tmpl, payout, nil, 8)
		require.NoError(t, err)
		// version, input count, null prevout, scriptSig length, then the push.
		script := w.Coinb1[4+1+36+1:]
		assert.Equal(t, tc.push+"08", hex.EncodeToString(script), "height %d", tc.height)
	}
}

func TestNewWorkRefuses(t *testing.T) {
	cases := []struct {
		name string
		edit func(*chain.Template)
		tag  []byte
		size int
		want string
	}{
		{"invalid-extranonce-size", nil, nil, 0, "extranonce size 0"},
		{"invalid-long-tag", nil, bytes.Repeat([]byte{'x'}, 90), 8, "coinbase scriptSig of 104 bytes"},
		{"invalid-prevhash", func(t *chain.Template) { t.PreviousBlockHash = "00" }, nil, 8, "previous block hash"},
		{"invalid-bits", func(t *chain.Template) { t.Bits = "xyz" }, nil, 8, "bits"},
		{"invalid-tx-data", func(t *chain.Template) { t.Transactions[0].Data = "0g" }, nil, 8, "transaction 0 data"},
		{"invalid-commitment", func(t *chain.Template) { t.DefaultWitnessCommitment = "zz" }, nil, 8, "witness commitment"},
		{"invalid-mweb-without-hogex", func(t *chain.Template) { t.Transactions = nil }, nil, 8, "no HogEx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := regtestTemplate(t)
			if tc.edit != nil {
				tc.edit(tmpl)
			}
			_, err := chain.NewWork(tmpl, payout, tc.tag, tc.size)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := chain.NewWork(regtestTemplate(t), nil, nil, 8)
	assert.ErrorContains(t, err, "empty payout script")
	// The largest tag that fits: 100 = height push (3) + tag push
	// (OP_PUSHDATA1, length, 86 bytes) + extranonce push (1+8).
	_, err = chain.NewWork(regtestTemplate(t), payout, bytes.Repeat([]byte{'x'}, 86), 8)
	assert.NoError(t, err)
}

func TestBlockSerialization(t *testing.T) {
	tmpl := regtestTemplate(t)
	w := regtestWork(t)
	en := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	header := w.Header(en, w.CurTime, 42, w.Version)
	block, err := w.Block(en, header)
	require.NoError(t, err)

	r := bytes.NewReader(block)
	next := func(n int) []byte {
		b := make([]byte, n)
		_, err := r.Read(b)
		require.NoError(t, err)
		return b
	}
	assert.Equal(t, header, next(80))
	assert.Equal(t, []byte{byte(1 + len(tmpl.Transactions))}, next(1))
	// Coinbase in witness form: version, marker and flag, the rest, a
	// witness of one 32-byte zero item, lock time.
	cb := w.Coinbase(en)
	assert.Equal(t, cb[:4], next(4))
	assert.Equal(t, []byte{0, 1}, next(2))
	assert.Equal(t, cb[4:len(cb)-4], next(len(cb)-8))
	assert.Equal(t, append([]byte{1, 32}, make([]byte, 32)...), next(34))
	assert.Equal(t, []byte{0, 0, 0, 0}, next(4))
	for _, tx := range tmpl.Transactions {
		assert.Equal(t, tx.Data, hex.EncodeToString(next(len(tx.Data)/2)))
	}
	// Then MWEB::Block, an optional pointer: 0x01, the block.
	assert.Equal(t, []byte{1}, next(1))
	assert.Equal(t, tmpl.MWEB, hex.EncodeToString(next(len(tmpl.MWEB)/2)))
	assert.Zero(t, r.Len())

	// The coinbase's witness commitment output is the template's.
	assert.True(t, bytes.Contains(w.Coinb2, mustHex(tmpl.DefaultWitnessCommitment)))

	other := bytes.Clone(header)
	other[40] ^= 1
	_, err = w.Block(en, other)
	assert.ErrorContains(t, err, "merkle root")
	_, err = w.Block(en[:4], header)
	assert.ErrorContains(t, err, "extranonce of 4 bytes")
	_, err = w.Block(en, header[:79])
	assert.ErrorContains(t, err, "header of 79 bytes")

	// Before segwit and MWEB: the plain coinbase, nothing after the
	// transactions.
	tmpl.DefaultWitnessCommitment, tmpl.MWEB, tmpl.Transactions = "", "", nil
	plain, err := chain.NewWork(tmpl, payout, nil, 8)
	require.NoError(t, err)
	header = plain.Header(en, 0, 0, 1)
	block, err = plain.Block(en, header)
	require.NoError(t, err)
	assert.Equal(t, append(append(bytes.Clone(header), 1), plain.Coinbase(en)...), block)
}

func BenchmarkHeaderAndScrypt(b *testing.B) {
	w := regtestWork(b)
	en := make([]byte, 8)
	buf := make([]byte, 0, chain.HeaderSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		header := w.AppendHeader(buf[:0], en, w.CurTime, uint32(i), w.Version)
		_ = chain.MeetsTarget(chain.ScryptHash(header), w.Target)
	}
}

func BenchmarkHeader(b *testing.B) {
	w := regtestWork(b)
	en := make([]byte, 8)
	buf := make([]byte, 0, chain.HeaderSize)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = w.AppendHeader(buf[:0], en, w.CurTime, uint32(i), w.Version)
	}
}
