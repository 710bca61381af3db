package secrets

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"

	nomadapi "github.com/hashicorp/nomad/api"
)

// DatabaseUser is the role the pool's processes log in to PostgreSQL as.
const DatabaseUser = "pool"

// WebUser is the read-only role the web job logs in as: it may read the
// pool's tables and write nothing, so a flaw in what serves the Internet
// cannot touch shares, balances or payouts.
const WebUser = "web"

// Items of the database's variable holding the web job's read-only login,
// as they are held for the pool's login: deploy copies the user and the
// password to the web job's variable (as ItemDatabaseUser and
// ItemDatabasePassword), the members get the verifier.
const (
	ItemWebUser     = "web_user"
	ItemWebPassword = "web_password"
	ItemWebVerifier = "web_scram"
)

// Items of the database's variable and of the stratum servers' one.
const (
	ItemDatabaseUser     = "db_user"
	ItemDatabasePassword = "db_password"
	// ItemDatabaseVerifier is the password's SCRAM-SHA-256 verifier:
	// what PostgreSQL stores, so the database job never sees the password.
	ItemDatabaseVerifier = "db_scram"
)

// scramIterations is PostgreSQL's default (scram_iterations).
const scramIterations = 4096

// SCRAMVerifier is password's SCRAM-SHA-256 verifier in PostgreSQL's
// format (RFC 5803), as `ALTER ROLE ... PASSWORD` accepts it pre-hashed.
func SCRAMVerifier(password string, salt []byte) (string, error) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(stored[:]), b64(server)), nil
}

// Items of the database's variable that only its members read: the
// passwords Patroni sets and uses between members (replicas stream as the
// replication login, a returning primary rewinds as the rewind login) and
// the superuser's, which only local peer connections use.
const (
	ItemReplicationPassword = "replication_password"
	ItemRewindPassword      = "rewind_password"
	ItemSuperuserPassword   = "superuser_password"
)

// memberItems are the items EnsureDatabase adds to a variable made by a
// poolctl from before the replicated database.
var memberItems = []string{ItemReplicationPassword, ItemRewindPassword, ItemSuperuserPassword}

// newLogin makes a password and its SCRAM verifier.
func newLogin() (password, verifier string, err error) {
	if password, err = randomHex(32); err != nil {
		return "", "", err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", "", err
	}
	verifier, err = SCRAMVerifier(password, salt)
	return password, verifier, err
}

// EnsureDatabase makes sure the Nomad variable at path holds the pool's
// database login, the web job's read-only login and the members' own
// passwords, creating it the first time and adding the members' passwords
// and the read-only login to a variable that lacks them; existing
// credentials are kept. It reports whether it wrote.
func EnsureDatabase(ctx context.Context, nomad *nomadapi.Client, path string) (bool, error) {
	addMissingItems := func(items nomadapi.VariableItems) (bool, error) {
		added := false
		for _, item := range memberItems {
			if items[item] != "" {
				continue
			}
			password, err := randomHex(32)
			if err != nil {
				return false, err
			}
			items[item], added = password, true
		}
		if items[ItemWebUser] == "" || items[ItemWebPassword] == "" || items[ItemWebVerifier] == "" {
			password, verifier, err := newLogin()
			if err != nil {
				return false, err
			}
			items[ItemWebUser], items[ItemWebPassword], items[ItemWebVerifier] = WebUser, password, verifier
			added = true
		}
		return added, nil
	}
	v, created, err := ensure(ctx, nomad, path, []string{ItemDatabaseUser, ItemDatabasePassword, ItemDatabaseVerifier}, func() (nomadapi.VariableItems, error) {
		password, verifier, err := newLogin()
		if err != nil {
			return nil, err
		}
		items := nomadapi.VariableItems{
			ItemDatabaseUser:     DatabaseUser,
			ItemDatabasePassword: password,
			ItemDatabaseVerifier: verifier,
		}
		_, err = addMissingItems(items)
		return items, err
	})
	return addMissing(ctx, nomad, path, v, created, err, addMissingItems, "the database members' passwords and the read-only login")
}

