{{/* Chart name, truncated to the 63 characters a DNS label allows. */}}
{{- define "floppies.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already holds the chart name. */}}
{{- define "floppies.fullname" -}}
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

{{- define "floppies.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object; call with (dict "ctx" $ "component" "minio"). */}}
{{- define "floppies.labels" -}}
helm.sh/chart: {{ include "floppies.chart" .ctx }}
{{ include "floppies.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: floppies
{{- end }}

{{- define "floppies.selectorLabels" -}}
app.kubernetes.io/name: {{ include "floppies.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* repository:tag, with @digest when one is pinned. */}}
{{- define "floppies.image" -}}
{{- $ref := printf "%s:%s" .repository .tag }}
{{- if .digest }}{{ printf "%s@%s" $ref .digest }}{{ else }}{{ $ref }}{{ end }}
{{- end }}

{{/* MinIO's image: the cpuv1 variant for CPUs below x86-64-v2. */}}
{{- define "floppies.minioImage" -}}
{{- $m := .Values.minio }}
{{- if eq $m.imageVariant "cpuv1" }}
{{- include "floppies.image" (dict "repository" $m.image.repository "tag" $m.cpuv1Image.tag "digest" $m.cpuv1Image.digest) }}
{{- else }}
{{- include "floppies.image" $m.image }}
{{- end }}
{{- end }}

{{- define "floppies.minioHost" -}}
{{ include "floppies.fullname" . }}-minio
{{- end }}

{{/* Pod-level security context that passes Pod Security "restricted". */}}
{{- define "floppies.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: nothing to escalate, nothing to write. */}}
{{- define "floppies.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Readable failures for what the schema cannot say well (host paths are
   checked there: values.schema.json requires them absolute). */}}
{{- define "floppies.validateValues" -}}
{{- if not .Values.minio.existingSecret }}
{{- fail "minio.existingSecret is required: name a Secret with keys rootUser and rootPassword (the floppies installer creates one); this chart has no default password" }}
{{- end }}
{{- if not .Values.s3www.existingSecret }}
{{- fail "s3www.existingSecret is required: name a Secret with keys accessKey and secretKey for s3www's read-only user" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.tls.secretName) }}
{{- fail "tls.secretName is required when ingress.enabled: name a kubernetes.io/tls Secret" }}
{{- end }}
{{- if and .Values.ingress.enabled .Values.tls.defaultCertificate (ne .Values.ingress.className "traefik") }}
{{- fail (printf "tls.defaultCertificate makes a Traefik TLSStore, but ingress.className is %q: set tls.defaultCertificate to false and configure that controller's default certificate" .Values.ingress.className) }}
{{- end }}
{{- end }}
