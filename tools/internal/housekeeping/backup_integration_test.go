package housekeeping

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/secrets"
	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
	"github.com/scryptpool/poolmicrocloud/tools/internal/walletprobe"
)

const pgBin = "/usr/lib/postgresql/15/bin"

type backupEnv struct {
	pg     *testenv.Postgres
	wallet *testenv.Litecoind
	o      BackupOptions
}

func newBackupEnv(t *testing.T) *backupEnv {
	t.Helper()
	pg, db := startLedger(t)
	share(t, db, "ltc", "Lminer-in-the-dump", 42, 1, now)
	u, err := url.Parse(pg.DSN)
	require.NoError(t, err)
	password, _ := u.User.Password()
	port, err := strconv.Atoi(u.Port())
	require.NoError(t, err)
	// The backup job's login as the wallet job makes it: hashed in the
	// daemon's rpcauth, allowed backupwallet only.
	backupUser, backupPassword := secrets.WalletLoginUser("backup"), "backup-password"
	wallet := testenv.StartLitecoind(t, "-rpcauth="+secrets.RPCAuth(backupUser, backupPassword, "0123456789abcdef"),
		"-rpcwhitelist="+backupUser+":backupwallet", "-rpcwhitelistdefault=0")
	backupLogin := wallet.Client()
	backupLogin.User, backupLogin.Password = backupUser, backupPassword
	daemonDir := filepath.Join(wallet.DataDir, "backups")
	// The instance's probe, serving the daemon's copies to that login as
	// the wallet job's probe task does.
	probe := httptest.NewServer((&walletprobe.Probe{Backups: &walletprobe.Backups{Dir: daemonDir, User: backupUser, Password: backupPassword}}).Handler())
	t.Cleanup(probe.Close)
	return &backupEnv{pg: pg, wallet: wallet, o: BackupOptions{
		Dir: t.TempDir(), KeepDays: 3, PGBin: pgBin,
		Database: Database{Host: u.Hostname(), Port: uint16(port), Name: "pool", User: u.User.Username(), Password: password},
		Wallets: []WalletBackup{{Coin: "ltc", Instance: "0", Client: backupLogin, Dir: daemonDir,
			Probe: strings.TrimPrefix(probe.URL, "http://")}},
	}}
}

