{{- define "reinstate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "reinstate.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "reinstate.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "reinstate.secretName" -}}
{{- default (include "reinstate.fullname" .) .Values.existingSecret -}}
{{- end -}}

{{/* The NATS URL: the bundled server's client service, or the external one. */}}
{{- define "reinstate.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s-nats:4222" .Release.Name -}}
{{- else -}}
{{- .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* A list as a TOML array of strings, for REINSTATE__… variables. */}}
{{- define "reinstate.tomlList" -}}
[{{ range $i, $e := . }}{{ if $i }}, {{ end }}{{ $e | quote }}{{ end }}]
{{- end -}}

{{/* A list of {id, secret} as a TOML array of inline tables, for REINSTATE__LINKS__KEYS. */}}
{{- define "reinstate.tomlKeys" -}}
[{{ range $i, $k := . }}{{ if $i }}, {{ end }}{id = {{ $k.id | quote }}, secret = {{ $k.secret | quote }}}{{ end }}]
{{- end -}}

{{/*
Environment variables carrying the secrets a pod of `role` needs (all, state or intake); absent
keys leave them unset. The intake gets the receivers' secrets and the link keys only: never the
Atlassian credentials, the admin token hashes or the SMTP password.
*/}}
{{- define "reinstate.secretEnv" -}}
{{- $name := include "reinstate.secretName" .root -}}
{{- $receivers := dict "REINSTATE__SOURCES__LOGIN__SECRETS" "login-secrets" "REINSTATE__SOURCES__OKTA__SECRETS" "okta-secrets" "REINSTATE__SOURCES__KEYCLOAK__SECRETS" "keycloak-secrets" "REINSTATE__SOURCES__KEYCLOAK__TOKENS" "keycloak-tokens" "REINSTATE__SOURCES__JSM__SECRETS" "jsm-secrets" -}}
{{- $state := dict "REINSTATE__DIRECTORY__API_TOKEN" "directory-api-token" "REINSTATE__ADMIN__TOKEN_SHA256" "admin-token-sha256" "REINSTATE__ADMIN__VIEWER_TOKEN_SHA256" "viewer-token-sha256" "REINSTATE__SMTP__PASSWORD" "smtp-password" "REINSTATE__DIRECTORY__ORG_API_KEY" "org-api-key" "REINSTATE__DIRECTORY__SCIM_TOKEN" "scim-token" -}}
{{- $vars := dict "REINSTATE__LINKS__KEYS" "link-keys" -}}
{{- if ne .role "state" }}{{ $vars = merge $vars $receivers }}{{ end -}}
{{- if ne .role "intake" }}{{ $vars = merge $vars $state }}{{ end -}}
{{- range $var, $key := $vars }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}

{{/* The state pod (the only pod, unless the topology is split). */}}
{{- define "reinstate.stateSelector" -}}
{{ include "reinstate.selector" . }}
app.kubernetes.io/component: state
{{- end -}}

{{/* The intake pods of the split topology. */}}
{{- define "reinstate.intakeSelector" -}}
{{ include "reinstate.selector" . }}
app.kubernetes.io/component: intake
{{- end -}}

{{- define "reinstate.intakeName" -}}
{{- printf "%s-intake" (include "reinstate.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Values that render but could not run: refused with the reason. */}}
{{- define "reinstate.check" -}}
{{- $split := eq .Values.topology "split" -}}
{{- if and $split (not (include "reinstate.natsUrl" .)) -}}
{{- fail "topology: split needs NATS: set nats.enabled (the bundled JetStream) or nats.url" -}}
{{- end -}}
{{- $replicas := int .Values.config.bus.replicas -}}
{{- if and .Values.nats.enabled (gt $replicas 1) -}}
{{- $cluster := .Values.nats.config.cluster | default dict -}}
{{- if not $cluster.enabled -}}
{{- fail (printf "config.bus.replicas: %d copies need a NATS cluster: set nats.config.cluster.enabled and nats.config.cluster.replicas" $replicas) -}}
{{- end -}}
{{- if lt (int ($cluster.replicas | default 1)) $replicas -}}
{{- fail (printf "config.bus.replicas: %d copies need at least as many NATS servers (nats.config.cluster.replicas is %v)" $replicas $cluster.replicas) -}}
{{- end -}}
{{- end -}}
{{- end -}}
