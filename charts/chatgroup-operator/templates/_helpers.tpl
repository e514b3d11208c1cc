{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "chatgroup-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: release-qualified unless the release already carries the chart name. */}}
{{- define "chatgroup-operator.fullname" -}}
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

{{- define "chatgroup-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "chatgroup-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "chatgroup-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chatgroup-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "chatgroup-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "chatgroup-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
"true" when the flags define a default IM app (im.sdkAppID is set), else
empty. Without one the operator serves only the apps of ChatApp resources,
whose credentials it reads through the API in the release namespace.
*/}}
{{- define "chatgroup-operator.defaultApp" -}}
{{- if .Values.im.sdkAppID }}true{{ end }}
{{- end }}

{{/* The Secret holding the default app's secretKey and callbackToken. */}}
{{- define "chatgroup-operator.secretName" -}}
{{- default (printf "%s-im" (include "chatgroup-operator.fullname" .)) .Values.im.existingSecret }}
{{- end }}

{{/* The Secret holding the receiver's tls.crt and tls.key. */}}
{{- define "chatgroup-operator.callbackTLSSecret" -}}
{{- if .Values.callback.tls.existingSecret -}}
{{ .Values.callback.tls.existingSecret }}
{{- else -}}
{{ include "chatgroup-operator.fullname" . }}-callback-tls
{{- end -}}
{{- end }}
