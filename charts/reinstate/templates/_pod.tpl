{{/*
The pod spec both workloads share. Arguments: root (the chart's context), role (all, state or
intake), resources, data (whether the sled volume `data` is mounted: not in intake pods).
*/}}
{{- define "reinstate.pod" -}}
{{- $v := .root.Values -}}
{{- $items := include "reinstate.secretItems" . | fromJsonArray -}}
{{- with $v.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- toYaml $v.podSecurityContext | nindent 2 }}
terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
automountServiceAccountToken: false
containers:
  - name: reinstate
    {{- if $v.image.digest }}
    image: "{{ $v.image.repository }}@{{ $v.image.digest }}"
    {{- else }}
    image: "{{ $v.image.repository }}:{{ default .root.Chart.AppVersion $v.image.tag }}"
    {{- end }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    args: ["serve", "--config", "/etc/reinstate/reinstate.toml"]
    env:
      - name: REINSTATE__SERVER__ROLE
        value: {{ .role }}
      {{- include "reinstate.secretEnv" . | trim | nindent 6 }}
    ports:
      - name: http
        containerPort: {{ $v.service.port }}
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 10
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 5
      failureThreshold: 3
    resources: {{- toYaml .resources | nindent 6 }}
    securityContext: {{- toYaml $v.securityContext | nindent 6 }}
    volumeMounts:
      {{- if .data }}
      - {name: data, mountPath: /data}
      {{- end }}
      - {name: config, mountPath: /etc/reinstate, readOnly: true}
      - {name: tmp, mountPath: /tmp}
      {{- if $items }}
      - {name: secrets, mountPath: /run/secrets/reinstate, readOnly: true}
      {{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "reinstate.fullname" .root }}
  - name: tmp
    emptyDir: {}
  {{- if $items }}
  - name: secrets
    secret:
      secretName: {{ include "reinstate.secretName" .root }}
      defaultMode: 0440
      items: {{- toYaml $items | nindent 8 }}
  {{- end }}
{{- with $v.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
