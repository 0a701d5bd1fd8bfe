{{/* The release's full name: the release name, with the chart's unless it already holds it. */}}
{{- define "infergate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "infergate.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "infergate.labels" -}}
{{ include "infergate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ .Values.mode }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "infergate.serviceAccountName" -}}
{{- default (include "infergate.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* The namespace the picker's pool lives in (epp mode). */}}
{{- define "infergate.poolNamespace" -}}
{{- default .Release.Namespace .Values.pool.namespace -}}
{{- end -}}

{{/* The namespace watched: --watch-namespace, or in epp mode the pool's; empty: every one. */}}
{{- define "infergate.watchNamespace" -}}
{{- if .Values.kubernetes.watchNamespace -}}
{{- .Values.kubernetes.watchNamespace -}}
{{- else if eq .Values.mode "epp" -}}
{{- include "infergate.poolNamespace" . -}}
{{- end -}}
{{- end -}}

{{/* Whether status is written: gateway mode, serving a named Gateway, status.enabled. */}}
{{- define "infergate.writesStatus" -}}
{{- if and (eq .Values.mode "gateway") .Values.kubernetes.gateway .Values.status.enabled -}}
true
{{- end -}}
{{- end -}}
