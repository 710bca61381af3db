package walletstart

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// The lines are litecoind 0.21.2.1's own (stdout with -printtoconsole=1,
// then the init error on stderr), from the corruptions named.
func TestClassifier(t *testing.T) {
	cases := []struct {
		name     string
		output   string
		damage   Damage
		evidence string
	}{
		{"clean start", `2026-12-02T15:11:32Z init message: Loading block index...
2026-12-02T15:11:32Z init message: Done loading`, Undamaged, ""},
		{"chainstate MANIFEST removed", `2026-12-02T15:11:17Z init message: Loading block index...
2026-12-02T15:11:17Z Fatal LevelDB error: Corruption: CURRENT points to a non-existent file: NotFound: /chain/0/regtest/chainstate/MANIFEST-000002: No such file or directory
2026-12-02T15:11:17Z : Error opening block database.
Please restart with -reindex or -reindex-chainstate to recover.
: Error opening block database.`, Chainstate,
			"Fatal LevelDB error: Corruption: CURRENT points to a non-existent file: NotFound: /chain/0/regtest/chainstate/MANIFEST-000002: No such file or directory"},
		{"block index MANIFEST removed", `2026-12-02T15:11:17Z Fatal LevelDB error: Corruption: CURRENT points to a non-existent file: NotFound: /chain/1/regtest/blocks/index/MANIFEST-000002: No such file or directory
2026-12-02T15:11:17Z : Error opening block database.
Please restart with -reindex or -reindex-chainstate to recover.`, BlockIndex,
			"Fatal LevelDB error: Corruption: CURRENT points to a non-existent file: NotFound: /chain/1/regtest/blocks/index/MANIFEST-000002: No such file or directory"},
		{"a log overwritten: the checksum names no database", `2026-12-02T15:11:17Z Fatal LevelDB error: Corruption: checksum mismatch
2026-12-02T15:11:17Z Fatal LevelDB error: Corruption: checksum mismatch
2026-12-02T15:11:17Z : Error opening block database.
Please restart with -reindex or -reindex-chainstate to recover.`, BlockDatabase, "Error opening block database"},
		{"block file truncated", `2026-12-02T15:11:32Z ERROR: ReadBlockFromDisk: Deserialize or I/O error - CAutoFile::read: end of file: iostream error at FlatFilePos(nFile=0, nPos=28402)
2026-12-02T15:11:32Z init message: Verifying blocks...
2026-12-02T15:11:32Z ERROR: VerifyDB(): *** ReadBlockFromDisk failed at 110, hash=c876f1218da6646c0821fdac8473f3d455c50e38a3082d8281ee24b0b2558287
2026-12-02T15:11:32Z : Corrupted block database detected.
Please restart with -reindex or -reindex-chainstate to recover.`, BlockIndex,
			"ERROR: ReadBlockFromDisk: Deserialize or I/O error - CAutoFile::read: end of file: iostream error at FlatFilePos(nFile=0, nPos=28402)"},
		{"a -reindex that failed", `2026-12-02T15:12:16Z Command-line arg: reindex=""
2026-12-02T15:12:16Z init message: Loading block index...
2026-12-02T15:12:16Z Error: Error opening block database
Error: Error opening block database`, BlockDatabase, "Error opening block database"},
		{"settings changed", `2026-12-02T15:12:16Z Error: You need to rebuild the database using -reindex to go back to unpruned mode.  This will redownload the entire blockchain`, BlockIndex,
			"You need to rebuild the database using -reindex to"},
		{"replay interrupted", `2026-12-02T15:12:16Z Error: Unable to replay blocks. You will need to rebuild the database using -reindex-chainstate.`, Chainstate, "Unable to replay blocks"},
		{"a read error without an init error is no verdict", `2026-12-02T15:11:32Z ERROR: ReadBlockFromDisk: Deserialize or I/O error`, Undamaged, "ERROR: ReadBlockFromDisk: Deserialize or I/O error"},
		{"port taken", `2026-12-02T15:12:16Z Error: Unable to bind to 127.0.0.1:18444 on this computer. Litecoin Core is probably already running.`, Undamaged, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Classifier
			for _, line := range strings.Split(tc.output, "\n") {
				c.Line(line)
			}
			assert.Equal(t, tc.damage, c.Damage())
			assert.Equal(t, tc.evidence, c.Evidence())
		})
	}
}

func TestNext(t *testing.T) {
	cases := []struct {
		name   string
		damage Damage
		tried  []Flag
		want   Flag
		ok     bool
	}{
		{"no damage: nothing to rebuild", Undamaged, nil, "", false},
		{"chainstate", Chainstate, nil, ReindexChainstate, true},
		{"which database unknown: the cheaper rebuild first", BlockDatabase, nil, ReindexChainstate, true},
		{"block index", BlockIndex, nil, Reindex, true},
		{"chainstate rebuild failed: full reindex", BlockDatabase, []Flag{ReindexChainstate}, Reindex, true},
		{"chainstate still corrupt after its rebuild", Chainstate, []Flag{ReindexChainstate}, Reindex, true},
		{"full reindex failed: give up", BlockDatabase, []Flag{ReindexChainstate, Reindex}, "", false},
		{"a resumed reindex failed: give up", BlockIndex, []Flag{Reindex}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Next(tc.damage, tc.tried)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestRebuildWatch(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		done  bool
	}{
		{"import finished", []string{"Reindexing finished", "Imported mempool transactions from disk: 0 succeeded", "loadblk thread exit"}, true},
		{"stopped during the import", []string{"Shutdown: In progress...", "Shutdown requested. Exit ThreadImport", "loadblk thread exit"}, false},
		{"still importing", []string{"Reindexing block file blk00000.dat..."}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w rebuildWatch
			done := false
			for _, l := range tc.lines {
				done = w.line("2026-12-02T15:11:27Z "+l) || done
			}
			assert.Equal(t, tc.done, done)
		})
	}
}
