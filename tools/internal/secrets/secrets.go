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
	"math/big"

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

// WalletLoginItem names the item of a wallet's variable holding the login
// of a job kind (contract.WalletLogins): base is ItemUser, ItemPassword or
// ItemRPCAuth.
func WalletLoginItem(base, kind string) string { return base + "_" + kind }

// WalletLoginUser is the RPC user of a job kind's wallet login.
func WalletLoginUser(kind string) string { return WalletUser + "-" + kind }

// EnsureWallet makes sure the Nomad variable at path holds RPC credentials
// for a coin's wallets: the wallet's own login, and one login per job kind
// in kinds (each limited by the wallet's rpcwhitelist to what that job
// calls). It creates them the first time and adds the logins of kinds a
// variable made by an older poolctl lacks; existing credentials are kept:
// the wallets and the pool's processes use them. It reports whether it
// wrote.
func EnsureWallet(ctx context.Context, nomad *nomadapi.Client, path string, kinds []string) (bool, error) {
	login := func(user string) (string, string, error) {
		password, err := randomHex(32)
		if err != nil {
			return "", "", err
		}
		salt, err := randomHex(16)
		if err != nil {
			return "", "", err
		}
		return password, RPCAuth(user, password, salt), nil
	}
	addLogins := func(items nomadapi.VariableItems) (bool, error) {
		added := false
		for _, kind := range kinds {
			if items[WalletLoginItem(ItemRPCAuth, kind)] != "" {
				continue
			}
			user := WalletLoginUser(kind)
			password, auth, err := login(user)
			if err != nil {
				return false, err
			}
			items[WalletLoginItem(ItemUser, kind)] = user
			items[WalletLoginItem(ItemPassword, kind)] = password
			items[WalletLoginItem(ItemRPCAuth, kind)] = auth
			added = true
		}
		return added, nil
	}
	v, created, err := ensure(ctx, nomad, path, []string{ItemUser, ItemPassword, ItemRPCAuth}, func() (nomadapi.VariableItems, error) {
		password, auth, err := login(WalletUser)
		if err != nil {
			return nil, err
		}
		items := nomadapi.VariableItems{ItemUser: WalletUser, ItemPassword: password, ItemRPCAuth: auth}
		_, err = addLogins(items)
		return items, err
	})
	return addMissing(ctx, nomad, path, v, created, err, addLogins, "the jobs' wallet logins")
}

// ItemHDSeed is the item of a coin's seed variable holding the pool's HD
// seed: 32 bytes in hex, a secp256k1 private key.
const ItemHDSeed = "hd_seed"

// secp256k1N is the order of secp256k1's group: a private key is a
// number from 1 to N-1.
var secp256k1N, _ = new(big.Int).SetString("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", 16)

// NewHDSeed draws a seed: 32 random bytes that are a valid private key.
func NewHDSeed() ([]byte, error) {
	for {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		if k := new(big.Int).SetBytes(b); k.Sign() > 0 && k.Cmp(secp256k1N) < 0 {
			return b, nil
		}
	}
}

// EnsureWalletSeed makes sure the Nomad variable at path holds the pool's
// HD seed for a coin, drawing it the first time. It never replaces one:
// the seed is the pool's keys, and every wallet instance holds it. It
// reports whether it wrote.
func EnsureWalletSeed(ctx context.Context, nomad *nomadapi.Client, path string) (bool, error) {
	_, created, err := ensure(ctx, nomad, path, []string{ItemHDSeed}, func() (nomadapi.VariableItems, error) {
		seed, err := NewHDSeed()
		if err != nil {
			return nil, err
		}
		return nomadapi.VariableItems{ItemHDSeed: hex.EncodeToString(seed)}, nil
	})
	return created, err
}
