package stratum

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/scryptpool/poolmicrocloud/tools/internal/chain"
	"github.com/scryptpool/poolmicrocloud/tools/internal/ledger"
)

// ntimeAhead is how far past the template's time a miner may roll ntime;
// nodes accept blocks up to two hours ahead of their clock.
const ntimeAhead = 7200

func (c *session) submit(req *Request) bool {
	now := time.Now()
	if !c.allowSubmit(now) {
		c.srv.metrics.rejected.WithLabelValues("rate limited").Inc()
		c.logOnce("flood", "submits over the limit", "per_second", c.srv.cfg.SubmitsPerSecond)
		return c.refuse(req, CodeOther, "too many submits")
	}
	if !c.subscribed {
		c.srv.metrics.rejected.WithLabelValues("not subscribed").Inc()
		return c.refuse(req, CodeNotSubscribed, "not subscribed")
	}
	var params [5]string
	names := [5]string{"worker", "job id", "extranonce2", "ntime", "nonce"}
	for i := range params {
		s, err := req.StringParam(i, names[i])
		if err != nil {
			c.srv.metrics.rejected.WithLabelValues("malformed").Inc()
			return c.refuse(req, CodeOther, err.Error())
		}
		params[i] = s
	}
	w, ok := c.workers[strings.TrimSpace(params[0])]
	if !ok {
		c.srv.metrics.rejected.WithLabelValues("unauthorized").Inc()
		return c.refuse(req, CodeUnauthorized, "unauthorized worker")
	}
	job, status := c.srv.jobs.lookup(params[1], now)
	switch status {
	case jobUnknown:
		c.srv.metrics.rejected.WithLabelValues("job not found").Inc()
		c.write(failure(req.ID, CodeJobNotFound, "job not found"))
		return true
	case jobStale:
		c.srv.metrics.rejected.WithLabelValues("stale").Inc()
		c.write(failure(req.ID, CodeJobNotFound, "stale share: job "+params[1]+" is for an old block"))
		return true
	}
	extranonce2, err := hex.DecodeString(params[2])
	if err != nil || len(extranonce2) != Extranonce2Size {
		c.srv.metrics.rejected.WithLabelValues("malformed").Inc()
		return c.refuse(req, CodeOther, fmt.Sprintf("extranonce2 must be %d bytes of hex", Extranonce2Size))
	}
	ntime, err := chain.ParseHexUint32(params[3])
	if err != nil {
		c.srv.metrics.rejected.WithLabelValues("malformed").Inc()
		return c.refuse(req, CodeOther, "ntime must be 8 hex digits")
	}
	if ntime < job.Work.MinTime || ntime > job.Work.CurTime+ntimeAhead {
		c.srv.metrics.rejected.WithLabelValues("ntime out of range").Inc()
		return c.refuse(req, CodeOther, "ntime out of range")
	}
	nonce, err := chain.ParseHexUint32(params[4])
	if err != nil {
		c.srv.metrics.rejected.WithLabelValues("malformed").Inc()
		return c.refuse(req, CodeOther, "nonce must be 8 hex digits")
	}
	version := job.Work.Version
	// A sixth parameter is rolled version bits (BIP 310); we never offer
	// version rolling, so any must be zero.
	if vb, err := req.OptionalStringParam(5, "version bits"); err != nil || (vb != "" && vb != "00000000") {
		c.srv.metrics.rejected.WithLabelValues("malformed").Inc()
		return c.refuse(req, CodeOther, "version rolling is not offered")
	}

	extranonce := make([]byte, 0, ExtranonceSize)
	extranonce = append(append(extranonce, c.extranonce1...), extranonce2...)
	header := job.Work.Header(extranonce, ntime, nonce, version)
	digest := digestOf(header)
	if job.accepted(digest) {
		return c.duplicate(req)
	}
	hash := chain.ScryptHash(header)
	value := chain.HashValue(hash)

	c.wmu.Lock()
	difficulty, target := c.difficulty, c.target
	if job.Seq <= c.changedAtJob && c.prevDifficulty > 0 && c.prevDifficulty < difficulty {
		difficulty, target = c.prevDifficulty, c.prevTarget
	}
	c.wmu.Unlock()
	if value.Cmp(target) > 0 {
		c.srv.metrics.rejected.WithLabelValues("low difficulty").Inc()
		c.write(failure(req.ID, CodeLowDifficulty, "low difficulty share"))
		return c.misbehaved()
	}
	// Remembered only now that it met its difficulty: what a miner
	// sends costs it nothing, a share that counts costs it work.
	if !job.accept(digest) {
		return c.duplicate(req)
	}
	key := digest.String()
	isBlock := status == jobCurrent && value.Cmp(job.Work.Target) <= 0 && c.srv.jobs.blockCandidate(job)
	err = c.srv.sink.Add(ledger.Share{
		Key: key, Coin: c.srv.cfg.Coin, Address: w.address, Worker: w.name,
		Difficulty: difficulty, NetworkDifficulty: job.NetworkDifficulty,
		Height: job.Work.Height, Instance: c.srv.cfg.Instance, At: now.UTC(),
	})
	if errors.Is(err, ledger.ErrNotDurable) && !isBlock {
		// The journal's disk failed: the share will probably be written
		// all the same, but it is not promised.
		c.srv.metrics.rejected.WithLabelValues("pool busy").Inc()
		c.logOnce("journal", "share refused: the share journal could not write it to disk")
		c.write(failure(req.ID, CodeOther, "pool busy: share not recorded, keep mining"))
		return true
	}
	if errors.Is(err, ledger.ErrBufferFull) && !isBlock {
		// The database is behind by more than the buffer holds: say so
		// rather than accept a share nobody will be paid for.
		c.srv.metrics.rejected.WithLabelValues("pool busy").Inc()
		c.logOnce("busy", "share refused: the share buffer is full (database unreachable or slow)")
		c.write(failure(req.ID, CodeOther, "pool busy: share not recorded, keep mining"))
		return true
	}
	if isBlock {
		// A block is worth more than the share bookkeeping; submit it
		// even when the buffer is full.
		go c.srv.submitBlock(job, header, extranonce, w)
	}
	c.srv.metrics.accepted.Inc()
	c.srv.metrics.shareDone(w.address, difficulty, now)
	c.write(result(req.ID, true))

	c.wmu.Lock()
	c.vardiff.shares++
	next, change := c.srv.cfg.Vardiff.next(&c.vardiff, c.difficulty, now)
	c.wmu.Unlock()
	if change {
		c.setDifficulty(next)
	}
	return true
}

func (c *session) duplicate(req *Request) bool {
	c.srv.metrics.rejected.WithLabelValues("duplicate").Inc()
	c.write(failure(req.ID, CodeDuplicate, "duplicate share"))
	return c.misbehaved()
}

// shareDigest identifies a share for good: the header's double SHA-256.
// The header commits to the extranonces and the instance's coinbase tag,
// so equal digests mean the same work submitted twice. Kept as 32 bytes
// in a job's duplicate set, written as hex in the ledger.
type shareDigest [32]byte

func digestOf(header []byte) shareDigest {
	first := sha256.Sum256(header)
	return sha256.Sum256(first[:])
}

func (d shareDigest) String() string { return hex.EncodeToString(d[:]) }

// shareKey is a share's key in the ledger.
func shareKey(header []byte) string { return digestOf(header).String() }

func parseDifficulty(s string) (float64, error) {
	d, err := strconv.ParseFloat(s, 64)
	if err != nil || d <= 0 || math.IsInf(d, 0) || math.IsNaN(d) {
		return 0, fmt.Errorf("difficulty %q is not a positive number", s)
	}
	return d, nil
}