// addMissing finishes an ensure: when the variable existed (v, or re-read
// when another deploy created it meanwhile), add gives it the items a
// variable made by an older poolctl lacks, written with check-and-set (a
// concurrent deploy's update wins, and ours is retried by the next
// deploy). It reports whether it wrote.
func addMissing(ctx context.Context, nomad *nomadapi.Client, path string, v *nomadapi.Variable, created bool, err error,
	add func(nomadapi.VariableItems) (bool, error), what string) (bool, error) {
	if err != nil || created {
		return created, err
	}
	if v == nil {
		// Another deploy created it meanwhile: read what it wrote.
		if v, _, err = nomad.Variables().Peek(path, (&nomadapi.QueryOptions{}).WithContext(ctx)); err != nil || v == nil {
			return false, fmt.Errorf("read Nomad variable %s: %w", path, err)
		}
	}
	added, err := add(v.Items)
	if err != nil || !added {
		return false, err
	}
	if _, _, err := nomad.Variables().CheckedUpdate(v, (&nomadapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return false, fmt.Errorf("add %s to Nomad variable %s: %w", what, path, err)
	}
	return true, nil
}

// ensure reads the variable at path, checks it has every item, and
// creates it with make's items when it does not exist. It returns the
// variable it found (nil when it created it, or lost the race to create
// it), and whether it created it.
func ensure(ctx context.Context, nomad *nomadapi.Client, path string, items []string, make func() (nomadapi.VariableItems, error)) (*nomadapi.Variable, bool, error) {
	existing, _, err := nomad.Variables().Peek(path, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, false, fmt.Errorf("read Nomad variable %s: %w", path, err)
	}
	if existing != nil {
		for _, item := range items {
			if existing.Items[item] == "" {
				return nil, false, fmt.Errorf("Nomad variable %s lacks %q; remove it (nomad var purge %s) and deploy again to have new credentials made", path, item, path)
			}
		}
		return existing, false, nil
	}
	values, err := make()
	if err != nil {
		return nil, false, err
	}
	// Check-and-set on index 0: create only if nobody else did meanwhile.
	_, _, err = nomad.Variables().CheckedCreate(&nomadapi.Variable{Path: path, Items: values}, (&nomadapi.WriteOptions{}).WithContext(ctx))
	var conflict nomadapi.ErrCASConflict
	if errors.As(err, &conflict) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("create Nomad variable %s: %w", path, err)
	}
	return nil, true, nil
}

// Copy is one item copied from the variable at From, named As in the
// copy (a job that logs in to several coins' wallets holds each coin's).
type Copy struct {
	From, Item, As string
}

// EnsureCopies makes the variable at dst hold the copies of items of
// other variables, updating it when they differ: a job reads only its own
// variable, so the stratum servers, the ledger jobs and the housekeeping
// jobs get copies of the wallets' and the database's logins. It reports
// whether it wrote.
func EnsureCopies(ctx context.Context, nomad *nomadapi.Client, dst string, copies []Copy) (bool, error) {
	want := nomadapi.VariableItems{}
	read := map[string]*nomadapi.Variable{}
	for _, c := range copies {
		v, ok := read[c.From]
		if !ok {
			var err error
			v, _, err = nomad.Variables().Peek(c.From, (&nomadapi.QueryOptions{}).WithContext(ctx))
			if err != nil {
				return false, fmt.Errorf("read Nomad variable %s: %w", c.From, err)
			}
			if v == nil {
				return false, fmt.Errorf("Nomad variable %s does not exist", c.From)
			}
			read[c.From] = v
		}
		if v.Items[c.Item] == "" {
			return false, fmt.Errorf("Nomad variable %s lacks %q", c.From, c.Item)
		}
		want[c.As] = v.Items[c.Item]
	}
	existing, _, err := nomad.Variables().Peek(dst, (&nomadapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, fmt.Errorf("read Nomad variable %s: %w", dst, err)
	}
	v := &nomadapi.Variable{Path: dst, Items: want}
	if existing != nil {
		if maps.Equal(existing.Items, want) {
			return false, nil
		}
		v.ModifyIndex = existing.ModifyIndex
	}
	if _, _, err := nomad.Variables().CheckedUpdate(v, (&nomadapi.WriteOptions{}).WithContext(ctx)); err != nil {
		return false, fmt.Errorf("write Nomad variable %s: %w", dst, err)
	}
	return true, nil
}
