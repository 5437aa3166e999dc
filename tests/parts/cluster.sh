# shellcheck shell=bash
# A control plane of real parts on 127.0.0.1, for tests/parts/run: kine on
# sqlite, kube-apiserver with Pod Security "restricted" as the cluster
# default (privileged pods allowed, as k3s does, so Pod Security is what
# refuses them), kube-controller-manager (so Deployments and Jobs create pods). No
# scheduler, no kubelet: pods are created (admitted) and stay Pending.
# Needs BIN (the built parts) and WORK (a private scratch dir); sets KUBECONFIG.

CLUSTER_PIDS=()

# Prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 20000))
        ss -Htln "sport = :$port" | grep -q . || { echo "$port"; return; }
    done
}

# Writes a CA, the apiserver's serving cert, an admin client cert and the
# service-account key pair under WORK/pki.
make_certs() {
    local d=$WORK/pki
    mkdir -p "$d"
    (
        cd "$d" || exit 1
        umask 077
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=parts-ca -keyout ca.key -out ca.crt
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.43.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
        openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout server.key -out server.csr
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext -out server.crt
        printf 'extendedKeyUsage=clientAuth\n' >client.ext
        openssl req -newkey rsa:2048 -nodes -subj /O=system:masters/CN=parts-admin -keyout admin.key -out admin.csr
        openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile client.ext -out admin.crt
        openssl genrsa -out sa.key 2048
        openssl rsa -in sa.key -pubout -out sa.pub
    ) >"$WORK/logs/openssl.log" 2>&1
}

# Pod Security "restricted" for every namespace without labels of its own,
# as k3s's hardening guide configures it (--pod-security-admission-config-file).
write_admission_config() {
    cat >"$WORK/admission.yaml" <<'EOF'
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: PodSecurity
    configuration:
      apiVersion: pod-security.admission.config.k8s.io/v1
      kind: PodSecurityConfiguration
      defaults:
        enforce: restricted
        enforce-version: latest
        audit: restricted
        audit-version: latest
        warn: restricted
        warn-version: latest
      exemptions:
        namespaces: [kube-system]
EOF
}

write_kubeconfig() {
    local d=$WORK/pki
    cat >"$WORK/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: parts
    cluster: { server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$d/ca.crt" }
users:
  - name: admin
    user: { client-certificate: "$d/admin.crt", client-key: "$d/admin.key" }
contexts:
  - name: parts
    context: { cluster: parts, user: admin }
current-context: parts
EOF
    export KUBECONFIG=$WORK/kubeconfig
}

# Starts kine, kube-apiserver and kube-controller-manager; waits (bounded)
# until the apiserver is ready. Returns 1 with the reason on stderr.
start_cluster() {
    local d=$WORK/pki kine_port metrics_port i
    mkdir -p "$WORK/logs" "$WORK/db"
    make_certs || { echo "openssl failed (see $WORK/logs/openssl.log)" >&2; return 1; }
    write_admission_config
    kine_port=$(free_port)
    metrics_port=$(free_port)
    APISERVER_PORT=$(free_port)
    write_kubeconfig
    "$BIN/kine" --endpoint "sqlite://$WORK/db/state.db?_journal=WAL&cache=shared" \
        --listen-address "127.0.0.1:$kine_port" --metrics-bind-address "127.0.0.1:$metrics_port" \
        >"$WORK/logs/kine.log" 2>&1 &
    CLUSTER_PIDS+=("kine:$!")
    "$BIN/kube-apiserver" --etcd-servers "http://127.0.0.1:$kine_port" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
        --tls-cert-file "$d/server.crt" --tls-private-key-file "$d/server.key" --client-ca-file "$d/ca.crt" \
        --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$d/sa.pub" \
        --service-account-signing-key-file "$d/sa.key" --service-cluster-ip-range 10.43.0.0/16 \
        --authorization-mode Node,RBAC --admission-control-config-file "$WORK/admission.yaml" \
        --endpoint-reconciler-type none --profiling=false --allow-privileged=true \
        >"$WORK/logs/kube-apiserver.log" 2>&1 &
    CLUSTER_PIDS+=("kube-apiserver:$!")
    for i in $(seq 1 60); do
        "$BIN/kubectl" get --raw /readyz >/dev/null 2>&1 && break
        [ "$i" -eq 60 ] && { echo "kube-apiserver not ready after 30 s (see $WORK/logs/kube-apiserver.log)" >&2; return 1; }
        sleep 0.5
    done
    "$BIN/kube-controller-manager" --kubeconfig "$KUBECONFIG" --authentication-kubeconfig "$KUBECONFIG" \
        --authorization-kubeconfig "$KUBECONFIG" --bind-address 127.0.0.1 --secure-port "$(free_port)" \
        --service-account-private-key-file "$d/sa.key" --root-ca-file "$d/ca.crt" \
        --controllers '*' --leader-elect=false \
        >"$WORK/logs/kube-controller-manager.log" 2>&1 &
    CLUSTER_PIDS+=("kube-controller-manager:$!")
}

# Stops what start_cluster started, newest first (kube-apiserver before kine:
# it ignores TERM once its store is gone); KILL after a grace period.
stop_cluster() {
    local i entry pid t
    for ((i = ${#CLUSTER_PIDS[@]} - 1; i >= 0; i--)); do
        entry=${CLUSTER_PIDS[$i]}
        pid=${entry#*:}
        kill -TERM "$pid" 2>/dev/null || continue
        for t in $(seq 1 20); do
            kill -0 "$pid" 2>/dev/null || break
            [ "$t" -eq 20 ] && kill -KILL "$pid" 2>/dev/null
            sleep 0.25
        done
        wait "$pid" 2>/dev/null
    done
    CLUSTER_PIDS=()
}
