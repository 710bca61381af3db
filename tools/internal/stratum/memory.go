package stratum

// What a connection costs, and how many fit in the task's memory.
//
// connectionBytes is the most one connection can make the server hold:
// 29.6 KiB of Go memory (heap and goroutine stack, measured by
// TestConnectionMemory over 300 real TCP connections that each authorize
// MaxWorkersPerConnection workers with names of MaxWorkerNameBytes and
// leave a message of nearly MaxLineBytes unfinished; a miner as most are
// holds 6-7 KiB), plus maxHeldBytes of answers that a write to a miner
// that does not read may carry for up to WriteTimeout, rounded up. The
// kernel's socket buffers come on top and are charged to the task: an
// idle socket holds none, a stalled one its send buffer until
// WriteTimeout drops it; baselineBytes' margin is for those.
const connectionBytes = 48 << 10

// baselineBytes is the rest of the process: `poolctl stratum` serving no
// miner is 20 MiB resident (measured on amd64 with its wallet and
// database away), and a full share buffer (100,000 shares of about 200
// bytes, the database away for long) adds about 24 MiB.
const baselineBytes = 48 << 20

// Connections get three quarters of what the baseline leaves; the rest
// is headroom for the garbage collector (with goMemoryLimit set, it
// collects harder rather than let the heap outgrow the task) and the
// kernel's socket buffers.
const connectionShare = 0.75

// minConnections is the least the cap goes to, however small the task:
// below it a pool is not worth running, and the operator is told.
const minConnections = 64

// connectionsThatFit is how many connections a task of limitMiB holds
// besides the process itself; 0 when the limit is not known.
func connectionsThatFit(limitMiB int) int {
	if limitMiB <= 0 {
		return 0
	}
	return max(minConnections, int(float64(limitMiB<<20-baselineBytes)*connectionShare)/connectionBytes)
}

// goMemoryLimit is the Go runtime's soft memory limit for a task of
// limitMiB: near it the collector works harder instead of letting the
// heap grow to twice what is live (GOGC) and past the task's limit. A
// tenth is left for what is not Go's: the binary's pages, the kernel's
// socket buffers.
func goMemoryLimit(limitMiB int) int64 { return int64(limitMiB) << 20 * 9 / 10 }

// capConnections is cfg.MaxConnections lowered to what fits in
// cfg.MemoryLimitMiB, said once in the log: a MaxConnections above the
// task's memory lets miners (or one attacker) get the server killed for
// memory, every miner with it.
func capConnections(cfg Config) int {
	fit := connectionsThatFit(cfg.MemoryLimitMiB)
	if fit == 0 {
		return cfg.MaxConnections
	}
	args := []any{"memory_limit_mib", cfg.MemoryLimitMiB, "per_connection_kib", connectionBytes >> 10, "reserved_mib", baselineBytes >> 20}
	switch {
	case fit == minConnections:
		need := baselineBytes + int(minConnections*connectionBytes/connectionShare)
		cfg.Log.Warn("the task's memory is below what the stratum server needs; raise the stratum task's memory",
			append(args, "max_connections", fit, "needs_mib", (need+1<<20-1)>>20)...)
	case cfg.MaxConnections > 0 && cfg.MaxConnections <= fit:
		cfg.Log.Info("connection limit fits the task's memory", append(args, "max_connections", cfg.MaxConnections, "would_fit", fit)...)
		return cfg.MaxConnections
	default:
		cfg.Log.Info("connection limit lowered to fit the task's memory", append(args, "max_connections", fit, "asked", cfg.MaxConnections)...)
	}
	return fit
}
