# catch-up: read the pool's jobs and force a periodic job whose slot
# passed with no launch (dispatch-job; it would also allow dispatching a
# parameterized job, which the pool has none of).
namespace "default" {
  capabilities = ["list-jobs", "read-job", "dispatch-job"]
}
