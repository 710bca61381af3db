package walletstart

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
	p := markerPath(datadir)
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write the rebuild marker: %w", err)
	}
	_, err = f.WriteString(string(flag) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
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
