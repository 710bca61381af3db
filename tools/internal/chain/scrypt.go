package chain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"math/bits"
	"sync"
)

// Litecoin's scrypt parameters: N=1024, r=1, p=1, a 32-byte result.
const (
	scryptN     = 1024
	scryptWords = 32 // one 128-byte block (r=1) as little-endian words
)

// scryptScratch is the 128 KiB table that scrypt's ROMix fills for every
// hash. golang.org/x/crypto/scrypt allocates it afresh each time, and the
// garbage collector's work for that was a measurable part of the stratum
// server's share check; a pool of tables makes a hash allocate almost
// nothing.
type scryptScratch struct {
	v [scryptN * scryptWords]uint32
	b [4 * sha256.Size]byte // PBKDF2 output: the 128-byte block
}

var scratchPool = sync.Pool{New: func() any { return new(scryptScratch) }}

// scryptHash computes scrypt(header, header, 1024, 1, 1, 32) as RFC 7914
// defines it, into out.
func scryptHash(header []byte, out *[32]byte) {
	s := scratchPool.Get().(*scryptScratch)
	defer scratchPool.Put(s)
	mac := hmac.New(sha256.New, header)

	// B = PBKDF2-HMAC-SHA256(P, S, 1, 128): four blocks of one round.
	for i := 0; i < 4; i++ {
		pbkdf2Block(mac, header, uint32(i+1), s.b[i*sha256.Size:i*sha256.Size])
	}
	var x [scryptWords]uint32
	for i := range x {
		x[i] = binary.LittleEndian.Uint32(s.b[4*i:])
	}
	// ROMix.
	for i := 0; i < scryptN; i++ {
		copy(s.v[i*scryptWords:], x[:])
		blockMix(&x)
	}
	for i := 0; i < scryptN; i++ {
		j := int(x[16] & (scryptN - 1))
		v := s.v[j*scryptWords : (j+1)*scryptWords]
		for k := range x {
			x[k] ^= v[k]
		}
		blockMix(&x)
	}
	for i, w := range x {
		binary.LittleEndian.PutUint32(s.b[4*i:], w)
	}
	// The result: PBKDF2-HMAC-SHA256(P, B', 1, 32).
	pbkdf2Block(mac, s.b[:], 1, out[:0])
}

// pbkdf2Block appends PBKDF2's block i with one iteration:
// HMAC(P, salt || INT(i)). mac is keyed with P.
func pbkdf2Block(mac hash.Hash, salt []byte, i uint32, dst []byte) {
	mac.Reset()
	mac.Write(salt)
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], i)
	mac.Write(n[:])
	mac.Sum(dst)
}

// blockMix is scrypt's BlockMix with r=1: two Salsa20/8 rounds over the
// block's halves.
func blockMix(b *[scryptWords]uint32) {
	var t [16]uint32
	for i := 0; i < 16; i++ {
		t[i] = b[16+i] ^ b[i]
	}
	salsa208(&t)
	y0 := t
	for i := 0; i < 16; i++ {
		t[i] ^= b[16+i]
	}
	salsa208(&t)
	copy(b[:16], y0[:])
	copy(b[16:], t[:])
}

// salsa208 is the Salsa20/8 core, in place.
func salsa208(b *[16]uint32) {
	x0, x1, x2, x3, x4, x5, x6, x7 := b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]
	x8, x9, x10, x11, x12, x13, x14, x15 := b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
	for i := 0; i < 8; i += 2 {
		// Columns.
		x4 ^= bits.RotateLeft32(x0+x12, 7)
		x8 ^= bits.RotateLeft32(x4+x0, 9)
		x12 ^= bits.RotateLeft32(x8+x4, 13)
		x0 ^= bits.RotateLeft32(x12+x8, 18)
		x9 ^= bits.RotateLeft32(x5+x1, 7)
		x13 ^= bits.RotateLeft32(x9+x5, 9)
		x1 ^= bits.RotateLeft32(x13+x9, 13)
		x5 ^= bits.RotateLeft32(x1+x13, 18)
		x14 ^= bits.RotateLeft32(x10+x6, 7)
		x2 ^= bits.RotateLeft32(x14+x10, 9)
		x6 ^= bits.RotateLeft32(x2+x14, 13)
		x10 ^= bits.RotateLeft32(x6+x2, 18)
		x3 ^= bits.RotateLeft32(x15+x11, 7)
		x7 ^= bits.RotateLeft32(x3+x15, 9)
		x11 ^= bits.RotateLeft32(x7+x3, 13)
		x15 ^= bits.RotateLeft32(x11+x7, 18)
		// Rows.
		x1 ^= bits.RotateLeft32(x0+x3, 7)
		x2 ^= bits.RotateLeft32(x1+x0, 9)
		x3 ^= bits.RotateLeft32(x2+x1, 13)
		x0 ^= bits.RotateLeft32(x3+x2, 18)
		x6 ^= bits.RotateLeft32(x5+x4, 7)
		x7 ^= bits.RotateLeft32(x6+x5, 9)
		x4 ^= bits.RotateLeft32(x7+x6, 13)
		x5 ^= bits.RotateLeft32(x4+x7, 18)
		x11 ^= bits.RotateLeft32(x10+x9, 7)
		x8 ^= bits.RotateLeft32(x11+x10, 9)
		x9 ^= bits.RotateLeft32(x8+x11, 13)
		x10 ^= bits.RotateLeft32(x9+x8, 18)
		x12 ^= bits.RotateLeft32(x15+x14, 7)
		x13 ^= bits.RotateLeft32(x12+x15, 9)
		x14 ^= bits.RotateLeft32(x13+x12, 13)
		x15 ^= bits.RotateLeft32(x14+x13, 18)
	}
	b[0] += x0
	b[1] += x1
	b[2] += x2
	b[3] += x3
	b[4] += x4
	b[5] += x5
	b[6] += x6
	b[7] += x7
	b[8] += x8
	b[9] += x9
	b[10] += x10
	b[11] += x11
	b[12] += x12
	b[13] += x13
	b[14] += x14
	b[15] += x15
}
