{{/* Names and labels. */}}
{{- define "alpr.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "alpr.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: include "alpr.selector" (list . "worker") */}}
{{- define "alpr.selector" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ $root.Chart.Name }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "alpr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "alpr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "alpr.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* A consumer group never uses more members than the input topic has partitions: refuse to ask for more. */}}
{{- define "alpr.assertions" -}}
{{- $partitions := int .Values.kafka.inputPartitions -}}
{{- if .Values.keda.enabled -}}
{{- if gt (int .Values.keda.maxReplicaCount) $partitions -}}
{{- fail (printf "keda.maxReplicaCount (%d) is above kafka.inputPartitions (%d): extra workers would sit idle; lower it or add partitions" (int .Values.keda.maxReplicaCount) $partitions) -}}
{{- end -}}
{{- if gt (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount) -}}
{{- fail (printf "keda.minReplicaCount (%d) is above keda.maxReplicaCount (%d)" (int .Values.keda.minReplicaCount) (int .Values.keda.maxReplicaCount)) -}}
{{- end -}}
{{- else if gt (int .Values.worker.replicas) $partitions -}}
{{- fail (printf "worker.replicas (%d) is above kafka.inputPartitions (%d): extra workers would sit idle; lower it or add partitions" (int .Values.worker.replicas) $partitions) -}}
{{- end -}}
{{- end -}}

{{/* Pod and container hardening shared by both components. */}}
{{- define "alpr.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "alpr.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Which parts of the Kafka security settings apply: SASL variables only with SASL_*, TLS files only with
SSL/SASL_SSL (the worker refuses the others as incoherent, exit 2). */}}
{{- define "alpr.kafkaSasl" -}}
{{- if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end -}}
{{- end -}}

{{- define "alpr.kafkaTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") }}true{{ end -}}
{{- end -}}

{{/* The credentials Secret is mounted only when a key of it is used. */}}
{{- define "alpr.kafkaCredentialsMounted" -}}
{{- $c := .Values.kafka.credentials -}}
{{- if $c.secretName -}}
{{- if and (include "alpr.kafkaSasl" .) $c.saslPasswordKey }}true{{ end -}}
{{- if and (include "alpr.kafkaTls" .) (or $c.clientCertKey $c.clientKeyKey $c.clientKeyPasswordKey) }}true{{ end -}}
{{- end -}}
{{- end -}}

{{- define "alpr.kafkaCaMounted" -}}
{{- if and (include "alpr.kafkaTls" .) .Values.kafka.ca.secretName }}true{{ end -}}
{{- end -}}

{{/* Kafka connection settings (contract: ALPR_KAFKA_*), secrets by file from the mounted Secrets. */}}
{{- define "alpr.kafkaEnv" -}}
{{- $k := .Values.kafka -}}
{{- $c := $k.credentials -}}
- name: ALPR_BROKER
  value: {{ $k.broker | quote }}
- name: ALPR_KAFKA_SECURITY_PROTOCOL
  value: {{ $k.securityProtocol | quote }}
{{- if include "alpr.kafkaSasl" . }}
{{- if $k.saslMechanism }}
- name: ALPR_KAFKA_SASL_MECHANISM
  value: {{ $k.saslMechanism | quote }}
{{- end }}
{{- if $k.saslUsername }}
- name: ALPR_KAFKA_SASL_USERNAME
  value: {{ $k.saslUsername | quote }}
{{- else if and $c.secretName $c.saslUsernameKey }}
- name: ALPR_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $c.secretName }}
      key: {{ $c.saslUsernameKey }}
{{- end }}
{{- if and $c.secretName $c.saslPasswordKey }}
- name: ALPR_KAFKA_SASL_PASSWORD_FILE
  value: /var/run/secrets/alpr-monitor/kafka/{{ $c.saslPasswordKey }}
{{- end }}
{{- end }}
{{- if include "alpr.kafkaTls" . }}
- name: ALPR_KAFKA_SSL_CHECK_HOSTNAME
  value: {{ $k.sslCheckHostname | quote }}
{{- if and $c.secretName $c.clientCertKey }}
- name: ALPR_KAFKA_SSL_CERT_FILE
  value: /var/run/secrets/alpr-monitor/kafka/{{ $c.clientCertKey }}
{{- end }}
{{- if and $c.secretName $c.clientKeyKey }}
- name: ALPR_KAFKA_SSL_KEY_FILE
  value: /var/run/secrets/alpr-monitor/kafka/{{ $c.clientKeyKey }}
{{- end }}
{{- if and $c.secretName $c.clientKeyPasswordKey }}
- name: ALPR_KAFKA_SSL_KEY_PASSWORD_FILE
  value: /var/run/secrets/alpr-monitor/kafka/{{ $c.clientKeyPasswordKey }}
{{- end }}
{{- if include "alpr.kafkaCaMounted" . }}
- name: ALPR_KAFKA_SSL_CA_FILE
  value: /var/run/secrets/alpr-monitor/kafka-ca/{{ $k.ca.key }}
{{- end }}
{{- end }}
- name: ALPR_PSEUDONYM_KEY_FILE
  value: /var/run/secrets/alpr-monitor/pseudonym/{{ .Values.pseudonymKey.key }}
- name: ALPR_ALERTS_TOPIC
  value: {{ $k.alertsTopic | quote }}
- name: ALPR_LOG_FORMAT
  value: json
{{- end -}}

{{- define "alpr.secretMounts" -}}
{{- if include "alpr.kafkaCredentialsMounted" . }}
- name: kafka-credentials
  mountPath: /var/run/secrets/alpr-monitor/kafka
  readOnly: true
{{- end }}
{{- if include "alpr.kafkaCaMounted" . }}
- name: kafka-ca
  mountPath: /var/run/secrets/alpr-monitor/kafka-ca
  readOnly: true
{{- end }}
- name: pseudonym-key
  mountPath: /var/run/secrets/alpr-monitor/pseudonym
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- end -}}

{{- define "alpr.secretVolumes" -}}
{{- if include "alpr.kafkaCredentialsMounted" . }}
- name: kafka-credentials
  secret:
    secretName: {{ .Values.kafka.credentials.secretName }}
    defaultMode: 0440
{{- end }}
{{- if include "alpr.kafkaCaMounted" . }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.ca.secretName }}
    defaultMode: 0444
{{- end }}
- name: pseudonym-key
  secret:
    secretName: {{ .Values.pseudonymKey.secretName }}
    defaultMode: 0440
    items:
      - key: {{ .Values.pseudonymKey.key }}
        path: {{ .Values.pseudonymKey.key }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end -}}

{{/* Probes on the health contract: /healthz (the loop makes progress) and /readyz (assigned, policy loaded, topics writable). */}}
{{- define "alpr.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 5
  failureThreshold: 24
livenessProbe:
  httpGet: {path: /healthz, port: metrics}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
{{- end -}}
