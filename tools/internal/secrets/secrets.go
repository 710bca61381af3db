// Package secrets creates the pool's secrets in Nomad Variables, where the
// jobs' templates read them: they never pass through pool.hcl, job files,
// Consul KV, logs or poolctl's output.
package secrets

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	nomadapi "github.com/hashicorp/nomad/api"
)

// WalletUser is the RPC user the pool's processes log in to wallets as.
const WalletUser = "pool"

// Items of a wallet's variable.
const (
	ItemUser     = "rpc_user"
	ItemPassword = "rpc_password"
	ItemRPCAuth  = "rpcauth"
)

// RPCAuth is the daemon's rpcauth setting for user and password:
// user:salt$HMAC-SHA256(key=salt, password), as Bitcoin Core's
// share/rpcauth/rpcauth.py makes it. The daemon stores no password.
func RPCAuth(user, password, salt string) string {
	mac := hmac.New(sha256.New, []byte(salt))
	mac.Write([]byte(password))
	return fmt.Sprintf("%s:%s$%s", user, salt, hex.EncodeToString(mac.Sum(nil)))
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// EnsureWallet makes sure the Nomad variable at path holds RPC credentials
// for a coin's wallets, creating them the first time. Existing credentials
// are kept: the wallets' chain data and the pool's processes use them. It
// reports whether it created them.
func EnsureWallet(ctx context.Context, nomad *nomadapi.Client, path string) (bool, error) {
	return ensure(ctx, nomad, path, []string{ItemUser, ItemPassword, ItemRPCAuth}, func() (nomadapi.VariableItems, error) {
		password, err := randomHex(32)
		if err != nil {
			return nil, err
		}
		salt, err := randomHex(16)
		if err != nil {
			return nil, err
		}
		return nomadapi.VariableItems{
			ItemUser:     WalletUser,
			ItemPassword: password,
			ItemRPCAuth:  RPCAuth(WalletUser, password, salt),
		}, nil
	})
}
