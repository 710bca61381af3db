// Package walletstart tells from a coin daemon's own output why it would
// not start, and what restart repairs it: litecoind killed mid-write
// leaves a block database it refuses to open, and says which rebuild it
// wants. The messages are Litecoin Core 0.21's (src/init.cpp,
// src/dbwrapper.cpp, src/validation.cpp).
package walletstart

import (
	"strings"
)

// Damage is what a daemon's output says is broken.
type Damage int

const (
	// Undamaged: no corruption in the output (the daemon may still have
	// failed, for reasons a reindex does not repair).
	Undamaged Damage = iota
	// Chainstate: the UTXO set (chainstate/) is unreadable or
	// inconsistent; the blocks are fine, -reindex-chainstate rebuilds it.
	Chainstate
	// BlockIndex: the block index (blocks/index/) or the block files
	// (blocks/blk*.dat) are broken; only -reindex rebuilds them.
	BlockIndex
	// BlockDatabase: one of the two databases failed to open and the
	// output does not say which (a checksum mismatch names no file).
	BlockDatabase
)

func (d Damage) String() string {
	switch d {
	case Chainstate:
		return "chainstate corrupt"
	case BlockIndex:
		return "block index corrupt"
	case BlockDatabase:
		return "block database corrupt"
	}
	return "no corruption"
}

// Flag is the daemon's option that rebuilds what a Damage names.
type Flag string

const (
	ReindexChainstate Flag = "-reindex-chainstate"
	Reindex           Flag = "-reindex"
)

// verdicts are the daemon's init errors that mean it cannot open or trust
// its block database, and what each says by itself about which part.
var verdicts = []struct {
	text   string
	damage Damage
}{
	// init.cpp: either database failed to open (a dbwrapper_error).
	{"Error opening block database", BlockDatabase},
	// init.cpp: LoadChainTip, ReplayBlocks, RewindBlockIndex or VerifyDB
	// failed.
	{"Corrupted block database detected", BlockDatabase},
	{"Error initializing block database", BlockDatabase},
	{"Error loading block database", BlockDatabase},
	// init.cpp: the index was built with other settings (txindex,
	// pruning, a missing genesis block).
	{"You need to rebuild the database using -reindex to", BlockIndex},
	// validation.cpp ReplayBlocks: a flush interrupted halfway.
	{"Unable to replay blocks", Chainstate},
}

// where are lines that name the part that is broken, logged before the
// init error that ends the start.
var where = []struct {
	text   string
	damage Damage
}{
	// dbwrapper.cpp HandleError logs "Fatal LevelDB error: <status>"; a
	// status with a file in it names the database.
	{"/chainstate/", Chainstate},
	{"/blocks/index/", BlockIndex},
	// validation.cpp: a block file truncated or overwritten.
	{"ReadBlockFromDisk", BlockIndex},
	{"ReadRawBlockFromDisk", BlockIndex},
	{"UndoReadFromDisk", BlockIndex},
}

// Classifier reads a daemon's output line by line (stdout and stderr
// alike) and says what it shows broken. Not safe for concurrent use.
type Classifier struct {
	corrupt  bool
	located  Damage
	evidence string
}

// Line feeds one line of output.
func (c *Classifier) Line(line string) {
	line = strings.TrimSpace(line)
	for _, v := range verdicts {
		if strings.Contains(line, v.text) {
			c.corrupt = true
			if v.damage != BlockDatabase && c.located == Undamaged {
				c.located = v.damage
			}
			if c.evidence == "" {
				c.evidence = v.text
			}
		}
	}
	if c.located != Undamaged {
		return
	}
	for _, w := range where {
		if strings.Contains(line, w.text) && (strings.Contains(line, "Fatal LevelDB error") || strings.Contains(line, "ERROR")) {
			c.located = w.damage
			c.evidence = trimTimestamp(line)
			return
		}
	}
}

// Damage is what the lines fed so far show broken.
func (c *Classifier) Damage() Damage {
	if !c.corrupt {
		return Undamaged
	}
	if c.located != Undamaged {
		return c.located
	}
	return BlockDatabase
}

// Evidence is the line that told, for a log line a person can check.
func (c *Classifier) Evidence() string { return c.evidence }

// trimTimestamp drops the daemon's "2026-12-02T15:11:17Z " prefix.
func trimTimestamp(line string) string {
	if len(line) > 21 && line[4] == '-' && line[10] == 'T' && line[20] == ' ' {
		return line[21:]
	}
	return line
}

// Next is the repair to try after a start that showed damage, given the
// repairs already tried (in order). The ladder is short and never loops:
// the cheaper -reindex-chainstate first where the chainstate may be all
// that is broken, -reindex after it failed or where the block index is
// broken, and nothing after a -reindex failed: the disk itself is then
// suspect and Nomad's restart and reschedule policies take over.
func Next(d Damage, tried []Flag) (Flag, bool) {
	if d == Undamaged {
		return "", false
	}
	for _, f := range tried {
		if f == Reindex {
			return "", false
		}
	}
	if d == BlockIndex || len(tried) > 0 {
		return Reindex, true
	}
	return ReindexChainstate, true
}
