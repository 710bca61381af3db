package cli_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/scryptpool/poolmicrocloud/tools/internal/cli"
)

// poolctl wallet daemon passes the daemon's output through and ends with
// its exit status; a command line it cannot supervise is invalid input.
func TestWalletDaemonCommandLine(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no daemon", []string{"wallet", "daemon", "--name=ltc/0"}, cli.ExitInvalid, "", "no daemon command"},
		{"no datadir", []string{"wallet", "daemon", "--", "/bin/true"}, cli.ExitInvalid, "", "no -datadir="},
		{"exit status passed through", []string{"wallet", "daemon", "--name=ltc/0", "--", "/bin/sh", "-c", "echo started; echo failing >&2; exit 7", "sh", "-datadir=" + dir}, 7, "started\n", "failing\n"},
		{"clean exit", []string{"wallet", "daemon", "--", "/bin/sh", "-c", "exit 0", "sh", "-datadir=" + dir}, cli.ExitOK, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			assert.Equal(t, tc.code, code, "stderr: %s", stderr)
			assert.Equal(t, tc.stdout, stdout)
			assert.Contains(t, stderr, tc.stderr)
		})
	}
}
