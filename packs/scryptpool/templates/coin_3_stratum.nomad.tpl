[[ template "coin" (dict "ctx" . "index" 3 "kind" "stratum") ]]
