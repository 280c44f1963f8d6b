{{/*
Names. Object names are DNS labels, so everything is cut to 63 characters. fullname is cut to
52; a component's name adds a suffix ("-operator", "-router", "-operator-metrics") and goes
through gptoss.fitName, which keeps a name that fits as it is and cuts one that does not,
ending it with a hash of the whole, so names of releases that fit never change and two long
ones that share a prefix stay apart.
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

{{/*
"<prefix>-<suffix>" in at most .limit characters (63 if not given): as it is when it fits, else
the prefix cut short and 8 hex digits of the whole name's sha256 before the suffix, so the name
still ends with its component.
*/}}
{{- define "gptoss.fitName" -}}
{{- $limit := int (default 63 .limit) }}
{{- $name := printf "%s-%s" .prefix .suffix }}
{{- if le (len $name) $limit }}
{{- $name }}
{{- else }}
{{- $room := int (sub (sub $limit (len .suffix)) 10) }}
{{- printf "%s-%s-%s" (.prefix | trunc $room | trimSuffix "-") ($name | sha256sum | trunc 8) .suffix }}
{{- end }}
{{- end }}

{{/* The name of one of the release's namespaced objects: "<fullname>-<suffix>"; call with
(dict "root" $ "suffix" "operator-metrics"). */}}
{{- define "gptoss.componentName" -}}
{{- include "gptoss.fitName" (dict "prefix" (include "gptoss.fullname" .root) "suffix" .suffix) }}
{{- end }}

{{/* Names of cluster-scoped objects carry the namespace too: two releases of the same name in
two namespaces must not fight over one ClusterRole. Call with (dict "root" $ "suffix" "edit"). */}}
{{- define "gptoss.clusterName" -}}
{{- include "gptoss.fitName" (dict "prefix" (printf "%s-%s" .root.Release.Namespace (include "gptoss.fullname" .root)) "suffix" .suffix) }}
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
{{- include "gptoss.componentName" (dict "root" . "suffix" "operator") }}
{{- end }}

{{- define "gptoss.router.fullname" -}}
{{- include "gptoss.componentName" (dict "root" . "suffix" "router") }}
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
{{/* The TCP port of a URL: the one it names, else its scheme's (http 80, https 443, redis and
rediss 6379). */}}
{{- define "gptoss.urlPort" -}}
{{- $url := urlParse . }}
{{- $named := regexFind ":[0-9]+$" $url.host | trimPrefix ":" }}
{{- $schemes := dict "http" "80" "https" "443" "redis" "6379" "rediss" "6379" }}
{{- default (get $schemes $url.scheme) $named }}
{{- end }}

{{/*
Router egress to what router.config names by URL, as a YAML list of NetworkPolicy egress rules:
the providers' base_url ports in one rule (to networkPolicy.providerCIDRs when set), and each
static pod of router.config.models on its port (to that address alone when it is an IP).
*/}}
{{- define "gptoss.egress.configured" -}}
{{- $ports := list }}{{/* zero-padded, so that they sort as numbers */}}
{{- range .Values.router.config.providers | default list }}
{{- $ports = append $ports (printf "%05d" (int (include "gptoss.urlPort" .base_url))) }}
{{- end }}
{{- $rules := list }}
{{- with $ports | uniq | sortAlpha }}
{{- $rule := dict "ports" (list) }}
{{- range . }}
{{- $_ := set $rule "ports" (append $rule.ports (dict "port" (regexReplaceAll "^0+" . "" | int) "protocol" "TCP")) }}
{{- end }}
{{- with $.Values.networkPolicy.providerCIDRs }}
{{- $to := list }}
{{- range . }}
{{- $to = append $to (dict "ipBlock" (dict "cidr" .)) }}
{{- end }}
{{- $_ := set $rule "to" $to }}
{{- end }}
{{- $rules = append $rules $rule }}
{{- end }}
{{- range $model := .Values.router.config.models | default dict }}
{{- range dig "local" "pods" list ($model | default dict) }}
{{- $rule := dict "ports" (list (dict "port" (int (include "gptoss.urlPort" .)) "protocol" "TCP")) }}
{{- $host := (urlParse .).hostname }}
{{- if regexMatch "^[0-9]+(\\.[0-9]+){3}$" $host }}
{{- $_ := set $rule "to" (list (dict "ipBlock" (dict "cidr" (printf "%s/32" $host)))) }}
{{- else if contains ":" $host }}
{{- $_ := set $rule "to" (list (dict "ipBlock" (dict "cidr" (printf "%s/128" $host)))) }}
{{- end }}
{{- $rules = append $rules $rule }}
{{- end }}
{{- end }}
{{- with $rules | uniq }}
{{- toYaml . }}
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
{{/* At most 52 characters: the StatefulSet controller labels its pod with
controller-revision-hash "<name>-<10-character hash>", a label value of at most 63. */}}
{{- define "gptoss.store.fullname" -}}
{{- include "gptoss.fitName" (dict "prefix" (include "gptoss.fullname" .) "suffix" "store" "limit" 52) }}
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
{{- include "gptoss.urlPort" .Values.store.external.url }}
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

