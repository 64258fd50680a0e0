{{/*
The chart name (app.kubernetes.io/name).
*/}}
{{- define "postgres-reconciler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name every object starts with: the release name, plus the chart name unless the release
name contains it already. Kept to 52 characters: the CronJob controller appends an 11-character
suffix to its Jobs' names, which must stay within 63.
*/}}
{{- define "postgres-reconciler.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "postgres-reconciler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object; pass a dict with the root context and the component:
  include "postgres-reconciler.labels" (dict "ctx" . "component" "reconciler")
*/}}
{{- define "postgres-reconciler.labels" -}}
{{- $ctx := .ctx -}}
helm.sh/chart: {{ include "postgres-reconciler.chart" $ctx }}
{{ include "postgres-reconciler.selectorLabels" . }}
app.kubernetes.io/version: {{ $ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
app.kubernetes.io/part-of: postgres-reconciler
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Labels that select the pods of one component.
*/}}
{{- define "postgres-reconciler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "postgres-reconciler.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "postgres-reconciler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "postgres-reconciler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "postgres-reconciler.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
The namespaces whose manifests are reconciled, checked against the RBAC scope; also refuses the
configuration keys the chart sets itself.
*/}}
{{- define "postgres-reconciler.watchedNamespaces" -}}
{{- if hasKey .Values.config "watched_namespaces" }}
{{- fail "config.watched_namespaces is set by the chart: use the value watchedNamespaces instead" }}
{{- end }}
{{- if hasKey .Values.config "release_namespace" }}
{{- fail "config.release_namespace is set by the chart (always the release namespace): remove it" }}
{{- end }}
{{- if and (eq .Values.rbac.scope "namespaced") (empty .Values.watchedNamespaces) }}
{{- fail "rbac.scope namespaced needs the namespaces it may reconcile: set watchedNamespaces" }}
{{- end }}
{{- toJson (.Values.watchedNamespaces | default list | uniq) }}
{{- end }}

{{- define "postgres-reconciler.configMapName" -}}
{{- printf "%s-config" (include "postgres-reconciler.fullname" .) }}
{{- end }}

{{/*
The operator configuration file.
*/}}
{{- define "postgres-reconciler.configYaml" -}}
{{- $config := deepCopy .Values.config }}
{{- $namespaces := include "postgres-reconciler.watchedNamespaces" . | fromJsonArray }}
{{- if $namespaces }}
{{- $_ := set $config "watched_namespaces" $namespaces }}
{{- end }}
{{- if $config }}
{{- toYaml $config }}
{{- else }}
{{- "{}" }}
{{- end }}
{{- end }}

{{/*
Environment of both containers: who the pod is (the Lease's holder) and the release namespace
(where the Lease and the CronJob live).
*/}}
{{- define "postgres-reconciler.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: PGR_RELEASE_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "postgres-reconciler.volumeMounts" -}}
- name: config
  mountPath: /etc/postgres-reconciler
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- with .Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "postgres-reconciler.volumes" -}}
- name: config
  configMap:
    name: {{ include "postgres-reconciler.configMapName" . }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Pod spec fields both pods share: identity, security, scheduling.
*/}}
{{- define "postgres-reconciler.podCommon" -}}
serviceAccountName: {{ include "postgres-reconciler.serviceAccountName" . }}
automountServiceAccountToken: true
# No Service links: a Service named `pgr` would inject PGR_* variables,
# which the binary refuses as unknown configuration keys.
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  {{- include "postgres-reconciler.volumes" . | nindent 2 }}
{{- end }}

{{/* The ClusterRole the Spilo pods are bound to (configuration key pod_cluster_role_name). */}}
{{- define "postgres-reconciler.podClusterRole" -}}
{{- default "postgres-pod" (get (default dict .Values.config) "pod_cluster_role_name") -}}
{{- end }}

{{/*
Shards: `shards: N` (N > 1) installs a CronJob per shard, `<base>-shard-i-of-N`, each running
`apply --shard i/N` under a Lease of its own. The base is the full name, shortened so that a
shard's CronJob name stays within 52 characters. Every shard entry: its name, its `i/N` (empty
without shards) and its Lease.
*/}}
{{- define "postgres-reconciler.cronjobBase" -}}
{{- $fullname := include "postgres-reconciler.fullname" . -}}
{{- $n := int .Values.shards -}}
{{- if gt $n 1 -}}
{{- $longest := printf "-shard-%d-of-%d" (sub $n 1) $n -}}
{{- $fullname | trunc (int (sub 52 (len $longest))) | trimSuffix "-" -}}
{{- else -}}
{{- $fullname -}}
{{- end -}}
{{- end -}}

{{- define "postgres-reconciler.shards" -}}
{{- $base := include "postgres-reconciler.cronjobBase" . -}}
{{- $n := int .Values.shards -}}
{{- $out := list -}}
{{- if gt $n 1 -}}
{{- range $i := until $n -}}
{{- $suffix := printf "shard-%d-of-%d" $i $n -}}
{{- $out = append $out (dict "name" (printf "%s-%s" $base $suffix) "shard" (printf "%d/%d" $i $n) "index" $i "lease" (printf "postgres-reconciler-%s" $suffix)) -}}
{{- end -}}
{{- else -}}
{{- $out = append $out (dict "name" $base "shard" "" "index" 0 "lease" "postgres-reconciler") -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
A shard's schedule: an every-M-minutes schedule (minute field star-slash-M) is staggered, shard i
starting at minute i mod M, so the shards' runs spread out; other schedules are kept as they are.
*/}}
{{- define "postgres-reconciler.shardSchedule" -}}
{{- $schedule := .schedule -}}
{{- $step := regexFind "^\\*/[0-9]+ " $schedule -}}
{{- if and $step (gt (int .count) 1) -}}
{{- $m := $step | trimPrefix "*/" | trimSuffix " " | int -}}
{{- printf "%d-59/%d %s" (mod (int .index) $m) $m (regexReplaceAll "^\\*/[0-9]+ " $schedule "") -}}
{{- else -}}
{{- $schedule -}}
{{- end -}}
{{- end -}}
