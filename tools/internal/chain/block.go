package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
)

// HeaderSize is the length of a serialized block header.
const HeaderSize = 80

// coinbaseBufSize covers a usual coinbase, so that hashing it for each
// share does not allocate.
const coinbaseBufSize = 512

// Header is the 80-byte header a miner hashed for this work with the
// given extranonce (extranonce1||extranonce2, ExtranonceSize bytes),
// ntime, nonce and version (as numbers: parse the miner's hex with
// ParseHexUint32). It is nil when the extranonce has the wrong size.
func (w *Work) Header(extranonce []byte, ntime, nonce, version uint32) []byte {
	if len(extranonce) != w.ExtranonceSize {
		return nil
	}
	return w.AppendHeader(make([]byte, 0, HeaderSize), extranonce, ntime, nonce, version)
}

// AppendHeader is Header appending to dst: with a reused buffer, checking
// a share allocates nothing apart from the scrypt itself. It returns dst
// unchanged when the extranonce has the wrong size.
func (w *Work) AppendHeader(dst []byte, extranonce []byte, ntime, nonce, version uint32) []byte {
	if len(extranonce) != w.ExtranonceSize {
		return dst
	}
	root := w.merkleRoot(extranonce)
	dst = binary.LittleEndian.AppendUint32(dst, version)
	dst = append(dst, w.PrevHash[:]...)
	dst = append(dst, root[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, ntime)
	dst = binary.LittleEndian.AppendUint32(dst, w.Bits)
	return binary.LittleEndian.AppendUint32(dst, nonce)
}

// coinbaseHash is the coinbase's txid (internal order) for extranonce.
func (w *Work) coinbaseHash(extranonce []byte) [32]byte {
	var buf [coinbaseBufSize]byte
	cb := append(buf[:0], w.Coinb1...)
	cb = append(cb, extranonce...)
	cb = append(cb, w.Coinb2...)
	first := sha256.Sum256(cb)
	return sha256.Sum256(first[:])
}

func (w *Work) merkleRoot(extranonce []byte) [32]byte {
	root := w.coinbaseHash(extranonce)
	var pair [64]byte
	for _, h := range w.MerkleBranch {
		copy(pair[:32], root[:])
		copy(pair[32:], h)
		first := sha256.Sum256(pair[:])
		root = sha256.Sum256(first[:])
	}
	return root
}

// Coinbase is the coinbase transaction for extranonce, non-witness
// serialization.
func (w *Work) Coinbase(extranonce []byte) []byte {
	cb := make([]byte, 0, len(w.Coinb1)+len(extranonce)+len(w.Coinb2))
	cb = append(cb, w.Coinb1...)
	cb = append(cb, extranonce...)
	return append(cb, w.Coinb2...)
}

// CoinbaseTxID is the coinbase's txid for extranonce, display order: the
// transaction that pays the block's reward, for the ledger.
func (w *Work) CoinbaseTxID(extranonce []byte) string {
	h := w.coinbaseHash(extranonce)
	reverse(h[:])
	return hex.EncodeToString(h[:])
}

// Block is the block for a solved header of this work, serialized as
// submitblock takes it: header, transaction count, the coinbase (with
// its witness when the block commits to witnesses), the template's
// transactions, and the MWEB extension block when there is one.
func (w *Work) Block(extranonce []byte, header []byte) ([]byte, error) {
	if len(extranonce) != w.ExtranonceSize {
		return nil, fmt.Errorf("assemble block: extranonce of %d bytes, want %d", len(extranonce), w.ExtranonceSize)
	}
	if len(header) != HeaderSize {
		return nil, fmt.Errorf("assemble block: header of %d bytes, want %d", len(header), HeaderSize)
	}
	if !bytes.Equal(header[4:36], w.PrevHash[:]) {
		return nil, errors.New("assemble block: header builds on another block than this work")
	}
	root := w.merkleRoot(extranonce)
	if !bytes.Equal(header[36:68], root[:]) {
		return nil, errors.New("assemble block: header's merkle root does not match this work with this extranonce")
	}

	size := HeaderSize + 9 + len(w.Coinb1) + len(extranonce) + len(w.Coinb2) + 40 + len(w.mweb) + 1
	for _, tx := range w.txs {
		size += len(tx)
	}
	b := make([]byte, 0, size)
	b = append(b, header...)
	b = appendVarInt(b, uint64(1+len(w.txs)))
	b = w.appendCoinbase(b, extranonce)
	for _, tx := range w.txs {
		b = append(b, tx...)
	}
	if w.mweb != nil {
		// Litecoin's CBlock serializes the MWEB block after the
		// transactions when the last one is the HogEx, as an optional
		// pointer: 0x01 (present), then the block. The template's "mweb"
		// is the bare block, without that byte.
		b = append(b, 0x01)
		b = append(b, w.mweb...)
	}
	return b, nil
}

// appendCoinbase appends the coinbase as the block carries it. With a
// witness commitment, BIP 141 wants the coinbase's witness to be the
// 32-byte reserved value (zeros), which the commitment hashes with the
// witness merkle root; the txid, and so Coinb1/Coinb2, leave it out.
func (w *Work) appendCoinbase(dst, extranonce []byte) []byte {
	if !w.hasWitness {
		dst = append(dst, w.Coinb1...)
		dst = append(dst, extranonce...)
		return append(dst, w.Coinb2...)
	}
	dst = append(dst, w.Coinb1[:4]...) // version
	dst = append(dst, 0x00, 0x01)      // segwit marker and flag
	dst = append(dst, w.Coinb1[4:]...)
	dst = append(dst, extranonce...)
	dst = append(dst, w.Coinb2[:len(w.Coinb2)-4]...)
	dst = append(dst, 1, 32) // one witness item of 32 bytes
	dst = append(dst, make([]byte, 32)...)
	return append(dst, w.Coinb2[len(w.Coinb2)-4:]...) // lock time
}
