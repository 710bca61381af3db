package walletstart_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scryptpool/poolmicrocloud/tools/internal/testenv"
	"github.com/scryptpool/poolmicrocloud/tools/internal/walletstart"
)

// syncBuffer collects output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// chainWithBlocks has a real regtest litecoind mine blocks and stop
// cleanly; it returns the stopped daemon (its datadir, ports and
// credentials) and the height.
func chainWithBlocks(t *testing.T, blocks int) (*testenv.Litecoind, int64) {
	t.Helper()
	// StartLitecoind's own client leaves an idle connection behind; the
	// daemon's stop waits for idle connections up to -rpcservertimeout.
	l := testenv.StartLitecoind(t, "-rpcservertimeout=1")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := l.Client()
	addr, err := c.NewAddress(ctx)
	require.NoError(t, err)
	_, err = c.GenerateToAddress(ctx, blocks, addr)
	require.NoError(t, err)
	height, err := c.BlockCount(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Call(ctx, "stop", nil, nil))
	require.NoError(t, l.Cmd.Wait())
	return l, height
}

// overwrite puts garbage in the middle of a file, as a write cut short by
// a power cut leaves it.
func overwrite(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.WriteAt(bytes.Repeat([]byte{0xa5}, 200), 100)
	require.NoError(t, err)
}

// manifest is the one MANIFEST-* file of a LevelDB directory.
func manifest(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	require.NoError(t, err)
	require.Len(t, m, 1, "MANIFEST files in %s", dir)
	return m[0]
}

// A real litecoind whose block database is corrupted on disk comes back
// under the supervisor, at the height it had, rebuilt with the flag its
// damage calls for; damage no rebuild repairs ends in a clear error after
// a bounded number of starts.
func TestSupervisorRepairsRealCorruption(t *testing.T) {
	if testing.Short() {
		t.Skip("runs litecoind")
	}
	cases := []struct {
		name    string
		corrupt func(t *testing.T, regtest string)
		// logged are the supervisor's lines, in order (regular expressions).
		logged []string
		// tried is nil when the daemon must come up.
		tried []walletstart.Flag
	}{
		{
			name: "chainstate MANIFEST removed",
			corrupt: func(t *testing.T, r string) {
				require.NoError(t, os.Remove(manifest(t, filepath.Join(r, "chainstate"))))
			},
			logged: []string{`^wallet ltc/0: chainstate corrupt \(Fatal LevelDB error: Corruption: CURRENT points to a non-existent file: NotFound: .*/regtest/chainstate/MANIFEST-\d+: No such file or directory\): restarting with -reindex-chainstate$`},
		},
		{
			name: "chainstate log overwritten",
			corrupt: func(t *testing.T, r string) {
				logs, err := filepath.Glob(filepath.Join(r, "chainstate", "*.log"))
				require.NoError(t, err)
				require.NotEmpty(t, logs)
				overwrite(t, logs[0])
			},
			logged: []string{`^wallet ltc/0: block database corrupt \(Error opening block database\): restarting with -reindex-chainstate$`},
		},
		{
			name: "block index MANIFEST removed",
			corrupt: func(t *testing.T, r string) {
				require.NoError(t, os.Remove(manifest(t, filepath.Join(r, "blocks", "index"))))
			},
			logged: []string{`^wallet ltc/0: block index corrupt \(Fatal LevelDB error: .*/regtest/blocks/index/MANIFEST-\d+: No such file or directory\): restarting with -reindex$`},
		},
		{
			name: "chainstate replaced by a file: no rebuild repairs it",
			corrupt: func(t *testing.T, r string) {
				dir := filepath.Join(r, "chainstate")
				require.NoError(t, os.RemoveAll(dir))
				require.NoError(t, os.WriteFile(dir, []byte("not a directory\n"), 0o600))
			},
			logged: []string{
				`^wallet ltc/0: block database corrupt \(Error opening block database\): restarting with -reindex-chainstate$`,
				`^wallet ltc/0: block database corrupt \(Error opening block database\): restarting with -reindex$`,
				`^wallet ltc/0: block database corrupt \(Error opening block database\) after -reindex: giving up$`,
			},
			tried: []walletstart.Flag{walletstart.ReindexChainstate, walletstart.Reindex},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, height := chainWithBlocks(t, 120)
			tc.corrupt(t, filepath.Join(l.DataDir, "regtest"))

			var stdout, stderr, log syncBuffer
			signals := make(chan os.Signal, 1)
			s := &walletstart.Supervisor{
				Name:    "ltc/0",
				Command: append([]string{l.Cmd.Path}, daemonArgs(l)...),
				Signals: signals,
				Stdout:  &stdout, Stderr: &stderr, Log: &log,
			}
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			defer func() {
				if t.Failed() {
					t.Logf("supervisor:\n%s\nstderr:\n%s\nlast stdout:\n%s", log.String(), stderr.String(), tail(stdout.String(), 30))
				}
			}()

			if tc.tried != nil {
				var err error
				select {
				case err = <-done:
				case <-time.After(2 * time.Minute):
					require.Fail(t, "the supervisor did not give up")
				}
				var exit *walletstart.ExitError
				require.ErrorAs(t, err, &exit)
				assert.Equal(t, 1, exit.Code)
				assert.Equal(t, tc.tried, exit.Tried)
				assert.Contains(t, err.Error(), "the rebuild did not repair it")
				assertLogged(t, log.String(), tc.logged)
				t.Logf("gave up after %d starts in %s: %v", len(tc.tried)+1, time.Since(start).Round(time.Millisecond), err)
				return
			}

			waitHeight(t, l, height, done)
			t.Logf("back at height %d in %s", height, time.Since(start).Round(time.Millisecond))
			// The tip is served before the import thread's last line:
			// the rebuild's end is what the daemon prints, not the height.
			waitLogged(t, &log, "finished", done)
			assertLogged(t, log.String(), tc.logged)
			assert.NoFileExists(t, filepath.Join(l.DataDir, walletstart.MarkerFile), "the rebuild is done")

			signals <- syscall.SIGTERM
			select {
			case err := <-done:
				require.NoError(t, err, "a daemon stopped by SIGTERM exits 0")
			case <-time.After(time.Minute):
				require.Fail(t, "the daemon did not stop on SIGTERM")
			}
		})
	}
}

