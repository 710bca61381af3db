[[ template "coin" (dict "ctx" . "index" 1 "kind" "wallet") ]]