{{/* The embedded store's volumeClaimTemplates (a YAML list; empty without persistence). */}}
{{- define "gptoss.store.claimTemplates" -}}
{{- $p := .Values.store.embedded.persistence }}
{{- if $p.enabled }}
- metadata:
    name: data
    labels:
      {{- include "gptoss.selectorLabels" (dict "root" . "component" "store") | nindent 6 }}
  spec:
    accessModes: ["ReadWriteOnce"]
    {{- with $p.storageClassName }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ $p.size }}
{{- end }}
{{- end }}

{{/* A storage quantity in bytes ("1Gi" and "1024Mi" alike), or as written if it is not one. */}}
{{- define "gptoss.quantityBytes" -}}
{{- $units := dict "" 1.0 "k" 1e3 "K" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- $q := toString . }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $q }}
{{- $unit := trimPrefix $number $q }}
{{- if and $number (hasKey $units $unit) }}
{{- printf "%.0f" (mulf (float64 $number) (get $units $unit)) }}
{{- else }}
{{- $q }}
{{- end }}
{{- end }}

{{/* What of a list of volumeClaimTemplates a StatefulSet update may not change, as a string
to compare (the API server's defaults, such as volumeMode, left out). */}}
{{- define "gptoss.store.claimsKey" -}}
{{- $keys := list }}
{{- range . }}
{{- $storage := dig "spec" "resources" "requests" "storage" "" . }}
{{- $keys = append $keys (dict
  "name" (dig "metadata" "name" "" .)
  "labels" (dig "metadata" "labels" dict .)
  "accessModes" (dig "spec" "accessModes" list .)
  "storageClassName" (dig "spec" "storageClassName" "" .)
  "bytes" (include "gptoss.quantityBytes" $storage)) }}
{{- end }}
{{- toJson $keys }}
{{- end }}

{{/* A list of volumeClaimTemplates in words, for a message. */}}
{{- define "gptoss.store.claimsText" -}}
{{- $words := list }}
{{- range . }}
{{- $words = append $words (printf "claim %s of %s (storage class %s)" (dig "metadata" "name" "" .) (toString (dig "spec" "resources" "requests" "storage" "" .)) (dig "spec" "storageClassName" "the cluster's default" .)) }}
{{- end }}
{{- if $words }}{{ join ", " $words }}{{ else }}no volume claim (persistence off){{ end }}
{{- end }}

{{/*
Renders nothing; fails when the live store StatefulSet (found with `lookup`, so on `helm upgrade`
only) has other volumeClaimTemplates than these values ask for: the API server refuses to change
them in place, and the failure would come mid-upgrade with a message naming no value.
*/}}
{{- define "gptoss.store.claimsUnchanged" -}}
{{- $root := .root }}
{{- $name := include "gptoss.store.fullname" $root }}
{{- $ns := $root.Release.Namespace }}
{{- $live := lookup "apps/v1" "StatefulSet" $ns $name }}
{{- if $live }}
{{- $had := dig "spec" "volumeClaimTemplates" list $live }}
{{- if ne (include "gptoss.store.claimsKey" $had) (include "gptoss.store.claimsKey" .claims) }}
{{- $p := $root.Values.store.embedded.persistence }}
{{- $orphan := printf "`kubectl -n %s delete statefulset %s --cascade=orphan`" $ns $name }}
{{- $steps := "" }}
{{- if not $had }}
{{- $steps = printf "To turn persistence on: %s, run this helm upgrade again, then `kubectl -n %s delete pod %s-0` (the StatefulSet cannot add the claim to the pod it adopts, so it recreates it on the claim; the data of a store without persistence goes, as on any restart)." $orphan $ns $name }}
{{- else if not .claims }}
{{- $steps = printf "To turn persistence off: %s, then run this helm upgrade again (the new StatefulSet rolls the pod onto an emptyDir; the claim data-%s-0 is kept until you delete it)." $orphan $name }}
{{- else }}
{{- $steps = printf "To grow the claim, resize it first: `kubectl -n %s patch pvc data-%s-0 -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"%s\"}}}}'` (its storage class must allow volume expansion); then %s and run this helm upgrade again (the new StatefulSet adopts the pod as it is). A claim cannot shrink or change its storage class." $ns $name (toString $p.size) $orphan }}
{{- end }}
{{- fail (printf "store.embedded.persistence (enabled=%t, size=%s, storageClassName=%q) changes the volume claims of the store StatefulSet %s/%s, which has %s and these values ask for %s. Kubernetes cannot change a StatefulSet's volumeClaimTemplates in place, so the upgrade would be refused. %s Steps: the chart README, Store persistence" $p.enabled (toString $p.size) $p.storageClassName $ns $name (include "gptoss.store.claimsText" $had) (include "gptoss.store.claimsText" .claims) $steps) }}
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
