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
{{/*
The Secret's keys a pod of this role gets, by the variable each sets: receivers' secrets and the
link keys in intake pods, the rest in the state pod (both in a single pod).
*/}}
{{- define "reinstate.secretVars" -}}
{{- $receivers := dict "REINSTATE__SOURCES__LOGIN__SECRETS" "login-secrets" "REINSTATE__SOURCES__OKTA__SECRETS" "okta-secrets" "REINSTATE__SOURCES__KEYCLOAK__SECRETS" "keycloak-secrets" "REINSTATE__SOURCES__KEYCLOAK__TOKENS" "keycloak-tokens" "REINSTATE__SOURCES__JSM__SECRETS" "jsm-secrets" "REINSTATE__SOURCES__SLACK__SIGNING_SECRETS" "slack-signing-secrets" "REINSTATE__SOURCES__MAIL__POSTMARK_CREDENTIALS" "postmark-credentials" "REINSTATE__SOURCES__MAIL__MAILGUN_SIGNING_KEYS" "mailgun-signing-keys" -}}
{{- $state := dict "REINSTATE__DIRECTORY__API_TOKEN" "directory-api-token" "REINSTATE__ADMIN__TOKEN_SHA256" "admin-token-sha256" "REINSTATE__ADMIN__VIEWER_TOKEN_SHA256" "viewer-token-sha256" "REINSTATE__SMTP__PASSWORD" "smtp-password" "REINSTATE__DIRECTORY__ORG_API_KEY" "org-api-key" "REINSTATE__DIRECTORY__SCIM_TOKEN" "scim-token" "REINSTATE__SOURCES__OKTA__API_TOKEN" "okta-api-token" "REINSTATE__SOURCES__SLACK__BOT_TOKEN" "slack-bot-token" "REINSTATE__SOURCES__TEAMS__APP_SECRET" "teams-app-secret" -}}
{{- $vars := dict "REINSTATE__LINKS__KEYS" "link-keys" -}}
{{- if ne .role "state" }}{{ $vars = merge $vars $receivers }}{{ end -}}
{{- if ne .role "intake" }}{{ $vars = merge $vars $state }}{{ end -}}
{{- toJson $vars -}}
{{- end -}}

{{/* The keys the Secret holds: those the chart fills, or `existingSecretKeys`. */}}
{{- define "reinstate.secretKeys" -}}
{{- $v := .Values -}}
{{- if $v.existingSecret -}}
{{- toJson $v.existingSecretKeys -}}
{{- else -}}
{{- $s := $v.secrets -}}
{{- $filled := dict "login-secrets" $s.loginSecrets "okta-secrets" $s.oktaSecrets "keycloak-secrets" $s.keycloakSecrets "keycloak-tokens" $s.keycloakTokens "jsm-secrets" $s.jsmSecrets "link-keys" $s.linkKeys "directory-api-token" $s.directoryApiToken "admin-token-sha256" $s.adminTokenSha256 "viewer-token-sha256" $s.viewerTokenSha256 "smtp-password" $s.smtpPassword "org-api-key" $s.orgApiKey "scim-token" $s.scimToken "okta-api-token" $s.oktaApiToken "slack-signing-secrets" $s.slackSigningSecrets "slack-bot-token" $s.slackBotToken "postmark-credentials" $s.postmarkCredentials "mailgun-signing-keys" $s.mailgunSigningKeys "teams-app-secret" $s.teamsAppSecret -}}
{{- $keys := list -}}
{{- range $key, $value := $filled }}{{ if $value }}{{ $keys = append $keys $key }}{{ end }}{{ end -}}
{{- toJson $keys -}}
{{- end -}}
{{- end -}}

{{/*
Each secret as a file of the mounted Secret, named by a `…_FILE` variable; with an existing
Secret whose keys are not listed, as optional variables holding the values (the older way).
*/}}
{{- define "reinstate.secretEnv" -}}
{{- $name := include "reinstate.secretName" .root -}}
{{- $vars := include "reinstate.secretVars" . | fromJson -}}
{{- $keys := include "reinstate.secretKeys" .root | fromJsonArray -}}
{{- $legacy := and .root.Values.existingSecret (empty .root.Values.existingSecretKeys) -}}
{{- range $var, $key := $vars }}
{{- if has $key $keys }}
- name: {{ $var }}_FILE
  value: /run/secrets/reinstate/{{ $key }}
{{- else if $legacy }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $name }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- end }}
{{- end -}}

{{/* The Secret's keys this pod gets, as a volume's items (empty: no volume). */}}
{{- define "reinstate.secretItems" -}}
{{- $vars := include "reinstate.secretVars" . | fromJson -}}
{{- $keys := include "reinstate.secretKeys" .root | fromJsonArray -}}
{{- $items := list -}}
{{- range $var, $key := $vars }}{{ if has $key $keys }}{{ $items = append $items (dict "key" $key "path" $key) }}{{ end }}{{ end -}}
{{- toJson (sortAlpha (list) | concat $items) -}}
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
