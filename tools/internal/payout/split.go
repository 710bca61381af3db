// Package payout credits confirmed blocks to miners (PPLNS or
// proportional) and pays what they are owed from the pool's wallet,
// exactly once: every payout is an intent in PostgreSQL before the wallet
// is asked to send, the wallet transaction carries the intent's id, and a
// run that finds an intent left by a crashed one asks the wallet what
// became of it instead of paying again.
package payout

import (
	"fmt"
	"math/big"
	"sort"
)

// Weight is one miner's part of a block's reward: the share difficulty
// the miner submitted inside the block's window.
type Weight struct {
	Address    string
	Difficulty float64
}

// Split is how one block's reward is divided.
type Split struct {
	Credits map[string]int64 // address -> units
	Fee     int64            // units the pool keeps
	Carry   int64            // units left by rounding, for the next block
}

// SplitReward divides reward units plus the carried remainder among the
// weights: the pool's fee first (rounded down), then each miner's part
// rounded down to whole units; what rounding leaves is carried, never
// given to anyone and never lost. Shares are weighed exactly with big
// rationals, so the same inputs always give the same units.
func SplitReward(reward, carried int64, feePercent float64, weights []Weight) (Split, error) {
	if reward < 0 || carried < 0 {
		return Split{}, fmt.Errorf("negative reward %d or carry %d", reward, carried)
	}
	if !(feePercent >= 0 && feePercent < 100) {
		return Split{}, fmt.Errorf("fee %g%% is not in [0, 100)", feePercent)
	}
	fee := new(big.Rat).Mul(new(big.Rat).SetInt64(reward), new(big.Rat).SetFloat64(feePercent/100))
	feeUnits := floor(fee)
	pot := reward - feeUnits + carried

	total := new(big.Rat)
	byAddress := map[string]*big.Rat{}
	for _, w := range weights {
		if !(w.Difficulty > 0) {
			continue
		}
		d := new(big.Rat).SetFloat64(w.Difficulty)
		if byAddress[w.Address] == nil {
			byAddress[w.Address] = new(big.Rat)
		}
		byAddress[w.Address].Add(byAddress[w.Address], d)
		total.Add(total, d)
	}
	s := Split{Credits: map[string]int64{}, Fee: feeUnits}
	if total.Sign() == 0 {
		// No shares in the window: nobody to credit; the whole pot waits
		// for the next block.
		s.Carry = pot
		return s, nil
	}
	addresses := make([]string, 0, len(byAddress))
	for a := range byAddress {
		addresses = append(addresses, a)
	}
	sort.Strings(addresses)
	given := int64(0)
	potRat := new(big.Rat).SetInt64(pot)
	for _, a := range addresses {
		part := new(big.Rat).Mul(potRat, new(big.Rat).Quo(byAddress[a], total))
		units := floor(part)
		if units > 0 {
			s.Credits[a] = units
			given += units
		}
	}
	s.Carry = pot - given
	return s, nil
}

func floor(r *big.Rat) int64 {
	return new(big.Int).Quo(r.Num(), r.Denom()).Int64()
}
