// Package config reads a pool definition (pool.hcl) and checks it.
//
// Decoding uses gohcl with structs pre-filled with defaults, so an attribute
// left out keeps its default while one written as 0 stays 0 and is checked.
// Every problem is returned at once as hcl.Diagnostics with source ranges.
package config

import "github.com/hashicorp/hcl/v2"

// Pool is one decoded pool definition.
type Pool struct {
	Name         string        `json:"name"`
	Settings     *PoolSettings `json:"pool"`
	Cluster      *Cluster      `json:"cluster"`
	Coins        []*Coin       `json:"coins"`
	Database     *Database     `json:"database"`
	Housekeeping *Housekeeping `json:"housekeeping"`
	Web          *Web          `json:"web"`

	// Filename is the path the definition was read from.
	Filename string `json:"-"`
	// NameRange is where the pool's label is written.
	NameRange hcl.Range `json:"-"`
}

// PoolSettings is the pool "NAME" block.
type PoolSettings struct {
	Datacenter string `hcl:"datacenter,optional" json:"datacenter"`
	Region     string `hcl:"region,optional" json:"region"`
	// Poolctl is where the poolctl binary sits on every node; the pool's own
	// processes (stratum, payouts, housekeeping) are subcommands of it.
	Poolctl string `hcl:"poolctl,optional" json:"poolctl"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Cluster is the capacity model: how many nodes, how big, how many may fail.
type Cluster struct {
	Servers                int      `hcl:"servers" json:"servers"`
	Nodes                  int      `hcl:"nodes" json:"nodes"`
	NodeCPUMHz             int      `hcl:"node_cpu_mhz" json:"node_cpu_mhz"`
	NodeMemoryMB           int      `hcl:"node_memory_mb" json:"node_memory_mb"`
	ReservedCPUMHz         int      `hcl:"reserved_cpu_mhz,optional" json:"reserved_cpu_mhz"`
	ReservedMemoryMB       int      `hcl:"reserved_memory_mb,optional" json:"reserved_memory_mb"`
	ServerReservedCPUMHz   int      `hcl:"server_reserved_cpu_mhz,optional" json:"server_reserved_cpu_mhz"`
	ServerReservedMemoryMB int      `hcl:"server_reserved_memory_mb,optional" json:"server_reserved_memory_mb"`
	TolerateNodeFailures   int      `hcl:"tolerate_node_failures,optional" json:"tolerate_node_failures"`
	LAN                    []string `hcl:"lan,optional" json:"lan"`
	// FloatingAddress is the one LAN address miners connect to: keepalived
	// keeps it on a node whose stratum servers pass their checks.
	FloatingAddress string `hcl:"floating_address,optional" json:"floating_address,omitempty"`

	HostVolumes []*HostVolume `hcl:"host_volume,block" json:"host_volumes"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// HostVolume is a Nomad client host volume that some nodes of the cluster
// offer (capacity.VolumeNodes says which).
type HostVolume struct {
	Name  string `hcl:"name,label" json:"name"`
	Nodes int    `hcl:"nodes" json:"nodes"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Coin is one coin the pool mines, with its wallets, stratum servers and payouts.
type Coin struct {
	Name    string   `json:"name"`
	Chain   string   `hcl:"chain,optional" json:"chain"`
	Network string   `hcl:"network" json:"network"`
	Wallet  *Wallet  `hcl:"wallet,block" json:"wallet"`
	Stratum *Stratum `hcl:"stratum,block" json:"stratum"`
	Payout  *Payout  `hcl:"payout,block" json:"payout"`

	Body      hcl.Body  `hcl:",body" json:"-"`
	NameRange hcl.Range `json:"-"`
}

// Wallet describes the coin daemons (full nodes with a wallet).
type Wallet struct {
	Instances      int    `hcl:"instances,optional" json:"instances"`
	CPUMHz         int    `hcl:"cpu_mhz,optional" json:"cpu_mhz"`
	MemoryMB       int    `hcl:"memory_mb,optional" json:"memory_mb"`
	Volume         string `hcl:"volume,optional" json:"volume"`
	Command        string `hcl:"command,optional" json:"command"`
	MaxLagBlocks   int    `hcl:"max_lag_blocks,optional" json:"max_lag_blocks"`
	MaxTipAge      string `hcl:"max_tip_age,optional" json:"max_tip_age"`
	DBCacheMB      int    `hcl:"dbcache_mb,optional" json:"dbcache_mb"`
	PruneMB        int    `hcl:"prune_mb,optional" json:"prune_mb"`
	MaxConnections int    `hcl:"max_connections,optional" json:"max_connections"`
	// Peers are nodes of the coin's network ("host:port") every instance
	// keeps connected (the daemon's addnode) beside its siblings: the
	// operator's own full node, a friend's pool. A wallet left alone
	// after its siblings' nodes died still has them.
	Peers []string `hcl:"peers,optional" json:"peers"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Stratum describes the stratum servers miners connect to.
type Stratum struct {
	Port       int         `hcl:"port" json:"port"`
	Instances  int         `hcl:"instances,optional" json:"instances"`
	CPUMHz     int         `hcl:"cpu_mhz,optional" json:"cpu_mhz"`
	MemoryMB   int         `hcl:"memory_mb,optional" json:"memory_mb"`
	FeePercent float64     `hcl:"fee_percent,optional" json:"fee_percent"`
	Difficulty *Difficulty `hcl:"difficulty,block" json:"difficulty"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Difficulty is the share difficulty policy (vardiff) of a stratum server.
type Difficulty struct {
	Start              float64 `hcl:"start,optional" json:"start"`
	Min                float64 `hcl:"min,optional" json:"min"`
	Max                float64 `hcl:"max,optional" json:"max"`
	TargetShareSeconds int     `hcl:"target_share_seconds,optional" json:"target_share_seconds"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Payout describes the periodic payout run of a coin.
type Payout struct {
	Cron    string  `hcl:"cron,optional" json:"cron"`
	Scheme  string  `hcl:"scheme,optional" json:"scheme"`
	Minimum float64 `hcl:"minimum,optional" json:"minimum"`
	// Window is PPLNS's N: the last shares worth N x the network
	// difficulty share a block's reward.
	Window float64 `hcl:"window,optional" json:"window"`
	// Reserve is kept in the wallet for transaction fees.
	Reserve       float64 `hcl:"reserve,optional" json:"reserve"`
	MaxOutputs    int     `hcl:"max_outputs,optional" json:"max_outputs"`
	Confirmations int     `hcl:"confirmations,optional" json:"confirmations"`
	CPUMHz        int     `hcl:"cpu_mhz,optional" json:"cpu_mhz"`
	MemoryMB      int     `hcl:"memory_mb,optional" json:"memory_mb"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Database is the PostgreSQL cluster holding shares, blocks and the
// ledger: Instances members managed by Patroni, each on its own node's
// volume, one primary and the others its replicas (one synchronous).
type Database struct {
	Instances int    `hcl:"instances,optional" json:"instances"`
	CPUMHz    int    `hcl:"cpu_mhz,optional" json:"cpu_mhz"`
	MemoryMB  int    `hcl:"memory_mb,optional" json:"memory_mb"`
	Volume    string `hcl:"volume,optional" json:"volume"`
	Command   string `hcl:"command,optional" json:"command"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Housekeeping holds the periodic jobs that are not payouts.
type Housekeeping struct {
	BlocksCron     string `hcl:"blocks_cron,optional" json:"blocks_cron"`
	StatsCron      string `hcl:"stats_cron,optional" json:"stats_cron"`
	BackupCron     string `hcl:"backup_cron,optional" json:"backup_cron"`
	BackupVolume   string `hcl:"backup_volume,optional" json:"backup_volume"`
	BackupKeepDays int    `hcl:"backup_keep_days,optional" json:"backup_keep_days"`
	CPUMHz         int    `hcl:"cpu_mhz,optional" json:"cpu_mhz"`
	MemoryMB       int    `hcl:"memory_mb,optional" json:"memory_mb"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Web is the pool's web servers: MiningCore's JSON API (and the pages),
// read from the database under a read-only login.
type Web struct {
	// Port is the static port every instance listens on, the URL the
	// LAN (or a reverse proxy on it) uses: the firewall admits it from the
	// LAN only. Instances therefore never share a node.
	Port      int `hcl:"port,optional" json:"port"`
	Instances int `hcl:"instances,optional" json:"instances"`
	CPUMHz    int `hcl:"cpu_mhz,optional" json:"cpu_mhz"`
	MemoryMB  int `hcl:"memory_mb,optional" json:"memory_mb"`
	// TrustedProxies are the reverse proxies (addresses or CIDR
	// networks) in front of the web servers, say a TLS proxy on the
	// router: their X-Forwarded-For names the client that the rate limit
	// counts. From any other address the header is ignored.
	TrustedProxies []string `hcl:"trusted_proxies,optional" json:"trusted_proxies,omitempty"`
	// Explorers override a coin's block explorer links (mainnet coins
	// have defaults; other networks have none).
	Explorers []*Explorer `hcl:"explorer,block" json:"explorers,omitempty"`

	Body hcl.Body `hcl:",body" json:"-"`
}

// Explorer is a coin's block explorer links, written as MiningCore writes
// them: $height$ or $hash$ in BlockLink, {0} in TxLink and AddressLink.
type Explorer struct {
	Coin        string `hcl:"coin,label" json:"coin"`
	BlockLink   string `hcl:"block_link,optional" json:"block_link,omitempty"`
	TxLink      string `hcl:"tx_link,optional" json:"tx_link,omitempty"`
	AddressLink string `hcl:"address_link,optional" json:"address_link,omitempty"`

	Body hcl.Body `hcl:",body" json:"-"`
}
