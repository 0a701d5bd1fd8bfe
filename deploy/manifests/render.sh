#!/usr/bin/env bash
# Renders deploy/helm/infergate into the plain manifests beside this script, for those who
# install without Helm:
#   HELM=build/helm/helm deploy/manifests/render.sh
# gateway.yaml: gateway mode serving the Gateway infergate/inference-gateway (so writing status),
# the chart's defaults otherwise. epp.yaml: the endpoint picker for the
# InferencePool vllm-llama3-8b-instruct (upstream's example pool), its EndpointPickerConfig in
# the ConfigMap epp-config. Both in the namespace infergate, release infergate. The test suite
# renders them again and fails when these files are stale (tests/kube/helm_chart_test.cpp).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
chart="$here/../helm/infergate"
helm=${HELM:-helm}
header="# Rendered from deploy/helm/infergate by deploy/manifests/render.sh: edit the chart, not this."
render() {
  echo "$header"
  "$helm" template infergate "$chart" --namespace infergate "$@"
}
render --set kubernetes.gateway=infergate/inference-gateway > "$here/gateway.yaml"
render --set mode=epp --set pool.name=vllm-llama3-8b-instruct \
  --set kubernetes.pickerConfigMap=epp-config > "$here/epp.yaml"
