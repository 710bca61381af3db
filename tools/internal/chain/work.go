package chain

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
)

// Work is one stratum v1 job built from a template: what miners get
// (coinbase halves, merkle branch, header fields) and what turns a
// solved header back into a block. Once built it is only read, so share
// checks on many connections may use it at once.
type Work struct {
	Height   int64
	PrevHash [32]byte // internal byte order, as in the header
	Version  uint32
	Bits     uint32
	CurTime  uint32
	MinTime  uint32
	// Target is the network target: a header whose ScryptHash meets it
	// is a block.
	Target        *big.Int
	CoinbaseValue int64

	// Coinb1 and Coinb2 are the coinbase transaction, non-witness
	// serialization (what its txid and so the merkle root commit to),
	// split where ExtranonceSize bytes of extranonce1||extranonce2 go.
	Coinb1, Coinb2 []byte
	ExtranonceSize int
	// MerkleBranch folds the coinbase's txid into the merkle root
	// (internal byte order): root = sha256d(root || branch[i]).
	MerkleBranch [][]byte

	txs         [][]byte // the template's transactions, serialized
	hasWitness  bool     // a witness commitment is in the coinbase
	mweb        []byte   // the MWEB extension block, nil before MWEB
	coinbaseVer uint32
}

// Limits of a coinbase scriptSig (consensus: bad-cb-length).
const (
	minScriptSig = 2
	maxScriptSig = 100
)

// coinbaseVersion is what Litecoin Core's own block assembler uses.
const coinbaseVersion = 2

// NewWork builds a job from t paying the whole coinbase value to
// payoutScript. The coinbase scriptSig is the BIP 34 height, then tag (a
// pool's signature, may be empty), then extranonceSize bytes of
// extranonce, each a data push so that explorers can read it.
func NewWork(t *Template, payoutScript []byte, coinbaseTag []byte, extranonceSize int) (*Work, error) {
	if t == nil {
		return nil, errors.New("new work: no template")
	}
	if len(payoutScript) == 0 {
		return nil, errors.New("new work: empty payout script")
	}
	if extranonceSize < 1 || extranonceSize > 75 {
		return nil, fmt.Errorf("new work: extranonce size %d out of range 1..75", extranonceSize)
	}
	w := &Work{
		Height:         t.Height,
		Version:        uint32(t.Version),
		CurTime:        uint32(t.CurTime),
		MinTime:        uint32(t.MinTime),
		CoinbaseValue:  t.CoinbaseValue,
		ExtranonceSize: extranonceSize,
		coinbaseVer:    coinbaseVersion,
	}
	if err := decodeHash(t.PreviousBlockHash, &w.PrevHash); err != nil {
		return nil, fmt.Errorf("new work: previous block hash: %w", err)
	}
	bits, err := ParseHexUint32(t.Bits)
	if err != nil {
		return nil, fmt.Errorf("new work: bits: %w", err)
	}
	w.Bits = bits
	w.Target = CompactToTarget(bits)
	if t.Target != "" {
		target, ok := new(big.Int).SetString(t.Target, 16)
		if !ok {
			return nil, fmt.Errorf("new work: target %q is not hex", t.Target)
		}
		w.Target = target
	}

	txids := make([][]byte, 0, len(t.Transactions))
	for i, tx := range t.Transactions {
		data, err := hex.DecodeString(tx.Data)
		if err != nil {
			return nil, fmt.Errorf("new work: transaction %d data: %w", i, err)
		}
		var id [32]byte
		if err := decodeHash(tx.TxID, &id); err != nil {
			return nil, fmt.Errorf("new work: transaction %d txid: %w", i, err)
		}
		w.txs = append(w.txs, data)
		txids = append(txids, id[:])
	}
	w.MerkleBranch = merkleBranch(txids)

	var commitment []byte
	if t.DefaultWitnessCommitment != "" {
		commitment, err = hex.DecodeString(t.DefaultWitnessCommitment)
		if err != nil {
			return nil, fmt.Errorf("new work: witness commitment: %w", err)
		}
		w.hasWitness = true
	}
	if t.MWEB != "" {
		w.mweb, err = hex.DecodeString(t.MWEB)
		if err != nil {
			return nil, fmt.Errorf("new work: mweb: %w", err)
		}
		if len(w.txs) == 0 {
			// The daemon reads the MWEB block only after a HogEx, which
			// the template lists last.
			return nil, errors.New("new work: template has an MWEB block but no HogEx transaction")
		}
	}

	prefix := appendHeightPush(nil, t.Height)
	if len(coinbaseTag) > 0 {
		prefix = appendPush(prefix, coinbaseTag)
	}
	prefix = appendPushOp(prefix, extranonceSize)
	scriptLen := len(prefix) + extranonceSize
	if scriptLen < minScriptSig || scriptLen > maxScriptSig {
		return nil, fmt.Errorf("new work: coinbase scriptSig of %d bytes (height, %d-byte tag, %d-byte extranonce) must be %d to %d",
			scriptLen, len(coinbaseTag), extranonceSize, minScriptSig, maxScriptSig)
	}

	c1 := binary.LittleEndian.AppendUint32(nil, w.coinbaseVer)
	c1 = append(c1, 1)                      // one input
	c1 = append(c1, make([]byte, 32)...)    // null prevout hash
	c1 = append(c1, 0xff, 0xff, 0xff, 0xff) // and index
	c1 = appendVarInt(c1, uint64(scriptLen))
	c1 = append(c1, prefix...)

	c2 := []byte{0xff, 0xff, 0xff, 0xff} // sequence
	outputs := 1
	if commitment != nil {
		outputs++
	}
	c2 = appendVarInt(c2, uint64(outputs))
	c2 = appendOutput(c2, t.CoinbaseValue, payoutScript)
	if commitment != nil {
		c2 = appendOutput(c2, 0, commitment)
	}
	c2 = append(c2, 0, 0, 0, 0) // lock time
	w.Coinb1, w.Coinb2 = c1, c2
	return w, nil
}

