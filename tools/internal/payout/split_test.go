package payout

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitReward(t *testing.T) {
	cases := []struct {
		name    string
		reward  int64
		carried int64
		fee     float64
		weights []Weight
		want    Split
	}{
		{
			name: "fee then parts by difficulty", reward: 1000, fee: 1,
			weights: []Weight{{"a", 1}, {"b", 3}},
			want:    Split{Credits: map[string]int64{"a": 247, "b": 742}, Fee: 10, Carry: 1},
		},
		{
			name: "a miner's shares add up", reward: 900, fee: 0,
			weights: []Weight{{"a", 1}, {"b", 1}, {"a", 1}},
			want:    Split{Credits: map[string]int64{"a": 600, "b": 300}, Fee: 0, Carry: 0},
		},
		{
			name: "carried units are shared out", reward: 1000, carried: 2, fee: 0,
			weights: []Weight{{"a", 1}, {"b", 1}, {"c", 1}},
			want:    Split{Credits: map[string]int64{"a": 334, "b": 334, "c": 334}, Fee: 0, Carry: 0},
		},
		{
			name: "rounding remainder carried", reward: 1000, fee: 0,
			weights: []Weight{{"a", 1}, {"b", 1}, {"c", 1}},
			want:    Split{Credits: map[string]int64{"a": 333, "b": 333, "c": 333}, Fee: 0, Carry: 1},
		},
		{
			name: "no shares: all carried", reward: 500, carried: 3, fee: 2,
			want: Split{Credits: map[string]int64{}, Fee: 10, Carry: 493},
		},
		{
			name: "dust parts get nothing and are carried", reward: 10, fee: 0,
			weights: []Weight{{"big", 1000}, {"tiny", 0.001}},
			want:    Split{Credits: map[string]int64{"big": 9}, Fee: 0, Carry: 1},
		},
		{
			name: "a block of 12.5 coins, 1% fee", reward: 1_250_000_000, fee: 1,
			weights: []Weight{{"a", 0.5}, {"b", 0.25}, {"c", 0.25}},
			want:    Split{Credits: map[string]int64{"a": 618_750_000, "b": 309_375_000, "c": 309_375_000}, Fee: 12_500_000, Carry: 0},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitReward(tc.reward, tc.carried, tc.fee, tc.weights)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			sum := got.Fee + got.Carry
			for _, u := range got.Credits {
				sum += u
			}
			assert.Equal(t, tc.reward+tc.carried, sum, "every unit is credited, kept as fee or carried")
		})
	}
}

func TestSplitRewardRefusesNonsense(t *testing.T) {
	_, err := SplitReward(-1, 0, 1, nil)
	assert.Error(t, err)
	_, err = SplitReward(1, 0, 100, nil)
	assert.ErrorContains(t, err, "fee 100%")
}