func dumps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "database"))
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Daily backups over a week with three days kept: the dumps of the last
// three days stay, each reads back with the data in it, and each wallet
// keeps three daily copies, on its own node and on the backup volume, the
// latter byte for byte the daemon's and loading as a wallet holding its
// keys.
func TestBackupRotatesAndRestores(t *testing.T) {
	e := newBackupEnv(t)
	ctx := context.Background()
	require.NoError(t, os.MkdirAll(e.o.Wallets[0].Dir, 0o755))
	poolAddress, err := e.wallet.Client().NewAddress(ctx)
	require.NoError(t, err)

	day0 := time.Date(2026, 11, 1, 3, 17, 0, 0, time.UTC)
	for day := 0; day < 7; day++ {
		e.o.Now = func() time.Time { return day0.AddDate(0, 0, day) }
		res, err := Backup(ctx, e.o)
		require.NoError(t, err, "day %d", day)
		assert.FileExists(t, res.Dump)
		assert.Positive(t, res.DumpBytes)
		require.Len(t, res.WalletsTo, 1)
		require.Len(t, res.WalletCopies, 1)
		slot := WalletSlot(e.o.Now(), e.o.KeepDays)
		assert.Equal(t, filepath.Join(e.o.Dir, "wallets", "ltc", "0", slot), res.WalletCopies[0], "day %d", day)
		assert.Contains(t, res.WalletsTo[0], res.WalletCopies[0], "the run says where the copy went")
		daemons, err := os.ReadFile(filepath.Join(e.o.Wallets[0].Dir, slot))
		require.NoError(t, err)
		copied, err := os.ReadFile(res.WalletCopies[0])
		require.NoError(t, err)
		assert.Equal(t, daemons, copied, "day %d: the backup volume holds the daemon's copy, byte for byte", day)
	}
	assert.Equal(t, []string{
		"pool-20261104T031700Z.dump", "pool-20261105T031700Z.dump", "pool-20261106T031700Z.dump", "pool-20261107T031700Z.dump",
	}, dumps(t, e.o.Dir), "three days kept, and the one exactly three days old")

	// The newest dump restores, as the README says, into a database that
	// then holds the share.
	restoredURL := e.pg.CreateDatabase(t, "restored")
	restore := exec.Command(filepath.Join(pgBin, "pg_restore"), "--clean", "--if-exists", "--dbname="+restoredURL,
		filepath.Join(e.o.Dir, "database", "pool-20261107T031700Z.dump"))
	out, err := restore.CombinedOutput()
	require.NoError(t, err, "%s", out)
	restoredDB, err := pgx.Connect(ctx, restoredURL)
	require.NoError(t, err)
	defer restoredDB.Close(ctx)
	var address string
	var difficulty float64
	require.NoError(t, restoredDB.QueryRow(ctx, `SELECT address, difficulty FROM shares`).Scan(&address, &difficulty))
	assert.Equal(t, "Lminer-in-the-dump", address)
	assert.Equal(t, 42.0, difficulty)

	// Three wallet slots on the wallet's node and on the backup volume,
	// and the backup volume's copy loads as a wallet with the key.
	copies, err := filepath.Glob(filepath.Join(e.o.Wallets[0].Dir, "wallet-day*.dat"))
	require.NoError(t, err)
	assert.Len(t, copies, 3)
	kept, err := os.ReadDir(filepath.Join(e.o.Dir, "wallets", "ltc", "0"))
	require.NoError(t, err)
	var names []string
	for _, k := range kept {
		names = append(names, k.Name())
	}
	assert.Equal(t, []string{filepath.Base(copies[0]), filepath.Base(copies[1]), filepath.Base(copies[2])}, names,
		"the same three slots on the backup volume, nothing partial")
	restored := filepath.Join(e.wallet.DataDir, "regtest", "wallets", "restored")
	require.NoError(t, os.MkdirAll(restored, 0o700))
	data, err := os.ReadFile(filepath.Join(e.o.Dir, "wallets", "ltc", "0", names[0]))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(restored, "wallet.dat"), data, 0o600))
	require.NoError(t, e.wallet.Client().Call(ctx, "loadwallet", []any{"restored"}, nil))
	restoredClient := e.wallet.Client()
	restoredClient.URL += "/wallet/restored"
	var info struct {
		IsMine bool `json:"ismine"`
	}
	require.NoError(t, restoredClient.Call(ctx, "getaddressinfo", []any{poolAddress}, &info))
	assert.True(t, info.IsMine, "the restored copy holds the pool address's key")
}

// The database down: the run fails saying so, leaves no partial dump and
// removes no old one; the wallets are still backed up. A wallet that does
// not answer is named, and the dump is still made.
func TestBackupFailuresAreNamedAndLoseNothing(t *testing.T) {
	e := newBackupEnv(t)
	ctx := context.Background()
	require.NoError(t, os.MkdirAll(e.o.Wallets[0].Dir, 0o755))
	old := time.Date(2026, 10, 1, 3, 17, 0, 0, time.UTC)
	e.o.Now = func() time.Time { return old }
	_, err := Backup(ctx, e.o)
	require.NoError(t, err)

	e.pg.Stop()
	e.o.Now = func() time.Time { return old.AddDate(0, 1, 0) }
	res, err := Backup(ctx, e.o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pg_dump of pool at 127.0.0.1:")
	assert.Equal(t, []string{"pool-20261001T031700Z.dump"}, dumps(t, e.o.Dir), "no partial dump, the old one kept")
	assert.Len(t, res.WalletsTo, 1, "the wallet is backed up all the same")
	e.pg.Start()

	dead := chain.NewClient("127.0.0.1:1", "u", "p")
	e.o.Wallets = append(e.o.Wallets, WalletBackup{Coin: "ltc", Instance: "1", Client: dead, Dir: "/chain/1/backups"})
	e.o.Now = func() time.Time { return old.AddDate(0, 1, 1) }
	res, err = Backup(ctx, e.o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ltc wallet 1 (http://127.0.0.1:1)")
	assert.NotEmpty(t, res.Dump, "the dump is made all the same")
	assert.Equal(t, []string{"pool-20261102T031700Z.dump"}, dumps(t, e.o.Dir),
		"a new dump, and the month-old one removed")
	assert.True(t, strings.HasPrefix(res.Removed[0], "pool-2026100"))
}
