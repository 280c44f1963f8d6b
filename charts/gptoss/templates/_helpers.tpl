{{/*
Names. Object names are DNS labels, so everything is cut to 63 characters; component suffixes
("-operator", "-router") are added after the cut, so fullname leaves room for them (52).
*/}}
{{- define "gptoss.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "gptoss.fullname" -}}
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

{{/* Names of cluster-scoped objects carry the namespace too: two releases of the same name in
two namespaces must not fight over one ClusterRole. */}}
{{- define "gptoss.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "gptoss.fullname" .) }}
{{- end }}

{{- define "gptoss.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gptoss.labels" -}}
helm.sh/chart: {{ include "gptoss.chart" . }}
app.kubernetes.io/name: {{ include "gptoss.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gptoss
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component; call with (dict "root" $ "component" "router"). */}}
{{- define "gptoss.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gptoss.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "gptoss.componentLabels" -}}
{{ include "gptoss.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "gptoss.operator.fullname" -}}
{{- printf "%s-operator" (include "gptoss.fullname" .) }}
{{- end }}

{{- define "gptoss.router.fullname" -}}
{{- printf "%s-router" (include "gptoss.fullname" .) }}
{{- end }}

{{- define "gptoss.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (include "gptoss.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else }}
{{- required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gptoss.router.serviceAccountName" -}}
{{- if .Values.router.serviceAccount.create }}
{{- default (include "gptoss.router.fullname" .) .Values.router.serviceAccount.name }}
{{- else }}
{{- required "router.serviceAccount.name is required when router.serviceAccount.create is false" .Values.router.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference: repository, then @digest if given, else :tag (default appVersion). */}}
{{- define "gptoss.image" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (default .appVersion .tag) }}
{{- end }}
{{- end }}

{{/* The namespaces the router follows, as a JSON list; empty means every namespace. */}}
{{- define "gptoss.router.discoveryNamespaces" -}}
{{- default .Values.operator.watchNamespaces .Values.router.discovery.namespaces | toJson }}
{{- end }}

{{/* Whether the router watches the cluster (and so needs a token and RBAC). */}}
{{- define "gptoss.router.watches" -}}
{{- if eq .Values.router.discovery.mode "kubernetes" }}true{{ end }}
{{- end }}

{{- define "gptoss.keysDir" -}}
/etc/gptoss/keys
{{- end }}

{{/*
The router's configuration file: the user's router.config, with every secretKey turned into a
key_file under the mounted keys Secret, and the listener and discovery set by the chart.
*/}}
{{- define "gptoss.router.config" -}}
{{- $config := deepCopy .Values.router.config }}
{{- $keysDir := include "gptoss.keysDir" . }}
{{- $withKeys := list }}
{{- range $section := list "providers" "apps" }}
{{- $entries := list }}
{{- range (get $config $section | default list) }}
{{- $entry := omit . "secretKey" }}
{{- if .secretKey }}
{{- if not $.Values.router.keys.existingSecret }}
{{- fail (printf "router.config.%s[%s] names secretKey %q but router.keys.existingSecret is empty" $section .name .secretKey) }}
{{- end }}
{{- $_ := set $entry "key_file" (printf "%s/%s" $keysDir .secretKey) }}
{{- else if eq $section "apps" }}
{{- fail (printf "router.config.apps[%s] needs a secretKey: the router accepts an app only with a key" .name) }}
{{- end }}
{{- $entries = append $entries $entry }}
{{- end }}
{{- $_ := set $config $section $entries }}
{{- end }}
{{- $_ := set $config "host" "0.0.0.0" }}
{{- $_ := set $config "port" (int .Values.router.port) }}
{{- $_ := set $config "log_level" .Values.router.logLevel }}
{{- $_ := set $config "discovery" .Values.router.discovery.mode }}
{{- if include "gptoss.router.watches" . }}
{{- $_ := set $config "namespaces" (include "gptoss.router.discoveryNamespaces" . | fromJsonArray) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* NetworkPolicy egress rules: DNS, and the API server (call with .Values.networkPolicy). */}}
{{- define "gptoss.egress.dns" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end }}
{{- define "gptoss.egress.apiserver" -}}
- ports:
    {{- range .apiServerPorts }}
    - port: {{ . }}
      protocol: TCP
    {{- end }}
  {{- with .apiServerCIDRs }}
  to:
    {{- range . }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  {{- end }}
{{- end }}
{{/* vLLM pods of every GptOssDeployment (labelled by the operator), in any namespace. */}}
{{- define "gptoss.egress.vllm" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          app.kubernetes.io/managed-by: gptoss-operator
          app.kubernetes.io/component: vllm
  ports:
    - port: 8000
      protocol: TCP
{{- end }}

{{/*
The shared state store (store.mode): "embedded" (a Redis-compatible server the chart runs),
"external" (store.external.url) or "none" (state in each router process: one replica only).
*/}}
{{- define "gptoss.store.fullname" -}}
{{- printf "%s-store" (include "gptoss.fullname" .) }}
{{- end }}

{{- define "gptoss.store.port" -}}
6379
{{- end }}

{{- define "gptoss.store.dir" -}}
/etc/gptoss/store
{{- end }}

{{- define "gptoss.store.caDir" -}}
/etc/gptoss/store-ca
{{- end }}

{{/* The Secret holding the store password and its key; empty name: no password. */}}
{{- define "gptoss.store.secretName" -}}
{{- if eq .Values.store.mode "embedded" }}
{{- default (include "gptoss.store.fullname" .) .Values.store.existingSecret }}
{{- else if eq .Values.store.mode "external" }}
{{- .Values.store.external.existingSecret }}
{{- end }}
{{- end }}

{{- define "gptoss.store.secretKey" -}}
{{- if eq .Values.store.mode "external" }}
{{- .Values.store.external.secretKey }}
{{- else if .Values.store.existingSecret }}
{{- .Values.store.secretKey }}
{{- else -}}
password
{{- end }}
{{- end }}

{{/* The URL the router connects to, never with a password in it. */}}
{{- define "gptoss.store.url" -}}
{{- if eq .Values.store.mode "embedded" }}
{{- printf "redis://%s.%s.svc:%s/0" (include "gptoss.store.fullname" .) .Release.Namespace (include "gptoss.store.port" .) }}
{{- else if eq .Values.store.mode "external" }}
{{- .Values.store.external.url }}
{{- end }}
{{- end }}

{{/* The TCP port of store.external.url (6379 when it names none). */}}
{{- define "gptoss.store.externalPort" -}}
{{- $host := (urlParse .Values.store.external.url).host }}
{{- $port := regexFind ":[0-9]+$" $host | trimPrefix ":" }}
{{- default "6379" $port }}
{{- end }}

{{/*
Checks of the store values that the schema cannot express; renders nothing. Called by the
router Deployment, so every install runs them.
*/}}
{{- define "gptoss.store.validate" -}}
{{- $s := .Values.store }}
{{- $r := .Values.router }}
{{- if eq $s.mode "none" }}
{{- if or (gt (int $r.replicas) 1) $r.autoscaling.enabled }}
{{- fail (printf "store.mode=none keeps rate limits, budgets and conversations inside each router process, so it allows exactly one router: set router.replicas=1 and router.autoscaling.enabled=false (now router.replicas=%d, router.autoscaling.enabled=%t), or use store.mode=embedded or store.mode=external" (int $r.replicas) $r.autoscaling.enabled) }}
{{- end }}
{{- else if eq $s.mode "external" }}
{{- if not $s.external.url }}
{{- fail "store.mode=external needs store.external.url (redis://host:port/db, or rediss:// for TLS)" }}
{{- end }}
{{- if and $s.external.ca.existingSecret (not (hasPrefix "rediss://" $s.external.url)) }}
{{- fail "store.external.ca is for TLS: store.external.url must start with rediss://" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The embedded store's configuration file. The password is not in it: an init container writes
`requirepass` from the Secret into auth.conf on a memory volume, which this file includes.
*/}}
{{- define "gptoss.store.config" -}}
{{- $e := .Values.store.embedded -}}
bind * -::*
port {{ include "gptoss.store.port" . }}
dir /data
# No snapshots; with persistence, an append-only file fsynced every second.
save ""
appendonly {{ ternary "yes" "no" $e.persistence.enabled }}
appendfsync everysec
maxmemory {{ $e.maxmemory }}
maxmemory-policy {{ $e.maxmemoryPolicy }}
include /run/gptoss-store/auth.conf
{{- end }}
