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

{{/* Environment variables carrying the secrets; absent keys leave them unset. */}}
{{- define "reinstate.secretEnv" -}}
{{- $name := include "reinstate.secretName" . -}}
{{- range $var, $key := dict "REINSTATE__SOURCES__LOGIN__SECRETS" "login-secrets" "REINSTATE__DIRECTORY__API_TOKEN" "directory-api-token" "REINSTATE__ADMIN__TOKEN_SHA256" "admin-token-sha256" "REINSTATE__ADMIN__VIEWER_TOKEN_SHA256" "viewer-token-sha256" "REINSTATE__SMTP__PASSWORD" "smtp-password" "REINSTATE__DIRECTORY__ORG_API_KEY" "org-api-key" "REINSTATE__DIRECTORY__SCIM_TOKEN" "scim-token" }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end -}}
