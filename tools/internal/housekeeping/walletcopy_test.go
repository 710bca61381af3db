package housekeeping

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/walletprobe"
)

// fakeBDBWallet is bytes with a Berkeley DB btree's header, as a
// wallet.dat starts; the rest is not a database (this test only moves it).
func fakeBDBWallet(body string) []byte {
	return append([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x62, 0x31, 0x05, 0x00}, body...)
}

// Each day's copy lands in its own slot, keepDays slots that come round
// again: a wallet keeps its last keepDays days' copies with nothing ever
// deleted.
func TestWalletSlotsRotate(t *testing.T) {
	day0 := time.Date(2026, 11, 1, 3, 17, 0, 0, time.UTC)
	seen := map[string]bool{}
	for day := 0; day < 14; day++ {
		seen[WalletSlot(day0.AddDate(0, 0, day), 14)] = true
	}
	assert.Len(t, seen, 14, "fourteen days, fourteen slots")
	assert.Equal(t, WalletSlot(day0, 14), WalletSlot(day0.AddDate(0, 0, 14), 14), "the fifteenth day takes the first day's slot")
	assert.Equal(t, WalletSlot(day0, 14), WalletSlot(day0.Add(20*time.Hour), 14), "the same UTC day, the same slot")
	assert.Regexp(t, `^wallet-day(0[0-9]|1[0-3])\.dat$`, WalletSlot(day0, 14))
	assert.Equal(t, "wallet-day00.dat", WalletSlot(day0, 1))
}

// The copy is fetched from a real probe handler with the backup login and
// written whole into its slot on the backup volume; a download cut short,
// a refused login, a probe without backups, or something that is no
// wallet leave the slot's previous copy as it was and nothing partial.
func TestFetchWalletCopy(t *testing.T) {
	slot := WalletSlot(time.Date(2026, 11, 3, 3, 17, 0, 0, time.UTC), 3)
	daemonDir := t.TempDir()
	wallet := fakeBDBWallet(strings.Repeat("keys", 10000))
	require.NoError(t, os.WriteFile(filepath.Join(daemonDir, slot), wallet, 0o600))
	probe := httptest.NewServer((&walletprobe.Probe{Backups: &walletprobe.Backups{Dir: daemonDir, User: "pool-backup", Password: "right"}}).Handler())
	defer probe.Close()
	oldProbe := httptest.NewServer((&walletprobe.Probe{}).Handler())
	defer oldProbe.Close()
	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(wallet)))
		_, _ = w.Write(wallet[:len(wallet)/2]) // the server then drops the connection
	}))
	defer cut.Close()
	notAWallet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("<html>a proxy's error page, with a 200</html>"))
	}))
	defer notAWallet.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

	volume := t.TempDir()
	dir := filepath.Join(volume, WalletCopiesDir, "ltc", "1")
	w := WalletBackup{Coin: "ltc", Instance: "1", Client: chain.NewClient("unused:1", "pool-backup", "right"), Probe: host(probe)}
	to, size, err := fetchWalletCopy(context.Background(), w, slot, dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(volume, "wallets", "ltc", "1", slot), to, "the slot's name on the backup volume")
	assert.Equal(t, int64(len(wallet)), size)
	got, err := os.ReadFile(to)
	require.NoError(t, err)
	assert.Equal(t, wallet, got, "the daemon's copy, byte for byte")

	for _, tc := range []struct {
		name     string
		probe    string
		password string
		err      string
	}{
		{"cut short", host(cut), "right", "cut short after"},
		{"wrong login", host(probe), "wrong", "401 Unauthorized"},
		{"a probe without backups", host(oldProbe), "right", "404: the probe serves no such copy"},
		{"not a wallet", host(notAWallet), "right", "not a wallet database"},
		{"no probe answers", "127.0.0.1:1", "right", "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := w
			w.Probe, w.Client = tc.probe, chain.NewClient("unused:1", "pool-backup", tc.password)
			_, _, err := fetchWalletCopy(context.Background(), w, slot, dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
			got, err := os.ReadFile(to)
			require.NoError(t, err)
			assert.Equal(t, wallet, got, "the slot's previous copy is kept")
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, 1, "nothing partial left")
		})
	}
}
