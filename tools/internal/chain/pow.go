package chain

import (
	"encoding/hex"
	"math"
	"math/big"
)

// DiffOneTarget is the target of share difficulty 1 for scrypt as
// cpuminer, cgminer and the pools they talk to reckon it: 2^16 times
// Bitcoin's difficulty-1 target 0xffff<<208, so that a scrypt miner's
// "difficulty 1" is 65536 times easier than sha256d's.
var DiffOneTarget = new(big.Int).Lsh(big.NewInt(0xffff), 224)

// maxTarget is the largest 256-bit number: every hash meets it.
var maxTarget = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// ScryptHash is Litecoin's proof-of-work hash of an 80-byte header:
// scrypt with N=1024, r=1, p=1, the header as both password and salt.
// Compare it with HashValue, as a little-endian number.
func ScryptHash(header []byte) []byte {
	var h [32]byte
	scryptHash(header, &h)
	return h[:]
}

// HashValue reads a hash (scrypt or sha256d, internal byte order) as the
// little-endian 256-bit number that targets are compared with.
func HashValue(hash []byte) *big.Int {
	var be [32]byte
	n := len(hash)
	if n > 32 {
		n = 32
	}
	for i := 0; i < n; i++ {
		be[31-i] = hash[i]
	}
	return new(big.Int).SetBytes(be[:])
}

// MeetsTarget reports whether hash, read as HashValue, is at most target.
func MeetsTarget(hash []byte, target *big.Int) bool {
	return HashValue(hash).Cmp(target) <= 0
}

// TargetForDifficulty is the share target of difficulty diff:
// DiffOneTarget/diff. Vardiff hands out fractional difficulties, hence the
// float. A difficulty that is not a positive number, or so small that
// the target would not fit 256 bits, gives the largest target.
func TargetForDifficulty(diff float64) *big.Int {
	if !(diff > 0) { // also NaN
		return new(big.Int).Set(maxTarget)
	}
	if math.IsInf(diff, 1) {
		return big.NewInt(0)
	}
	q := new(big.Float).SetPrec(320).SetInt(DiffOneTarget)
	q.Quo(q, new(big.Float).SetPrec(320).SetFloat64(diff))
	t, _ := q.Int(nil)
	if t.Cmp(maxTarget) > 0 {
		return new(big.Int).Set(maxTarget)
	}
	return t
}

// DifficultyOf is the share difficulty a hash reaches: DiffOneTarget
// divided by its value. A miner's share counts when this is at least the
// difficulty it was given.
func DifficultyOf(hash []byte) float64 {
	v := HashValue(hash)
	if v.Sign() == 0 {
		return math.Inf(1)
	}
	d, _ := new(big.Rat).SetFrac(DiffOneTarget, v).Float64()
	return d
}

// TargetDifficulty is the difficulty of a target, the inverse of
// TargetForDifficulty (the network difficulty when given a block target).
func TargetDifficulty(target *big.Int) float64 {
	if target.Sign() <= 0 {
		return math.Inf(1)
	}
	d, _ := new(big.Rat).SetFrac(DiffOneTarget, target).Float64()
	return d
}

// CompactToTarget expands a header's nBits. A negative or overflowing
// encoding, which no valid block carries, gives zero: no hash meets it.
func CompactToTarget(bits uint32) *big.Int {
	exp := uint(bits >> 24)
	mant := int64(bits & 0x007fffff)
	if bits&0x00800000 != 0 && mant != 0 {
		return big.NewInt(0)
	}
	t := big.NewInt(mant)
	if exp <= 3 {
		t.Rsh(t, 8*(3-exp))
	} else {
		t.Lsh(t, 8*(exp-3))
	}
	if t.BitLen() > 256 {
		return big.NewInt(0)
	}
	return t
}

// BlockHash is a header's identity as daemons and explorers show it:
// sha256d, hex in reversed byte order. (The scrypt hash is only its
// proof of work.)
func BlockHash(header []byte) string {
	h := sha256d(header)
	reverse(h[:])
	return hex.EncodeToString(h[:])
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}