// A -reindex-chainstate cut short by a kill goes on at the next start:
// the marker it left makes the supervisor pass the flag again.
func TestSupervisorResumesAnInterruptedRebuild(t *testing.T) {
	if testing.Short() {
		t.Skip("runs litecoind")
	}
	l, height := chainWithBlocks(t, 20)
	require.NoError(t, os.WriteFile(filepath.Join(l.DataDir, walletstart.MarkerFile), []byte("-reindex-chainstate\n"), 0o600))
	var stdout, log syncBuffer
	signals := make(chan os.Signal, 1)
	s := &walletstart.Supervisor{
		Name: "ltc/0", Command: append([]string{l.Cmd.Path}, daemonArgs(l)...),
		Signals: signals, Stdout: &stdout, Stderr: &stdout, Log: &log,
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	waitHeight(t, l, height, done)
	assert.Contains(t, log.String(), "wallet ltc/0: a -reindex-chainstate was interrupted")
	assert.Contains(t, stdout.String(), `Command-line arg: reindex-chainstate=""`)
	signals <- syscall.SIGTERM
	require.NoError(t, <-done)
	assert.NoFileExists(t, filepath.Join(l.DataDir, walletstart.MarkerFile))
}

// daemonArgs are the stopped daemon's arguments, printing to the console
// as the wallet job's daemon does.
func daemonArgs(l *testenv.Litecoind) []string {
	args := []string{}
	for _, a := range l.Cmd.Args[1:] {
		if a == "-printtoconsole=0" {
			a = "-printtoconsole=1"
		}
		args = append(args, a)
	}
	return append(args, "-nodebuglogfile")
}

// waitHeight polls the daemon's RPC until it reports height: a reindex
// answers RPC from its first blocks on and offers no event for the end.
func waitHeight(t *testing.T, l *testenv.Litecoind, height int64, done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := l.Client()
	for {
		call, callCancel := context.WithTimeout(ctx, time.Second)
		got, err := c.BlockCount(call)
		callCancel()
		if err == nil && got == height {
			return
		}
		select {
		case err := <-done:
			require.Fail(t, "the supervisor ended", "before the daemon reached height %d: %v", height, err)
		case <-ctx.Done():
			require.Fail(t, "the daemon did not come back", "height %d wanted, last answer %d (%v)", height, got, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitLogged waits until the supervisor's log holds want.
func waitLogged(t *testing.T, log *syncBuffer, want string, done <-chan error) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for !strings.Contains(log.String(), want) {
		select {
		case err := <-done:
			require.Fail(t, "the supervisor ended", "before it logged %q: %v", want, err)
		case <-deadline:
			require.Fail(t, "the supervisor did not log", "%q in:\n%s", want, log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func assertLogged(t *testing.T, log string, want []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(log), "\n")
	i := 0
	for _, l := range lines {
		if i < len(want) && regexp.MustCompile(want[i]).MatchString(l) {
			i++
		}
	}
	assert.Equal(t, len(want), i, "supervisor lines %q in order in:\n%s", want, log)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
