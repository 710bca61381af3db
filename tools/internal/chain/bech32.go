package chain

import (
	"errors"
	"fmt"
	"strings"
)

// Bech32 (BIP 173) and bech32m (BIP 350): the same code with a different
// checksum constant. Witness version 0 must use bech32 and later versions
// bech32m, which is what stops a v0 address from being misread as v1.

const bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

type bech32Encoding int

const (
	encBech32  bech32Encoding = 1
	encBech32m bech32Encoding = 0x2bc830a3
)

func (e bech32Encoding) String() string {
	if e == encBech32m {
		return "bech32m"
	}
	return "bech32"
}

var errBech32Checksum = errors.New("bad bech32 checksum")

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := 0; i < 5; i++ {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func bech32HRPExpand(hrp string) []byte {
	out := make([]byte, 0, len(hrp)*2+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// bech32Decode splits s into its human-readable part and 5-bit data
// (checksum removed) and tells which checksum constant it carries.
func bech32Decode(s string) (hrp string, data []byte, enc bech32Encoding, err error) {
	if len(s) > 90 {
		return "", nil, 0, fmt.Errorf("bech32 string too long (%d characters, at most 90)", len(s))
	}
	lower, upper := strings.ToLower(s), strings.ToUpper(s)
	if s != lower && s != upper {
		return "", nil, 0, errors.New("bech32 string mixes upper and lower case")
	}
	s = lower
	sep := strings.LastIndexByte(s, '1')
	if sep < 1 || sep+7 > len(s) {
		return "", nil, 0, errors.New("bech32 separator '1' missing or misplaced")
	}
	hrp = s[:sep]
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, 0, fmt.Errorf("invalid character in bech32 prefix at position %d", i)
		}
	}
	data = make([]byte, 0, len(s)-sep-1)
	for i := sep + 1; i < len(s); i++ {
		d := strings.IndexByte(bech32Charset, s[i])
		if d < 0 {
			return "", nil, 0, fmt.Errorf("invalid bech32 character %q at position %d", s[i], i)
		}
		data = append(data, byte(d))
	}
	switch bech32Polymod(append(bech32HRPExpand(hrp), data...)) {
	case uint32(encBech32):
		enc = encBech32
	case uint32(encBech32m):
		enc = encBech32m
	default:
		return hrp, nil, 0, errBech32Checksum
	}
	return hrp, data[:len(data)-6], enc, nil
}

// bech32Encode is the inverse of bech32Decode (lower case).
func bech32Encode(hrp string, data []byte, enc bech32Encoding) string {
	values := append(bech32HRPExpand(hrp), data...)
	values = append(values, 0, 0, 0, 0, 0, 0)
	mod := bech32Polymod(values) ^ uint32(enc)
	var b strings.Builder
	b.WriteString(hrp)
	b.WriteByte('1')
	for _, d := range data {
		b.WriteByte(bech32Charset[d])
	}
	for i := 0; i < 6; i++ {
		b.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	return b.String()
}

// convertBits regroups bits; without pad, leftover bits must be fewer
// than from and zero (BIP 173's rule against non-canonical encodings).
func convertBits(data []byte, from, to uint, pad bool) ([]byte, error) {
	acc, bits := uint32(0), uint(0)
	maxv := uint32(1)<<to - 1
	var out []byte
	for _, v := range data {
		if uint32(v)>>from != 0 {
			return nil, fmt.Errorf("value %d does not fit in %d bits", v, from)
		}
		acc = acc<<from | uint32(v)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	} else if bits >= from || acc<<(to-bits)&maxv != 0 {
		return nil, errors.New("non-zero or excess padding")
	}
	return out, nil
}

// decodeSegwit decodes a segwit address whose prefix must be hrp.
func decodeSegwit(addr, hrp string) (version byte, program []byte, err error) {
	gotHRP, data, enc, err := bech32Decode(addr)
	if err != nil {
		return 0, nil, err
	}
	if gotHRP != hrp {
		return 0, nil, fmt.Errorf("prefix %q, want %q", gotHRP, hrp)
	}
	if len(data) < 1 {
		return 0, nil, errors.New("no witness version")
	}
	version = data[0]
	if version > 16 {
		return 0, nil, fmt.Errorf("unknown witness version %d", version)
	}
	program, err = convertBits(data[1:], 5, 8, false)
	if err != nil {
		return 0, nil, fmt.Errorf("witness program: %w", err)
	}
	if len(program) < 2 || len(program) > 40 {
		return 0, nil, fmt.Errorf("witness program of %d bytes (must be 2 to 40)", len(program))
	}
	if version == 0 && len(program) != 20 && len(program) != 32 {
		return 0, nil, fmt.Errorf("version 0 witness program of %d bytes (must be 20 or 32)", len(program))
	}
	want := encBech32m
	if version == 0 {
		want = encBech32
	}
	if enc != want {
		return 0, nil, fmt.Errorf("witness version %d encoded with %s, must be %s", version, enc, want)
	}
	return version, program, nil
}

// encodeSegwit is the inverse of decodeSegwit.
func encodeSegwit(hrp string, version byte, program []byte) (string, error) {
	conv, err := convertBits(program, 8, 5, true)
	if err != nil {
		return "", err
	}
	enc := encBech32m
	if version == 0 {
		enc = encBech32
	}
	return bech32Encode(hrp, append([]byte{version}, conv...), enc), nil
}
