package housekeeping

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/walletprobe"
)

// WalletCopiesDir is the directory, on the backup volume, of the wallets'
// copies: WalletCopiesDir/<coin>/<instance>/<slot>.
const WalletCopiesDir = "wallets"

// pathPart is what a coin or an instance must look like to name a
// directory on the backup volume: they come from Consul's catalog.
var pathPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// fetchTimeout bounds one copy's download: a wallet is megabytes, and a
// probe that stalls must not hold the other wallets' backups.
const fetchTimeout = 5 * time.Minute

// fetchWalletCopy downloads the copy named slot from the wallet's probe
// and writes it to dir/slot: beside under a temporary name, checked
// against the length the probe announced and for a wallet's header,
// synced, and only then renamed over the slot's previous copy. It returns
// the path and the size written.
func fetchWalletCopy(ctx context.Context, w WalletBackup, slot, dir string) (string, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	url := "http://" + w.Probe + walletprobe.BackupsPath + slot
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", 0, err
	}
	req.SetBasicAuth(w.Client.User, w.Client.Password)
	client := w.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", 0, fmt.Errorf("fetch %s: 404: the probe serves no such copy (a probe from before wallet backups left the node, or one without --backup-login-file)", url)
	case resp.StatusCode != http.StatusOK:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return "", 0, fmt.Errorf("fetch %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	case resp.ContentLength <= 0:
		return "", 0, fmt.Errorf("fetch %s: the probe gave no length (%d) to check the copy against", url, resp.ContentLength)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, err
	}
	final := filepath.Join(dir, slot)
	partial := final + ".partial"
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return "", 0, err
	}
	n, copyErr := io.Copy(f, io.LimitReader(resp.Body, resp.ContentLength+1))
	syncErr := f.Sync()
	closeErr := f.Close()
	fail := func(err error) (string, int64, error) {
		_ = os.Remove(partial)
		return "", 0, err
	}
	switch {
	case copyErr != nil:
		return fail(fmt.Errorf("fetch %s: cut short after %d of %d bytes: %w", url, n, resp.ContentLength, copyErr))
	case n != resp.ContentLength:
		return fail(fmt.Errorf("fetch %s: %d bytes where the probe announced %d", url, n, resp.ContentLength))
	case syncErr != nil:
		return fail(fmt.Errorf("write %s: %w", partial, syncErr))
	case closeErr != nil:
		return fail(fmt.Errorf("write %s: %w", partial, closeErr))
	}
	if err := checkWalletHeader(partial); err != nil {
		return fail(fmt.Errorf("fetch %s: %w", url, err))
	}
	if err := os.Rename(partial, final); err != nil {
		return fail(err)
	}
	if err := syncFile(dir); err != nil {
		return "", 0, err
	}
	return final, n, nil
}

// Headers of the wallet files litecoind writes: a Berkeley DB btree
// (legacy wallets; its magic at byte 12, in the writer's byte order) or
// SQLite (descriptor wallets).
var (
	bdbBtreeMagicLE = []byte{0x62, 0x31, 0x05, 0x00}
	bdbBtreeMagicBE = []byte{0x00, 0x05, 0x31, 0x62}
	sqliteHeader    = []byte("SQLite format 3\x00")
)

// checkWalletHeader refuses a file that is no wallet database at all (an
// error page, zeros): a copy that only looks like a backup is worse than
// none.
func checkWalletHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 16)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("too short for a wallet: %w", err)
	}
	magic := head[12:16]
	if bytes.Equal(magic, bdbBtreeMagicLE) || bytes.Equal(magic, bdbBtreeMagicBE) || bytes.Equal(head, sqliteHeader) {
		return nil
	}
	return fmt.Errorf("not a wallet database (neither Berkeley DB nor SQLite)")
}
