package poolapi

import (
	"encoding/json"
	"time"
)

// The JSON shapes of MiningCore's API (its Api/Responses classes):
// camelCase names, nullable members as pointers omitted when nil, never
// omitempty on a number. Fields MiningCore does not have are marked
// "added" and only ever added.

type poolsResponse struct {
	Pools []PoolInfo `json:"pools"`
}

type poolResponse struct {
	Pool PoolInfo `json:"pool"`
}

type PoolInfo struct {
	ID                      string                  `json:"id"`
	Coin                    APICoin                 `json:"coin"`
	Ports                   map[string]PoolEndpoint `json:"ports"`
	PaymentProcessing       PaymentProcessing       `json:"paymentProcessing"`
	ClientConnectionTimeout int                     `json:"clientConnectionTimeout"`
	JobRebroadcastTimeout   int                     `json:"jobRebroadcastTimeout"`
	BlockRefreshInterval    int                     `json:"blockRefreshInterval"`
	PoolFeePercent          float64                 `json:"poolFeePercent"`
	Address                 string                  `json:"address"`
	AddressInfoLink         *string                 `json:"addressInfoLink,omitempty"`
	PoolStats               PoolStats               `json:"poolStats"`
	NetworkStats            NetworkStats            `json:"networkStats"`
	TopMiners               []MinerPerformanceStats `json:"topMiners"`
	TotalPaid               json.Number             `json:"totalPaid"`
	TotalBlocks             int64                   `json:"totalBlocks"`
	LastPoolBlockTime       *time.Time              `json:"lastPoolBlockTime,omitempty"`
	PoolEffort              float64                 `json:"poolEffort"`
}

type APICoin struct {
	Type          string  `json:"type"`
	Name          string  `json:"name"`
	Symbol        string  `json:"symbol"`
	Website       *string `json:"website,omitempty"`
	Family        string  `json:"family"`
	Algorithm     string  `json:"algorithm"`
	CanonicalName string  `json:"canonicalName"`
}

type PoolEndpoint struct {
	ListenAddress string   `json:"listenAddress"`
	Name          string   `json:"name"`
	Difficulty    float64  `json:"difficulty"`
	VarDiff       *VarDiff `json:"varDiff,omitempty"`
	TLS           bool     `json:"tls"`
	TLSAuto       bool     `json:"tlsAuto"`
}

type VarDiff struct {
	MinDiff         float64  `json:"minDiff"`
	MaxDiff         *float64 `json:"maxDiff,omitempty"`
	TargetTime      float64  `json:"targetTime"`
	RetargetTime    float64  `json:"retargetTime"`
	VariancePercent float64  `json:"variancePercent"`
}

type PaymentProcessing struct {
	Enabled            bool           `json:"enabled"`
	MinimumPayment     float64        `json:"minimumPayment"`
	PayoutScheme       string         `json:"payoutScheme"`
	PayoutSchemeConfig map[string]any `json:"payoutSchemeConfig"`
	// added: confirmations a block needs before it is credited.
	MinimumConfirmations int `json:"minimumConfirmations"`
}

type PoolStats struct {
	ConnectedMiners int64  `json:"connectedMiners"`
	PoolHashrate    uint64 `json:"poolHashrate"`
	SharesPerSecond int64  `json:"sharesPerSecond"`
	// added: distinct (miner, worker) pairs with shares in the last 10 minutes.
	ConnectedWorkers int64 `json:"connectedWorkers"`
}

type NetworkStats struct {
	NetworkType       string  `json:"networkType"`
	NetworkHashrate   float64 `json:"networkHashrate"`
	NetworkDifficulty float64 `json:"networkDifficulty"`
	BlockHeight       uint64  `json:"blockHeight"`
	ConnectedPeers    int     `json:"connectedPeers"`
	RewardType        string  `json:"rewardType"`
}

type MinerPerformanceStats struct {
	Miner           string  `json:"miner"`
	Hashrate        float64 `json:"hashrate"`
	SharesPerSecond float64 `json:"sharesPerSecond"`
}

type poolPerformanceResponse struct {
	Stats []AggregatedPoolStats `json:"stats"`
}

type AggregatedPoolStats struct {
	PoolHashrate         float64   `json:"poolHashrate"`
	ConnectedMiners      int64     `json:"connectedMiners"`
	ValidSharesPerSecond int64     `json:"validSharesPerSecond"`
	NetworkHashrate      float64   `json:"networkHashrate"`
	NetworkDifficulty    float64   `json:"networkDifficulty"`
	Created              time.Time `json:"created"`
}

type Block struct {
	PoolID                      string      `json:"poolId"`
	BlockHeight                 uint64      `json:"blockHeight"`
	NetworkDifficulty           float64     `json:"networkDifficulty"`
	Status                      string      `json:"status"`
	ConfirmationProgress        float64     `json:"confirmationProgress"`
	Effort                      *float64    `json:"effort,omitempty"`
	TransactionConfirmationData string      `json:"transactionConfirmationData"`
	Reward                      json.Number `json:"reward"`
	InfoLink                    *string     `json:"infoLink,omitempty"`
	Hash                        *string     `json:"hash,omitempty"`
	Miner                       *string     `json:"miner,omitempty"`
	Created                     time.Time   `json:"created"`
	// added: the wallet's confirmation count (-1 for an orphan).
	Confirmations int64 `json:"confirmations"`
}

type Payment struct {
	Coin                        string      `json:"coin"`
	Address                     string      `json:"address"`
	AddressInfoLink             *string     `json:"addressInfoLink,omitempty"`
	Amount                      json.Number `json:"amount"`
	TransactionConfirmationData string      `json:"transactionConfirmationData"`
	TransactionInfoLink         *string     `json:"transactionInfoLink,omitempty"`
	Created                     time.Time   `json:"created"`
}

// pagedResult is MiningCore's PagedResultResponse.
type pagedResult struct {
	Result    any   `json:"result"`
	Success   bool  `json:"success"`
	PageCount int64 `json:"pageCount"`
}

type MinerStats struct {
	PendingShares      float64             `json:"pendingShares"`
	PendingBalance     json.Number         `json:"pendingBalance"`
	TotalPaid          json.Number         `json:"totalPaid"`
	TodayPaid          json.Number         `json:"todayPaid"`
	LastPayment        *time.Time          `json:"lastPayment,omitempty"`
	LastPaymentLink    *string             `json:"lastPaymentLink,omitempty"`
	Performance        *WorkerPerformance  `json:"performance,omitempty"`
	PerformanceSamples []WorkerPerformance `json:"performanceSamples"`
	// added: why the pool holds this miner's balance back, if it does.
	BalanceHeldReason *string `json:"balanceHeldReason,omitempty"`
}

// WorkerPerformance is MiningCore's WorkerPerformanceStatsContainer: the
// unnamed worker is the key "".
type WorkerPerformance struct {
	Created time.Time             `json:"created"`
	Workers map[string]WorkerRate `json:"workers"`
}

type WorkerRate struct {
	Hashrate        float64 `json:"hashrate"`
	SharesPerSecond float64 `json:"sharesPerSecond"`
}

type balanceChange struct {
	PoolID  string      `json:"poolId"`
	Address string      `json:"address"`
	Amount  json.Number `json:"amount"`
	Usage   string      `json:"usage"`
	Created time.Time   `json:"created"`
}

type dailyEarning struct {
	Amount json.Number `json:"amount"`
	Date   time.Time   `json:"date"`
}
