{{/* The seed job's ConfigMap data: its script and the reader's policy. */}}
{{- define "floppies.seedConfigData" -}}
seed.sh: |
  {{- .Files.Get "files/seed.sh" | nindent 2 }}
read-policy.json: |
  {
    "Version": "2012-10-17",
    "Statement": [
      {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": ["arn:aws:s3:::{{ .Values.bucket }}"]},
      {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::{{ .Values.bucket }}/*"]}
    ]
  }
{{- end }}

{{/* The seed job's pod template. */}}
{{- define "floppies.seedPodTemplate" -}}
{{- $fullname := include "floppies.fullname" . }}
metadata:
  labels:
    {{- include "floppies.selectorLabels" (dict "ctx" . "component" "seed") | nindent 4 }}
spec:
  restartPolicy: OnFailure
  serviceAccountName: {{ $fullname }}
  automountServiceAccountToken: false
  securityContext:
    {{- include "floppies.podSecurityContext" (dict "uid" .Values.minio.runAsUser) | nindent 4 }}
  containers:
    - name: seed
      # The MinIO image ships `mc` (upstream's Dockerfile.release copies it in).
      image: {{ include "floppies.minioImage" . | quote }}
      imagePullPolicy: {{ .Values.minio.image.pullPolicy }}
      command: ["/bin/sh", "/seed/seed.sh"]
      env:
        - { name: ENDPOINT, value: "http://{{ include "floppies.minioHost" . }}:9000" }
        - { name: BUCKET, value: {{ .Values.bucket | quote }} }
        - { name: CONTENT_DIR, value: /content }
        - { name: POLICY_FILE, value: /seed/read-policy.json }
        - { name: READY_TIMEOUT, value: {{ .Values.seed.readyTimeoutSeconds | quote }} }
        # mc writes its config; the root filesystem is read-only.
        - { name: MC_CONFIG_DIR, value: /tmp/mc }
        - name: ROOT_USER
          valueFrom:
            secretKeyRef: { name: {{ .Values.minio.existingSecret | quote }}, key: rootUser }
        - name: ROOT_PASSWORD
          valueFrom:
            secretKeyRef: { name: {{ .Values.minio.existingSecret | quote }}, key: rootPassword }
        - name: READER_KEY
          valueFrom:
            secretKeyRef: { name: {{ .Values.s3www.existingSecret | quote }}, key: accessKey }
        - name: READER_SECRET
          valueFrom:
            secretKeyRef: { name: {{ .Values.s3www.existingSecret | quote }}, key: secretKey }
      securityContext:
        {{- include "floppies.containerSecurityContext" . | nindent 8 }}
      resources:
        {{- toYaml .Values.seed.resources | nindent 8 }}
      volumeMounts:
        - { name: script, mountPath: /seed, readOnly: true }
        - { name: content, mountPath: /content, readOnly: true }
        - { name: tmp, mountPath: /tmp }
  volumes:
    - name: script
      configMap:
        name: {{ $fullname }}-seed
    - name: content
      persistentVolumeClaim:
        claimName: {{ $fullname }}-content
        readOnly: true
    # mc's config under /tmp holds the root credentials: keep it in memory,
    # off the host's disk.
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 16Mi
{{- end }}
