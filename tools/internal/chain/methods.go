package chain

import (
	"context"
	"time"
)

// BlockchainInfo is the part of getblockchaininfo the pool uses.
type BlockchainInfo struct {
	Chain                string  `json:"chain"`
	Blocks               int64   `json:"blocks"`
	Headers              int64   `json:"headers"`
	BestBlockHash        string  `json:"bestblockhash"`
	InitialBlockDownload bool    `json:"initialblockdownload"`
	VerificationProgress float64 `json:"verificationprogress"`
	Pruned               bool    `json:"pruned"`
	// PruneHeight is the lowest height whose block a pruned daemon still
	// has.
	PruneHeight int64 `json:"pruneheight"`
}

// BlockchainInfo calls getblockchaininfo.
func (c *Client) BlockchainInfo(ctx context.Context) (*BlockchainInfo, error) {
	var info BlockchainInfo
	if err := c.Call(ctx, "getblockchaininfo", nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// BlockCount calls getblockcount.
func (c *Client) BlockCount(ctx context.Context) (int64, error) {
	var n int64
	err := c.Call(ctx, "getblockcount", nil, &n)
	return n, err
}

// BlockTime is the timestamp of the block with the given hash.
func (c *Client) BlockTime(ctx context.Context, hash string) (time.Time, error) {
	var header struct {
		Time int64 `json:"time"`
	}
	if err := c.Call(ctx, "getblockheader", []any{hash}, &header); err != nil {
		return time.Time{}, err
	}
	return time.Unix(header.Time, 0), nil
}

// Peer is the part of getpeerinfo the pool uses.
type Peer struct {
	Addr           string `json:"addr"`
	Inbound        bool   `json:"inbound"`
	StartingHeight int64  `json:"startingheight"`
	SyncedHeaders  int64  `json:"synced_headers"`
	SyncedBlocks   int64  `json:"synced_blocks"`
}

// Peers calls getpeerinfo.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	var peers []Peer
	err := c.Call(ctx, "getpeerinfo", nil, &peers)
	return peers, err
}

// AddNode asks the daemon to keep a connection to addr (host:port), and
// to try it now: the daemon itself retries added nodes only once a minute.
// Adding a node it already has is not an error.
func (c *Client) AddNode(ctx context.Context, addr string) error {
	err := c.Call(ctx, "addnode", []any{addr, "add"}, nil)
	if err != nil && CodeOf(err) != -23 { // RPC_CLIENT_NODE_ALREADY_ADDED
		return err
	}
	return c.Call(ctx, "addnode", []any{addr, "onetry"}, nil)
}

// DisconnectNode drops the connection to a peer. A peer the daemon was
// told to add (addnode) is connected again by the daemon later.
func (c *Client) DisconnectNode(ctx context.Context, addr string) error {
	err := c.Call(ctx, "disconnectnode", []any{addr}, nil)
	if CodeOf(err) == -29 { // RPC_CLIENT_NODE_NOT_CONNECTED: gone already
		return nil
	}
	return err
}

// SetNetworkActive turns all peer-to-peer networking on or off. Turning
// it off returns before the daemon has closed its connections; this waits
// until it has none, so that nothing reaches it afterwards.
func (c *Client) SetNetworkActive(ctx context.Context, active bool) error {
	if err := c.Call(ctx, "setnetworkactive", []any{active}, nil); err != nil || active {
		return err
	}
	for {
		peers, err := c.Peers(ctx)
		if err != nil {
			return err
		}
		if len(peers) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// NewAddress returns a new receiving address of the daemon's wallet.
func (c *Client) NewAddress(ctx context.Context) (string, error) {
	var addr string
	err := c.Call(ctx, "getnewaddress", nil, &addr)
	return addr, err
}

// OwnsAddress reports whether the daemon's wallet holds the key of addr
// (getaddressinfo's ismine; a watch-only address is not owned).
func (c *Client) OwnsAddress(ctx context.Context, addr string) (bool, error) {
	var info struct {
		IsMine bool `json:"ismine"`
	}
	if err := c.Call(ctx, "getaddressinfo", []any{addr}, &info); err != nil {
		return false, err
	}
	return info.IsMine, nil
}

// GenerateToAddress mines n blocks paying addr (regtest).
func (c *Client) GenerateToAddress(ctx context.Context, n int, addr string) ([]string, error) {
	var hashes []string
	err := c.Call(ctx, "generatetoaddress", []any{n, addr}, &hashes)
	return hashes, err
}

// EnsureWallet loads the named wallet, creating it the first time. Since
// 0.21 the daemon no longer creates a default wallet, and one named on the
// command line is only loaded if it already exists.
func (c *Client) EnsureWallet(ctx context.Context, name string) error {
	var loaded []string
	if err := c.Call(ctx, "listwallets", nil, &loaded); err != nil {
		return err
	}
	for _, w := range loaded {
		if w == name {
			return nil
		}
	}
	err := c.Call(ctx, "loadwallet", []any{name}, nil)
	if CodeOf(err) == -18 { // RPC_WALLET_NOT_FOUND: create it
		err = c.Call(ctx, "createwallet", []any{name}, nil)
	}
	if CodeOf(err) == -35 { // RPC_WALLET_ALREADY_LOADED, by a concurrent call
		return nil
	}
	return err
}
