package payout

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
)

func TestBatches(t *testing.T) {
	const (
		lower = "rltc1qw508d6qejxtdg4y5r3zarvary0c5xw7k693xs3"
		upper = "RLTC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7K693XS3"
		p2sh  = "QXHFfTBKYXjaaTH1e7Rox8CcdNPGHVhM59"
		p2shB = "2N3vVYSK5XRgVSGWy21PnsRmBUywSQNdCsf" // the same script, Bitcoin's version
		other = "mrCDrCybB6J1vRfbwM5hemdJz73FwDBC8r"
	)
	addrs := func(bs [][]item) [][]string {
		var out [][]string
		for _, b := range bs {
			var a []string
			for _, it := range b {
				a = append(a, it.address)
			}
			out = append(out, a)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		items []string
		max   int
		want  [][]string
	}{
		{"one batch", []string{lower, p2sh, other}, 10, [][]string{{lower, p2sh, other}}},
		{"split by size, in order", []string{lower, p2sh, other}, 2, [][]string{{lower, p2sh}, {other}}},
		{"one script spelled two ways goes in two calls", []string{lower, other, upper}, 10, [][]string{{lower, other}, {upper}}},
		{"both P2SH versions", []string{p2sh, p2shB, lower, upper}, 10, [][]string{{p2sh, lower}, {p2shB, upper}}},
		{"a later batch with room takes it", []string{lower, upper, p2sh, other}, 2, [][]string{{lower, p2sh}, {upper, other}}},
		{"nothing due", nil, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var items []item
			for _, a := range tc.items {
				_, err := chain.OutputScript(a, "regtest")
				require.NoError(t, err)
				items = append(items, item{address: a, units: 1})
			}
			assert.Equal(t, tc.want, addrs(batches(items, tc.max, "regtest")))
		})
	}
}
