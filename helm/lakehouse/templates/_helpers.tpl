{{/* Names, labels and the pieces every workload shares. */}}

{{- define "lakehouse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lakehouse.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: (dict "root" $ "component" "api") */}}
{{- define "lakehouse.componentName" -}}
{{- printf "%s-%s" (include "lakehouse.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "lakehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "lakehouse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lakehouse
{{- end -}}

{{/* (dict "root" $ "component" "api") */}}
{{- define "lakehouse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lakehouse.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lakehouse.componentLabels" -}}
{{ include "lakehouse.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "lakehouse.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "lakehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "lakehouse.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The pod-level settings every workload shares. */}}
{{- define "lakehouse.podSpec" -}}
serviceAccountName: {{ include "lakehouse.serviceAccountName" . }}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  # The root file system is read-only; anything a library writes goes here.
  - name: tmp
    emptyDir:
      sizeLimit: 256Mi
{{- end -}}

{{/* Container settings every container shares (after name and command). */}}
{{- define "lakehouse.container" -}}
image: {{ include "lakehouse.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Kafka credentials by reference, when configured. */}}
{{- define "lakehouse.kafkaSecretEnv" -}}
{{- with .Values.secrets.kafka.existingSecret }}
- name: KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.secrets.kafka.saslPasswordKey }}
{{- end }}
{{- end -}}

{{/* Where the lake is, and its S3 keys by reference (none with a pod identity). */}}
{{- define "lakehouse.lakeEnv" -}}
- name: LAKE_URI
  value: {{ .Values.lake.uri | quote }}
- name: AWS_REGION
  value: {{ .Values.lake.region | quote }}
{{- with .Values.lake.endpointUrl }}
- name: AWS_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.secrets.lake.existingSecret }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.secrets.lake.accessKeyIdKey }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: {{ $.Values.secrets.lake.secretAccessKeyKey }}
{{- end }}
{{- end -}}

{{/* A component's extra variables, from a map: a value, or a map holding `valueFrom`. */}}
{{- define "lakehouse.extraEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
{{- if kindIs "map" $value }}
  valueFrom:
    {{- toYaml $value.valueFrom | nindent 4 }}
{{- else }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Liveness, readiness and start-up probes on a named port. */}}
{{- define "lakehouse.probes" -}}
startupProbe:
  httpGet: {path: /health, port: {{ . }}}
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /health, port: {{ . }}}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /ready, port: {{ . }}}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}
