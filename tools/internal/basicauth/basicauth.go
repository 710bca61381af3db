// Package basicauth checks HTTP basic authentication against one login,
// for the pool's small internal servers (the archive's, the wallet
// probe's copies).
package basicauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
)

// Valid says whether r carries exactly user and password. Both are
// compared, whatever the first gives, and as hashes, so that the time
// taken shows neither where a guess differs nor the secrets' lengths.
func Valid(r *http.Request, user, password string) bool {
	u, p, ok := r.BasicAuth()
	hu, hp := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
	wu, wp := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	match := subtle.ConstantTimeCompare(hu[:], wu[:]) & subtle.ConstantTimeCompare(hp[:], wp[:])
	return ok && match == 1
}
