#!/usr/bin/env bash
# What the discovery tests will do, by hand with curl and jq, against a real API server:
#   tests/peers/kube/curl-demo.sh BINDIR WORKDIR      (BINDIR: what build.sh OUTDIR built)
# Starts kube-harness --stdin-control, creates a namespace and a Pod without nodeName, writes
# its status (podIP 127.0.0.2, Ready) through /status, lists, watches, compacts etcd and shows
# the 410 of a watch from the old resourceVersion, creates a CRD and one of its objects,
# restarts the API server, and stops the harness by closing its stdin.
set -euo pipefail
bin=$1 dir=$2
mkdir -p "$dir"
coproc H { exec "$bin/kube-harness" --dir "$dir/work" --stdin-control 2>"$dir/harness.err"; }
read -r -t 180 line <&"${H[0]}"; echo "$line"
J=${line#READY }
S=$(jq -r .server <<<"$J"); T=$(jq -r .token <<<"$J"); CA=$(jq -r .ca <<<"$J")
k() { curl -sS --max-time 10 --cacert "$CA" -H "Authorization: Bearer $T" "$@"; }
step() { echo; echo "\$ $*"; }
step version; k "$S/version" | jq -c '{gitVersion,gitCommit,buildDate,goVersion}'
step create namespace; k -X POST "$S/api/v1/namespaces" -H 'content-type: application/json' -d '{"metadata":{"name":"demo"}}' | jq -c '{kind,name:.metadata.name}'
step create pod without nodeName
k -X POST "$S/api/v1/namespaces/demo/pods" -H 'content-type: application/json' -d '{"metadata":{"name":"m-0","labels":{"app":"model"}},"spec":{"containers":[{"name":"c","image":"x"}]}}' | jq -c '{name:.metadata.name,nodeName:.spec.nodeName,phase:.status.phase,rv:.metadata.resourceVersion}'
step patch /status
k -X PATCH "$S/api/v1/namespaces/demo/pods/m-0/status" -H 'content-type: application/merge-patch+json' -d '{"status":{"phase":"Running","podIP":"127.0.0.2","podIPs":[{"ip":"127.0.0.2"}],"conditions":[{"type":"Ready","status":"True"}]}}' | jq -c '{podIP:.status.podIP,podIPs:.status.podIPs,conditions:[.status.conditions[]|{type,status}],rv:.metadata.resourceVersion}'
step list pods
RV=$(k "$S/api/v1/namespaces/demo/pods" | tee "$dir/list.json" | jq -r .metadata.resourceVersion)
jq -c '{rv:.metadata.resourceVersion,items:[.items[]|{name:.metadata.name,podIP:.status.podIP}]}' "$dir/list.json"
step "watch from rv=$RV, then create m-1"
k -N --max-time 4 "$S/api/v1/namespaces/demo/pods?watch=1&resourceVersion=$RV" >"$dir/watch1.out" 2>/dev/null & w=$!
sleep 1
k -X POST "$S/api/v1/namespaces/demo/pods" -H 'content-type: application/json' -d '{"metadata":{"name":"m-1"},"spec":{"containers":[{"name":"c","image":"x"}]}}' | jq -c '{created:.metadata.name,rv:.metadata.resourceVersion}'
wait $w || true
jq -c '{type,name:.object.metadata.name,rv:.object.metadata.resourceVersion}' "$dir/watch1.out"
step compact etcd
echo compact >&"${H[1]}"; read -r -t 30 line <&"${H[0]}"; echo "$line"
step "watch from old rv=$RV"
k -N --max-time 4 "$S/api/v1/namespaces/demo/pods?watch=1&resourceVersion=$RV" -w 'HTTP %{http_code}\n' 2>/dev/null || true
step create CRD
k -X POST "$S/apis/apiextensions.k8s.io/v1/customresourcedefinitions" -H 'content-type: application/json' -d '{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"inferencepools.inference.networking.k8s.io","annotations":{"api-approved.kubernetes.io":"unapproved, test only"}},"spec":{"group":"inference.networking.k8s.io","scope":"Namespaced","names":{"plural":"inferencepools","singular":"inferencepool","kind":"InferencePool","listKind":"InferencePoolList"},"versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},"schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","x-kubernetes-preserve-unknown-fields":true},"status":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}}}]}}' | jq -c '{kind,name:.metadata.name}'
P="$S/apis/inference.networking.k8s.io/v1/namespaces/demo/inferencepools"
for i in $(seq 50); do
  code=$(k -o "$dir/pool.json" -w '%{http_code}' -X POST "$P" -H 'content-type: application/json' -d '{"apiVersion":"inference.networking.k8s.io/v1","kind":"InferencePool","metadata":{"name":"pool-a"},"spec":{"selector":{"matchLabels":{"app":"model"}},"targetPorts":[{"number":8000}]}}')
  [[ $code == 201 ]] && break; sleep 0.2
done
echo "create InferencePool: HTTP $code after $i tries"
step list InferencePools; k "$P" | jq -c '{kind,items:[.items[]|.metadata.name]}'
step restart kube-apiserver
echo restart-apiserver >&"${H[1]}"; read -r -t 180 line <&"${H[0]}"; echo "$line" | jq -Rc 'sub("^READY ";"")|fromjson|{server,apiserver_pid,apiserver_startup_ms}'
k "$S/api/v1/namespaces/demo/pods" | jq -c '[.items[].metadata.name]'
step wrong token; curl -sS -o /dev/null -w 'HTTP %{http_code}\n' --cacert "$CA" -H 'Authorization: Bearer nope' "$S/api/v1/pods"
step stop
exec {H[1]}>&-; wait "$H_PID"; echo "harness exited with $?"
