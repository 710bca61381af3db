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
	"errors"
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
	q := (&nomadapi.QueryOptions{}).WithContext(ctx)
	existing, _, err := nomad.Variables().Peek(path, q)
	if err != nil {
		return false, fmt.Errorf("read Nomad variable %s: %w", path, err)
	}
	if existing != nil {
		for _, item := range []string{ItemUser, ItemPassword, ItemRPCAuth} {
			if existing.Items[item] == "" {
				return false, fmt.Errorf("Nomad variable %s lacks %q; remove it (nomad var purge %s) and deploy again to have new credentials made", path, item, path)
			}
		}
		return false, nil
	}
	password, err := randomHex(32)
	if err != nil {
		return false, err
	}
	salt, err := randomHex(16)
	if err != nil {
		return false, err
	}
	v := &nomadapi.Variable{Path: path, Items: nomadapi.VariableItems{
		ItemUser:     WalletUser,
		ItemPassword: password,
		ItemRPCAuth:  RPCAuth(WalletUser, password, salt),
	}}
	// Check-and-set on index 0: create only if nobody else did meanwhile.
	_, _, err = nomad.Variables().CheckedCreate(v, (&nomadapi.WriteOptions{}).WithContext(ctx))
	var conflict nomadapi.ErrCASConflict
	if errors.As(err, &conflict) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create Nomad variable %s: %w", path, err)
	}
	return true, nil
}
