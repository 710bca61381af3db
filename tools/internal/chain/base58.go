package chain

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
)

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Index = func() [256]int8 {
	var idx [256]int8
	for i := range idx {
		idx[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		idx[base58Alphabet[i]] = int8(i)
	}
	return idx
}()

// errBase58Checksum is told apart so that a mistyped address reads as one.
var errBase58Checksum = errors.New("bad base58 checksum")

// base58Decode decodes s; each leading '1' is a leading zero byte.
func base58Decode(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// Big-endian base-256 number, grown by multiply-and-add per digit:
	// quadratic, but addresses are short.
	var num []byte
	for i := zeros; i < len(s); i++ {
		d := base58Index[s[i]]
		if d < 0 {
			return nil, fmt.Errorf("invalid base58 character %q at position %d", s[i], i)
		}
		carry := int(d)
		for j := len(num) - 1; j >= 0; j-- {
			carry += int(num[j]) * 58
			num[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			num = append([]byte{byte(carry)}, num...)
			carry >>= 8
		}
	}
	return append(make([]byte, zeros, zeros+len(num)), num...), nil
}

// base58Encode is the inverse of base58Decode.
func base58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	var digits []byte // little-endian base-58
	for _, c := range b[zeros:] {
		carry := int(c)
		for j := range digits {
			carry += int(digits[j]) << 8
			digits[j] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	out := bytes.Repeat([]byte{'1'}, zeros)
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, base58Alphabet[digits[i]])
	}
	return string(out)
}

// base58CheckDecode returns the version byte and payload of a
// base58check string.
func base58CheckDecode(s string) (version byte, payload []byte, err error) {
	raw, err := base58Decode(s)
	if err != nil {
		return 0, nil, err
	}
	if len(raw) < 5 {
		return 0, nil, fmt.Errorf("base58 data too short (%d bytes)", len(raw))
	}
	body, sum := raw[:len(raw)-4], raw[len(raw)-4:]
	want := sha256d(body)
	if !bytes.Equal(sum, want[:4]) {
		return 0, nil, errBase58Checksum
	}
	return body[0], body[1:], nil
}

// base58CheckEncode is the inverse of base58CheckDecode.
func base58CheckEncode(version byte, payload []byte) string {
	body := append([]byte{version}, payload...)
	sum := sha256d(body)
	return base58Encode(append(body, sum[:4]...))
}

func sha256d(b []byte) [32]byte {
	first := sha256.Sum256(b)
	return sha256.Sum256(first[:])
}