// appendHeightPush encodes height as Core's BIP 34 check expects, the
// script `CScript() << nHeight`: OP_0 or OP_1..OP_16 for small heights,
// otherwise a minimal little-endian CScriptNum push.
func appendHeightPush(dst []byte, height int64) []byte {
	switch {
	case height == 0:
		return append(dst, 0x00)
	case height >= 1 && height <= 16:
		return append(dst, byte(0x50+height))
	}
	return appendPush(dst, scriptNum(height))
}

// scriptNum is CScriptNum's serialization: little-endian magnitude, the
// top bit of the last byte the sign.
func scriptNum(n int64) []byte {
	neg := n < 0
	abs := uint64(n)
	if neg {
		abs = uint64(-n)
	}
	var out []byte
	for abs > 0 {
		out = append(out, byte(abs))
		abs >>= 8
	}
	if len(out) == 0 {
		return nil
	}
	switch {
	case out[len(out)-1]&0x80 != 0 && neg:
		out = append(out, 0x80)
	case out[len(out)-1]&0x80 != 0:
		out = append(out, 0x00)
	case neg:
		out[len(out)-1] |= 0x80
	}
	return out
}

// appendPush appends a minimal data push of data.
func appendPush(dst, data []byte) []byte {
	return append(appendPushOp(dst, len(data)), data...)
}

func appendPushOp(dst []byte, n int) []byte {
	switch {
	case n <= 75:
		return append(dst, byte(n))
	case n <= 0xff:
		return append(dst, 0x4c, byte(n)) // OP_PUSHDATA1
	default:
		return binary.LittleEndian.AppendUint16(append(dst, 0x4d), uint16(n)) // OP_PUSHDATA2
	}
}

func appendOutput(dst []byte, value int64, script []byte) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(value))
	dst = appendVarInt(dst, uint64(len(script)))
	return append(dst, script...)
}

// appendVarInt appends Bitcoin's CompactSize.
func appendVarInt(dst []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(dst, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(dst, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(dst, 0xfe), uint32(n))
	}
	return binary.LittleEndian.AppendUint64(append(dst, 0xff), n)
}

// decodeHash reads a display-order hex hash into internal byte order.
func decodeHash(s string, dst *[32]byte) error {
	if len(s) != 64 {
		return fmt.Errorf("%q is not a 32-byte hex hash", s)
	}
	if _, err := hex.Decode(dst[:], []byte(s)); err != nil {
		return fmt.Errorf("%q: %w", s, err)
	}
	reverse(dst[:])
	return nil
}

// merkleBranch is the stratum merkle branch for a coinbase at index 0 of
// a block whose other transactions have txids (internal order): at each
// level, the sibling of the coinbase's path.
func merkleBranch(txids [][]byte) [][]byte {
	var branch [][]byte
	level := txids // the level without its first (coinbase-path) node
	for len(level) > 0 {
		branch = append(branch, level[0])
		// Pair the nodes after the sibling; an odd last node pairs with
		// itself, as in Core's merkle tree.
		rest := level[1:]
		next := make([][]byte, 0, (len(rest)+1)/2)
		for i := 0; i < len(rest); i += 2 {
			j := i + 1
			if j == len(rest) {
				j = i
			}
			var buf [64]byte
			copy(buf[:32], rest[i])
			copy(buf[32:], rest[j])
			h := sha256d(buf[:])
			next = append(next, h[:])
		}
		level = next
	}
	return branch
}

// StratumPrevHash is the previous block hash as mining.notify sends it:
// the internal byte order with each 4-byte word byte-reversed, in hex.
// Miners undo the word swap; this is what cpuminer and cgminer expect.
func StratumPrevHash(w *Work) string {
	var b [32]byte
	for i := 0; i < 32; i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = w.PrevHash[i+3], w.PrevHash[i+2], w.PrevHash[i+1], w.PrevHash[i]
	}
	return hex.EncodeToString(b[:])
}

// StratumMerkleBranch is the merkle branch as mining.notify sends it.
func (w *Work) StratumMerkleBranch() []string {
	out := make([]string, len(w.MerkleBranch))
	for i, h := range w.MerkleBranch {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// HexUint32 is how stratum sends version, nbits and ntime, and miners send
// ntime and nonce: the number big-endian, 8 hex digits ("20000000").
func HexUint32(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return hex.EncodeToString(b[:])
}

// ParseHexUint32 reads a HexUint32: exactly 8 hex digits.
func ParseHexUint32(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("%q is not 8 hex digits", s)
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not 8 hex digits", s)
	}
	return uint32(v), nil
}
