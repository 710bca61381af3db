package walletstart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/scryptpool/poolmicrocloud/tools/internal/durable"
)

// MarkerFile, in the daemon's datadir, records a rebuild under way. A
// -reindex-chainstate interrupted (another kill, a power cut) leaves a
// half-built chainstate that the daemon opens without complaint unless it
// is given the flag again; the marker makes the next start pass it.
const MarkerFile = "poolctl-reindex"

func markerPath(datadir string) string { return filepath.Join(datadir, MarkerFile) }

// readMarker returns the rebuild recorded in datadir, if any.
func readMarker(datadir string) (Flag, error) {
	b, err := os.ReadFile(markerPath(datadir))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the rebuild marker: %w", err)
	}
	switch f := Flag(strings.TrimSpace(string(b))); f {
	case ReindexChainstate, Reindex:
		return f, nil
	default:
		return "", fmt.Errorf("rebuild marker %s holds %q, not %s or %s", markerPath(datadir), f, ReindexChainstate, Reindex)
	}
}

// writeMarker records flag durably before the daemon starts with it.
func writeMarker(datadir string, flag Flag) error {
	if err := durable.WriteFile(markerPath(datadir), []byte(string(flag)+"\n"), 0o666); err != nil {
		return fmt.Errorf("write the rebuild marker: %w", err)
	}
	return nil
}

func removeMarker(datadir string) error {
	if err := os.Remove(markerPath(datadir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the rebuild marker: %w", err)
	}
	return nil
}
