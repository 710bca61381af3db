package dbarchive

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// program runs one of PostgreSQL's client programs with the replication
// login's password in its environment (never on its command line), its
// stderr passed to log line by line, and SIGINT when ctx ends (both
// programs then stop cleanly: pg_receivewal flushes what it received).
// It returns the last line the program wrote with the error.
func program(ctx context.Context, pgBin, name, password string, log func(string), args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(pgBin, name), args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC", "PGPASSWORD=" + password, "PGCONNECT_TIMEOUT=5"}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 15 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	var last string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			last = strings.TrimPrefix(line, name+": ")
			log(name + ": " + last)
		}
	}()
	wg.Wait()
	err = cmd.Wait()
	if err != nil && ctx.Err() == nil {
		if last != "" {
			return fmt.Errorf("%s: %s", name, last)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// checkPrograms says which of PostgreSQL's programs is missing.
func checkPrograms(pgBin string, names ...string) error {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(pgBin, n)); err != nil {
			return fmt.Errorf("%s is missing from %s: install postgresql-client-15, or give the directory that has it", n, pgBin)
		}
	}
	return nil
}
