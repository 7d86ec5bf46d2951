{{/* Names and labels shared by every template, as `helm create` and Bitnami charts define them. */}}

{{/* The chart's name, or nameOverride; a DNS-1123 label. */}}
{{- define "apizr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The objects' name: fullnameOverride, else "<release>-<chart>", or just the release name when it
already contains the chart's name. At most 63 characters (DNS-1123 labels).
*/}}
{{- define "apizr.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "<chart>-<version>", for the helm.sh/chart label. */}}
{{- define "apizr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object carries. */}}
{{- define "apizr.labels" -}}
helm.sh/chart: {{ include "apizr.chart" . }}
{{ include "apizr.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/component: api
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select the pods: they never change between upgrades. */}}
{{- define "apizr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "apizr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The service account the pods run as. */}}
{{- define "apizr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "apizr.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: pinned by digest when one is set, else by tag. */}}
{{- define "apizr.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | toString) }}
{{- end }}
{{- end }}

{{/* The autoscaling bounds, checked here because values.schema.json cannot compare two values. */}}
{{- define "apizr.checkAutoscaling" -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) }}
{{- fail (printf "autoscaling.minReplicas (%v) must not exceed autoscaling.maxReplicas (%v)" .Values.autoscaling.minReplicas .Values.autoscaling.maxReplicas) }}
{{- end }}
{{- end }}

{{/*
The API server's container, shared by the Deployment and the KServe InferenceService; `port` is
how the probes name the container's port `portName`. Probe paths are the runtime's: /healthz (the process is alive), /readyz (the model is loaded).
*/}}
{{- define "apizr.container" -}}
name: {{ .name }}
image: {{ include "apizr.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
ports:
  - name: {{ .portName }}
    containerPort: {{ .root.Values.containerPort }}
    protocol: TCP
env:
  - name: PORT
    value: {{ .root.Values.containerPort | quote }}
  - name: WEB_CONCURRENCY
    {{- if .root.Values.webConcurrency }}
    value: {{ .root.Values.webConcurrency | quote }}
    {{- else }}
    # One worker per CPU of the limit, rounded up.
    valueFrom:
      resourceFieldRef:
        containerName: {{ .name }}
        resource: limits.cpu
        divisor: "1"
    {{- end }}
  - name: APIZR_GRACEFUL_TIMEOUT
    value: {{ .root.Values.gracefulTimeoutSeconds | quote }}
  # The root filesystem is read-only: whatever writes under $HOME (a PEX's cache) uses /tmp.
  - name: HOME
    value: /tmp
  {{- with .root.Values.extraEnv }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
startupProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  {{- toYaml .root.Values.startupProbe | nindent 2 }}
livenessProbe:
  httpGet:
    path: /healthz
    port: {{ .port }}
  {{- toYaml .root.Values.livenessProbe | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: {{ .port }}
  {{- toYaml .root.Values.readinessProbe | nindent 2 }}
resources:
  {{- toYaml .root.Values.resources | nindent 2 }}
securityContext:
  {{- toYaml .root.Values.containerSecurityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* The pod-level settings shared by the Deployment and the KServe InferenceService. */}}
{{- define "apizr.podSettings" -}}
serviceAccountName: {{ include "apizr.serviceAccountName" . }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
# Longer than gunicorn's graceful timeout, so that in-flight requests finish before SIGKILL.
terminationGracePeriodSeconds: {{ add .Values.gracefulTimeoutSeconds 15 }}
volumes:
  - name: tmp
    emptyDir:
      {{- toYaml .Values.tmpVolume | nindent 6 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
