package chain

import (
	"context"
	"errors"
	"fmt"
)

// TemplateTx is one transaction getblocktemplate proposes for the block.
type TemplateTx struct {
	Data    string `json:"data"`    // serialized, as it goes into the block
	TxID    string `json:"txid"`    // display order; what the merkle tree commits to
	Hash    string `json:"hash"`    // witness hash, display order
	Fee     int64  `json:"fee"`     // litoshis
	Weight  int64  `json:"weight"`  // BIP 141 weight
	Depends []int  `json:"depends"` // 1-based indexes of transactions this one spends
}

// Template is the part of getblocktemplate a pool builds work from.
type Template struct {
	Version           int32        `json:"version"`
	Rules             []string     `json:"rules"`
	PreviousBlockHash string       `json:"previousblockhash"` // display order
	Transactions      []TemplateTx `json:"transactions"`
	CoinbaseValue     int64        `json:"coinbasevalue"` // subsidy plus fees, litoshis
	LongPollID        string       `json:"longpollid"`
	Target            string       `json:"target"` // network target, big-endian hex
	MinTime           int64        `json:"mintime"`
	CurTime           int64        `json:"curtime"`
	Bits              string       `json:"bits"` // compact target, big-endian hex
	Height            int64        `json:"height"`
	// DefaultWitnessCommitment is the script of the coinbase output that
	// commits to the transactions' witnesses; empty before segwit.
	DefaultWitnessCommitment string `json:"default_witness_commitment"`
	// MWEB is the serialized MWEB extension block (Litecoin 0.21 and
	// later, once MWEB is active); empty when absent.
	MWEB string `json:"mweb"`
}

// templateRules are the rules the pool understands. Litecoin Core 0.21
// refuses a template to a client that does not claim MWEB support (-8).
var templateRules = []string{"mweb", "segwit"}

// BlockTemplate calls getblocktemplate. With a longpollID (from an earlier
// template) the call blocks until the daemon has new work: give it a
// context without a short deadline.
func (c *Client) BlockTemplate(ctx context.Context, longpollID string) (*Template, error) {
	req := map[string]any{"rules": templateRules}
	if longpollID != "" {
		req["longpollid"] = longpollID
	}
	var t Template
	if err := c.Call(ctx, "getblocktemplate", []any{req}, &t); err != nil {
		return nil, fmt.Errorf("get block template: %w", err)
	}
	if t.PreviousBlockHash == "" || t.Bits == "" || t.Height <= 0 {
		return nil, fmt.Errorf("get block template: incomplete template (height %d, bits %q, previous block %q)", t.Height, t.Bits, t.PreviousBlockHash)
	}
	return &t, nil
}

// BlockRejected is a block the daemon did not make its tip, with its
// reason: "high-hash", "bad-txnmrklroot", "bad-cb-height", "mweb-missing",
// "duplicate" (already known and valid), "duplicate-invalid",
// "duplicate-inconclusive", or "inconclusive" (valid as far as checked but
// not on the best chain, e.g. it lost a race to a block at the same
// height).
type BlockRejected struct {
	Reason string
}

func (e *BlockRejected) Error() string {
	return "block rejected: " + e.Reason
}

// IsDuplicate reports whether err says the daemon already has the block
// as valid: a second submission of a found block (another stratum
// instance, a retry after a timeout), which is not a loss. The
// "duplicate-invalid" and "duplicate-inconclusive" answers are not.
func IsDuplicate(err error) bool {
	var r *BlockRejected
	return errors.As(err, &r) && r.Reason == "duplicate"
}

// IsInconclusive reports whether err says the block is valid as far as the
// daemon checked but not on its best chain: the tip moved (another block
// at that height) while it was being solved or sent. Whether it is lost
// is for the chain to decide.
func IsInconclusive(err error) bool {
	var r *BlockRejected
	return errors.As(err, &r) && r.Reason == "inconclusive"
}

// SubmitBlock calls submitblock with a serialized block in hex. It returns
// nil when the daemon accepted the block, *BlockRejected when it refused
// it, and a call's *Error when the call failed (then whether the block
// arrived is unknown: submit it again, a duplicate is harmless).
func (c *Client) SubmitBlock(ctx context.Context, blockHex string) error {
	var reason *string
	if err := c.Call(ctx, "submitblock", []any{blockHex}, &reason); err != nil {
		return fmt.Errorf("submit block: %w", err)
	}
	if reason != nil && *reason != "" {
		return &BlockRejected{Reason: *reason}
	}
	return nil
}

// BestBlockHash calls getbestblockhash: the tip, display order.
func (c *Client) BestBlockHash(ctx context.Context) (string, error) {
	var hash string
	err := c.Call(ctx, "getbestblockhash", nil, &hash)
	return hash, err
}
