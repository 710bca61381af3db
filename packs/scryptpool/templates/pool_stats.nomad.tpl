[[- $h := var "housekeeping" . -]]
[[ template "periodic" (dict "ctx" . "kind" "stats" "id" (printf "%s-stats" (var "pool_name" .)) "title" "statistics roll-up" "cron" $h.stats_cron "retries" 1 "cpu" $h.cpu_mhz "memory" $h.memory_mb "args" (list (printf "--database-service=%s-database" (var "pool_name" .)))) ]]
