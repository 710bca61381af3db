# catch-up: read the pool's jobs and force a periodic job whose slot
# passed with no launch; nothing else.
namespace "default" {
  capabilities = ["list-jobs", "read-job", "dispatch-job"]
}
