package chain_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/scrypt"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

// Our pooled-buffer scrypt gives the bytes golang.org/x/crypto/scrypt
// gives, for headers and other lengths of input (the genesis test checks
// it against Litecoin's own proof of work).
func TestScryptHashMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 63, 64, 65, 80, 80, 80, 128, 200} {
		input := make([]byte, n)
		for i := range input {
			input[i] = byte(rng.Uint32())
		}
		want, err := scrypt.Key(input, input, 1024, 1, 1, 32)
		require.NoError(t, err)
		assert.Equal(t, want, chain.ScryptHash(input), "input of %d bytes: %x", n, input)
	}
}

// Hashes running at once each get their own table.
func TestScryptHashConcurrent(t *testing.T) {
	header := make([]byte, chain.HeaderSize)
	want := map[byte][]byte{}
	for i := 0; i < 8; i++ {
		header[76] = byte(i)
		want[byte(i)], _ = scrypt.Key(header, header, 1024, 1, 1, 32)
	}
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		go func() {
			h := make([]byte, chain.HeaderSize)
			h[76] = byte(i)
			for k := 0; k < 20; k++ {
				if got := chain.ScryptHash(h); string(got) != string(want[byte(i)]) {
					errs <- fmt.Errorf("nonce %d: %x, want %x", i, got, want[byte(i)])
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; i < 8; i++ {
		require.NoError(t, <-errs)
	}
}

// A hash allocates no 128 KiB table: the garbage collector's work for
// that was part of every share's cost.
func TestScryptHashAllocatesLittle(t *testing.T) {
	header := make([]byte, chain.HeaderSize)
	chain.ScryptHash(header) // fill the pool
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const hashes = 50
	for i := 0; i < hashes; i++ {
		chain.ScryptHash(header)
	}
	runtime.ReadMemStats(&after)
	perHash := (after.TotalAlloc - before.TotalAlloc) / hashes
	assert.Less(t, perHash, uint64(4096), "bytes allocated per hash")
}
