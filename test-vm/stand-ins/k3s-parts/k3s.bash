#!/bin/bash
# A k3s MADE OF REAL PARTS, for the test profile only (issue 22, test level K).
# It is not k3s. Real k3s cannot be fetched here; its parts can be built from
# the Go module proxy (upstream/README.md), and this script puts them together
# the way k3s does for the installer: the same paths, config file, unit
# behaviour and the subcommands the installer, uninstall and diagnose call.
#
# What runs for real: kine on sqlite, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy (iptables) v1.35.8, containerd v2.2 with
# runc, the CNI bridge/host-local/loopback/portmap plugins on cni0, CoreDNS as
# a pod, helm-controller with a klipper-helm-compatible Job image, the image
# archives imported into containerd. What is written here in k3s's place:
# this supervisor script, the HTTPS front on 6443 (k3s-supervisor, a Go
# stand-in: /cacerts, /ping, /static and a proxy to the API server), the
# deploy controller (kubectl apply of server/manifests), certificates made
# with openssl, the CoreDNS manifest, Traefik's TLSStore CRD with an open
# schema, and an ingress on port 80 (k3s-ingress, a Go stand-in for Traefik
# and ServiceLB). Not here at all: k3s's agent tunnel, flannel (the bridge
# plugin alone, one node), kube-router's network policy, ServiceLB, Traefik,
# the embedded registry, etcd, joining nodes. docs/upstream.md says the same.
#
# Like k3s, this file carries its binaries: a tar after the marker line at
# the end, unpacked on first start into data/<hash of that tar>/bin.
set -u

PARTS_HASH=@PARTS_HASH@
PARTS_VERSION=@PARTS_VERSION@
DATA_DIR=/var/lib/rancher/k3s
BIN=$DATA_DIR/data/$PARTS_HASH/bin
SHARE=$DATA_DIR/data/$PARTS_HASH/share
CONFIG=/etc/rancher/k3s/config.yaml
ADMIN_KUBECONFIG=/etc/rancher/k3s/k3s.yaml
SERVER=$DATA_DIR/server
TLS=$SERVER/tls
CRED=$SERVER/cred
AGENT=$DATA_DIR/agent
RUN_DIR=/run/k3s
SOCK=$RUN_DIR/containerd/containerd.sock
KINE_SOCK=$SERVER/kine.sock
NODE_PASSWORD=/etc/rancher/node/password
CLUSTER_CIDR=10.42.0.0/16
POD_CIDR=10.42.0.0/24
SERVICE_CIDR=10.43.0.0/16
SERVICE_API_IP=10.43.0.1
CLUSTER_DNS=10.43.0.10
SANDBOX_IMAGE=docker.io/rancher/mirrored-pause:3.6
HELM_JOB_IMAGE=docker.io/rancher/klipper-helm:v0.9.12-build20251215
NODE=$(tr '[:upper:]' '[:lower:]' < /proc/sys/kernel/hostname)
CHILDREN=()
IMPORT_PID=''

log() {
    printf 'time="%s" level=%s msg="%s"\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" >&2
}

die() {
    log fatal "$1"
    exit 1
}

parts_version() {
    echo "k3s version $PARTS_VERSION (a k3s MADE OF REAL PARTS for the floppies tests, not k3s)"
    echo "go version none (a bash supervisor; its parts say their own: $BIN/*)"
}

# --- the binaries this file carries -------------------------------------------

# Unpacks the tar after the marker into data/HASH (once; a half-done unpack
# is redone), as k3s unpacks its bundled binaries.
extract_parts() {
    [ -f "$BIN/.complete" ] && return 0
    local line tmp=$DATA_DIR/data/.tmp-$PARTS_HASH
    line=$(awk '/^__FLOPPIES_PARTS_BELOW__$/ { print NR + 1; exit }' "$0")
    [ -n "$line" ] || die "no parts in $0 (the marker line is missing)"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    tail -n +"$line" "$0" | tar -x -C "$tmp" || die "could not unpack the parts from $0"
    touch "$tmp/bin/.complete"
    rm -rf "${DATA_DIR:?}/data/$PARTS_HASH"
    mv "$tmp" "$DATA_DIR/data/$PARTS_HASH"
    ln -sfn "$DATA_DIR/data/$PARTS_HASH" "$DATA_DIR/data/current"
    log info "unpacked the parts into $DATA_DIR/data/$PARTS_HASH"
}

# --- config.yaml ----------------------------------------------------------------

# config_scalar KEY: KEY's value in config.yaml or config.yaml.d/*.yaml (the
# last one wins, as in k3s), quotes removed.
config_scalar() {
    local f
    for f in "$CONFIG" "$CONFIG".d/*.yaml; do
        [ -f "$f" ] || continue
        sed -n "s/^$1:[[:space:]]*\"\{0,1\}\([^\"]*\)\"\{0,1\}[[:space:]]*$/\1/p" "$f"
    done | tail -n1
}

# config_list KEY: KEY's items ("- item" lines under "KEY:"), all files.
config_list() {
    local f
    for f in "$CONFIG" "$CONFIG".d/*.yaml; do
        [ -f "$f" ] || continue
        awk -v key="$1:" '
            $1 == key { on = 1; next }
            on && /^[[:space:]]+-[[:space:]]/ { sub(/^[[:space:]]+-[[:space:]]+/, ""); gsub(/"/, ""); print; next }
            { on = 0 }' "$f"
    done
}

# The node's address: config's node-ip, else the default route's source (k3s
# fails without a default route; the installer adds one on hosts without).
node_ip() {
    local ip
    ip=$(config_scalar node-ip)
    [ -n "$ip" ] && { echo "$ip"; return; }
    ip=$(ip -o -4 route get 1.0.0.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
    [ -n "$ip" ] || return 1
    echo "$ip"
}

# --- certificates (k3s makes its own; these are openssl's, EC P-256 like k3s's) --

make_ca() {
    [ -f "$TLS/$1.crt" ] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
        -subj "/CN=k3s-$1@$(date +%s)" -keyout "$TLS/$1.key" -out "$TLS/$1.crt" 2>/dev/null
}

# make_cert CA NAME SUBJECT USAGE [SANS]: a leaf NAME.crt/key signed by CA.
make_cert() {
    local ca=$1 name=$2 subject=$3 usage=$4 sans=${5:-}
    [ -f "$TLS/$name.crt" ] && return 0
    local ext=$TLS/$name.ext
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\n' "$usage" > "$ext"
    [ -n "$sans" ] && printf 'subjectAltName=%s\n' "$sans" >> "$ext"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
        -keyout "$TLS/$name.key" -out "$TLS/$name.csr" 2>/dev/null \
        && openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/$ca.crt" -CAkey "$TLS/$ca.key" -CAcreateserial \
            -days 365 -extfile "$ext" -out "$TLS/$name.crt" 2>/dev/null
    rm -f "$TLS/$name.csr" "$ext"
}

make_certs() {
    local ip=$1
    mkdir -p "$TLS" "$CRED"
    chmod 700 "$TLS" "$CRED"
    (
        umask 077
        make_ca server-ca && make_ca client-ca && make_ca request-header-ca || exit 1
        make_cert server-ca serving-kube-apiserver /CN=kube-apiserver serverAuth \
            "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE,IP:127.0.0.1,IP:$ip,IP:$SERVICE_API_IP" || exit 1
        make_cert client-ca client-admin /O=system:masters/CN=system:admin clientAuth || exit 1
        make_cert client-ca client-kube-apiserver /O=system:masters/CN=system:apiserver clientAuth || exit 1
        make_cert client-ca client-controller /CN=system:kube-controller-manager clientAuth || exit 1
        make_cert client-ca client-scheduler /CN=system:kube-scheduler clientAuth || exit 1
        make_cert client-ca client-kube-proxy /CN=system:kube-proxy clientAuth || exit 1
        make_cert client-ca client-kubelet "/O=system:nodes/CN=system:node:$NODE" clientAuth || exit 1
        make_cert client-ca client-k3s-controller /O=system:masters/CN=system:k3s-controller clientAuth || exit 1
        make_cert request-header-ca client-auth-proxy /CN=system:auth-proxy clientAuth || exit 1
        make_cert server-ca serving-kubelet "/CN=$NODE" serverAuth "DNS:$NODE,DNS:localhost,IP:127.0.0.1,IP:$ip" || exit 1
        [ -f "$TLS/service.key" ] || openssl ecparam -name prime256v1 -genkey -noout -out "$TLS/service.key" 2>/dev/null || exit 1
        [ -f "$TLS/service.pub" ] || openssl ec -in "$TLS/service.key" -pubout -out "$TLS/service.pub" 2>/dev/null || exit 1
        rm -f "$TLS"/*.srl
    ) || die "could not make the cluster's certificates (openssl)"
}

# write_kubeconfig FILE SERVER CERT: a kubeconfig for client cert CERT.
write_kubeconfig() {
    local file=$1 server=$2 cert=$3
    (
        umask 077
        cat > "$file.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- cluster:
    server: $server
    certificate-authority-data: $(base64 -w0 < "$TLS/server-ca.crt")
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
users:
- name: default
  user:
    client-certificate-data: $(base64 -w0 < "$TLS/$cert.crt")
    client-key-data: $(base64 -w0 < "$TLS/$cert.key")
EOF
    )
    mv "$file.tmp" "$file"
}

# k3s encrypts Secrets at rest with secrets-encryption: an aescbc key of its own.
write_encryption_config() {
    [ -f "$CRED/encryption-config.json" ] && return 0
    (
        umask 077
        printf '{"kind":"EncryptionConfiguration","apiVersion":"apiserver.config.k8s.io/v1","resources":[{"resources":["secrets"],"providers":[{"aescbc":{"keys":[{"name":"aescbckey","secret":"%s"}]}},{"identity":{}}]}]}\n' \
            "$(head -c 32 /dev/urandom | base64 -w0)" > "$CRED/encryption-config.json"
    )
}

# --- the parts --------------------------------------------------------------------

# start NAME CMD...: runs a part in the background, its output in the journal
# with its name in front, and remembers it.
start() {
    local name=$1
    shift
    "$@" > >(sed -u "s/^/$name: /" >&2) 2>&1 &
    CHILDREN+=("$!")
    log info "started $name (pid $!)"
}

# Stops every part, newest first, as k3s's own exit takes its in-process
# parts with it. Containers and their shims stay (KillMode=process), as k3s's do.
stop_all() {
    local i pid
    [ -z "$IMPORT_PID" ] || kill -TERM "$IMPORT_PID" 2>/dev/null
    for ((i = ${#CHILDREN[@]} - 1; i >= 0; i--)); do
        kill -TERM "${CHILDREN[$i]}" 2>/dev/null
    done
    for pid in "${CHILDREN[@]}"; do
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        kill -KILL "$pid" 2>/dev/null
    done
}

# wait_for WHAT SECONDS CMD...: until CMD succeeds, saying every 30 s what
# CMD last said; dies naming WHAT after SECONDS.
wait_for() {
    local what=$1 seconds=$2 i out
    shift 2
    for ((i = 0; i < seconds; i++)); do
        out=$("$@" 2>&1) && return 0
        [ $((i % 30)) -eq 29 ] && log info "waiting for $what (${i}s): $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ' | cut -c1-300)"
        sleep 1
    done
    die "$what not ready after ${seconds}s: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ' | cut -c1-300)"
}

kctl() {
    "$BIN/kubectl" --kubeconfig "$CRED/admin.kubeconfig" "$@"
}

# api URL [CURL-ARGS...]: a request as the admin with curl, for the waits and
# the loop below: a kubectl started every second or few took, under TCG, a
# large share of the CPU the parts need to come up.
api() {
    local url=$1
    shift
    curl -sS --fail --max-time 20 --cacert "$TLS/server-ca.crt" --cert "$TLS/client-admin.crt" \
        --key "$TLS/client-admin.key" "$@" "$url"
}

start_kine() {
    mkdir -p "$SERVER/db"
    rm -f "$KINE_SOCK"
    start kine "$BIN/kine" --endpoint "sqlite://$SERVER/db/state.db?_journal=WAL&cache=shared&_busy_timeout=30000" \
        --listen-address "unix://$KINE_SOCK" --metrics-bind-address 0
    wait_for kine 60 test -S "$KINE_SOCK"
}

start_apiserver() {
    local ip=$1 encryption=()
    [ "$(config_scalar secrets-encryption)" = true ] && { write_encryption_config; encryption=(--encryption-provider-config "$CRED/encryption-config.json"); }
    start kube-apiserver "$BIN/kube-apiserver" --etcd-servers "unix://$KINE_SOCK" \
        --bind-address 127.0.0.1 --secure-port 6444 --advertise-address "$ip" --endpoint-reconciler-type none \
        --tls-cert-file "$TLS/serving-kube-apiserver.crt" --tls-private-key-file "$TLS/serving-kube-apiserver.key" \
        --client-ca-file "$TLS/client-ca.crt" \
        --requestheader-client-ca-file "$TLS/request-header-ca.crt" --requestheader-allowed-names system:auth-proxy \
        --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --proxy-client-cert-file "$TLS/client-auth-proxy.crt" --proxy-client-key-file "$TLS/client-auth-proxy.key" \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$TLS/service.pub" --service-account-signing-key-file "$TLS/service.key" \
        --api-audiences https://kubernetes.default.svc.cluster.local,k3s \
        --service-cluster-ip-range "$SERVICE_CIDR" --service-node-port-range 30000-32767 \
        --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --anonymous-auth=false \
        --kubelet-client-certificate "$TLS/client-kube-apiserver.crt" --kubelet-client-key "$TLS/client-kube-apiserver.key" \
        --allow-privileged=true --profiling=false --enable-bootstrap-token-auth "${encryption[@]}"
    wait_for kube-apiserver 300 api 'https://127.0.0.1:6444/readyz?verbose'
}

# The "kubernetes" Service's endpoint is the supervisor on 6443 (pods fetch
# the chart from /static through it), as with k3s.
write_api_endpoints() {
    local ip=$1
    kctl apply -f - > /dev/null <<EOF || log warning "could not write the kubernetes endpoints"
apiVersion: v1
kind: Endpoints
metadata:
  name: kubernetes
  namespace: default
  labels: { endpointslice.kubernetes.io/skip-mirror: "true" }
subsets:
- addresses: [{ ip: "$ip" }]
  ports: [{ name: https, port: 6443, protocol: TCP }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: { kubernetes.io/service-name: kubernetes, endpointslice.kubernetes.io/managed-by: floppies-k3s-parts }
addressType: IPv4
endpoints:
- addresses: ["$ip"]
  conditions: { ready: true }
ports:
- { name: https, port: 6443, protocol: TCP }
EOF
}

start_supervisor() {
    mkdir -p "$SERVER/static"
    start k3s-supervisor "$BIN/k3s-supervisor" --listen :6443 \
        --tls-cert "$TLS/serving-kube-apiserver.crt" --tls-key "$TLS/serving-kube-apiserver.key" \
        --client-ca "$TLS/client-ca.crt" --server-ca "$TLS/server-ca.crt" --static-dir "$SERVER/static" \
        --apiserver https://127.0.0.1:6444 --apiserver-ca "$TLS/server-ca.crt" \
        --proxy-client-cert "$TLS/client-auth-proxy.crt" --proxy-client-key "$TLS/client-auth-proxy.key"
    wait_for k3s-supervisor 60 api https://127.0.0.1:6443/readyz
}

start_controllers() {
    start kube-controller-manager "$BIN/kube-controller-manager" --kubeconfig "$CRED/controller.kubeconfig" \
        --authentication-kubeconfig "$CRED/controller.kubeconfig" --authorization-kubeconfig "$CRED/controller.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port 10257 --profiling=false --leader-elect=false \
        --service-account-private-key-file "$TLS/service.key" --root-ca-file "$TLS/server-ca.crt" \
        --use-service-account-credentials --allocate-node-cidrs --cluster-cidr "$CLUSTER_CIDR" --node-cidr-mask-size 24 \
        --service-cluster-ip-range "$SERVICE_CIDR" --controllers '*,tokencleaner' \
        --cluster-signing-cert-file "$TLS/client-ca.crt" --cluster-signing-key-file "$TLS/client-ca.key"
    start kube-scheduler "$BIN/kube-scheduler" --kubeconfig "$CRED/scheduler.kubeconfig" \
        --authentication-kubeconfig "$CRED/scheduler.kubeconfig" --authorization-kubeconfig "$CRED/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port 10259 --profiling=false --leader-elect=false
}

write_containerd_config() {
    mkdir -p "$AGENT/etc/containerd" "$AGENT/etc/cni/net.d" "$AGENT/containerd" "$RUN_DIR/containerd"
    cat > "$AGENT/etc/containerd/config.toml" <<EOF
# Written by the k3s of parts (test profile; k3s writes its own here).
version = 3
root = "$AGENT/containerd"
state = "$RUN_DIR/containerd"

[grpc]
  address = "$SOCK"

# As k3s's template: the opt plugin's dir under k3s's (not /opt/containerd).
[plugins.'io.containerd.internal.v1.opt']
  path = "$AGENT/containerd"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  disable_snapshot_annotations = true
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "$SANDBOX_IMAGE"

# As k3s's template: pods may bind ports below 1024 and ping without capabilities.
[plugins.'io.containerd.cri.v1.runtime']
  enable_unprivileged_ports = true
  enable_unprivileged_icmp = true

[plugins.'io.containerd.cri.v1.runtime'.cni]
  bin_dirs = ["$BIN"]
  conf_dir = "$AGENT/etc/cni/net.d"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    SystemdCgroup = true
    BinaryName = "$BIN/runc"

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "10010"
EOF
    # k3s's flannel conflist names the network cbr0 on bridge cni0; one node
    # here, so the bridge plugin with host-local on this node's pod range.
    cat > "$AGENT/etc/cni/net.d/10-flannel.conflist" <<EOF
{
  "name": "cbr0",
  "cniVersion": "1.0.0",
  "plugins": [
    { "type": "bridge", "bridge": "cni0", "isGateway": true, "isDefaultGateway": true, "ipMasq": true,
      "hairpinMode": true, "forceAddress": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$POD_CIDR" }]] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
}

start_containerd() {
    write_containerd_config
    rm -f "$SOCK"
    # containerd finds containerd-shim-runc-v2 on PATH, as k3s arranges.
    start containerd env PATH="$BIN:$PATH" "$BIN/containerd" --config "$AGENT/etc/containerd/config.toml" \
        --log-level warn
    wait_for containerd 120 "$BIN/ctr" --address "$SOCK" version
}

# Imports every archive in agent/images into the k8s.io namespace, under the
# names the archive gives (k3s's rule), once per archive version.
import_images() {
    local f stamp done_list=$AGENT/containerd/floppies-parts-imported t0
    touch "$done_list"
    for f in "$AGENT"/images/*.tar "$AGENT"/images/*.tar.zst; do
        [ -f "$f" ] || continue
        stamp="$f $(stat -c '%s %Y' "$f")"
        grep -qxF "$stamp" "$done_list" && continue
        log info "Importing images from $f"
        t0=$(date +%s)
        case $f in
            *.zst) zstd -dc "$f" | "$BIN/ctr" --address "$SOCK" -n k8s.io images import --local --platform linux/amd64 - ;;
            *) "$BIN/ctr" --address "$SOCK" -n k8s.io images import --local --platform linux/amd64 "$f" ;;
        esac > /dev/null || { log error "Failed to import $f"; continue; }
        echo "$stamp" >> "$done_list"
        log info "Imported images from $f in $(($(date +%s) - t0))s"
    done
}

# k3s's agent: the kubelet's resolv.conf (docs/upstream.md row 39).
resolv_conf() {
    local conf servers
    for conf in /etc/resolv.conf /run/systemd/resolve/resolv.conf; do
        servers=$(sed -n 's/^nameserver[[:space:]]\{1,\}\([^[:space:]]*\).*/\1/p' "$conf" 2>/dev/null)
        [ -n "$servers" ] || continue
        printf '%s\n' "$servers" | grep -Eq '^(127\.|0\.|169\.254\.|22[4-9]\.|2[3-5][0-9]\.|::1$|::$|[fF][eE]80:|[fF][fF])' && continue
        echo "$conf"
        return
    done
    mkdir -p "$AGENT/etc"
    echo 'nameserver 8.8.8.8' > "$AGENT/etc/resolv.conf"
    log warning "Host resolv.conf includes loopback or multicast nameservers - kubelet will use autogenerated resolv.conf with nameserver 8.8.8.8"
    echo "$AGENT/etc/resolv.conf"
}

start_kubelet() {
    local ip=$1 labels
    mkdir -p "$AGENT/pod-manifests" /var/lib/kubelet
    cat > "$AGENT/etc/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: "$TLS/client-ca.crt" }
authorization: { mode: Webhook }
cgroupDriver: systemd
clusterDNS: ["$CLUSTER_DNS"]
clusterDomain: cluster.local
containerRuntimeEndpoint: "unix://$SOCK"
evictionHard: { imagefs.available: "5%", nodefs.available: "5%" }
evictionMinimumReclaim: { imagefs.available: "10%", nodefs.available: "10%" }
failSwapOn: false
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
resolvConf: "$(resolv_conf)"
serializeImagePulls: false
staticPodPath: "$AGENT/pod-manifests"
tlsCertFile: "$TLS/serving-kubelet.crt"
tlsPrivateKeyFile: "$TLS/serving-kubelet.key"
EOF
    labels=$(config_list node-label | paste -sd, -)
    start kubelet "$BIN/kubelet" --config "$AGENT/etc/kubelet.yaml" --kubeconfig "$AGENT/kubelet.kubeconfig" \
        --hostname-override "$NODE" --node-ip "$ip" --root-dir /var/lib/kubelet ${labels:+--node-labels "$labels"}
}

start_kube_proxy() {
    cat > "$AGENT/etc/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: "$CLUSTER_CIDR"
hostnameOverride: "$NODE"
clientConnection: { kubeconfig: "$AGENT/kubeproxy.kubeconfig" }
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: { maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
    start kube-proxy "$BIN/kube-proxy" --config "$AGENT/etc/kube-proxy.yaml"
}

start_helm_controller() {
    start helm-controller "$BIN/helm-controller" --kubeconfig "$CRED/k3s-controller.kubeconfig" \
        --default-job-image "$HELM_JOB_IMAGE"
}

# What k3s's deploy controller does for server/manifests: apply each file,
# again when it changes. (Deleting the objects of a removed file, which k3s's
# AddOn objects do, is not built: uninstall stops the cluster instead.)
deploy_manifests() {
    local f sum applied=$SERVER/floppies-parts-applied new
    new=$(mktemp)
    for f in "$SERVER"/manifests/*.yaml "$SERVER"/manifests/*.yml "$SERVER"/manifests/*.json; do
        [ -f "$f" ] || continue
        sum="$f $(sha256sum < "$f" | cut -d' ' -f1)"
        if grep -qxF "$sum" "$applied" 2>/dev/null || kctl apply -f "$f" > /dev/null 2>"$new.err"; then
            echo "$sum" >> "$new"
            grep -qxF "$sum" "$applied" 2>/dev/null || log info "applied $f"
        else
            log error "could not apply $f: $(tail -n1 "$new.err")"
        fi
    done
    mv "$new" "$applied"
    rm -f "$new.err"
}

# The ingress stand-in and the process that writes its routes from the
# cluster's Ingress objects (share/ingress-routes.py).
start_ingress() {
    start k3s-ingress-routes python3 "$SHARE/ingress-routes.py" 127.0.0.1:6444 "$TLS/server-ca.crt" \
        "$TLS/client-admin.crt" "$TLS/client-admin.key" "$RUN_DIR/ingress-routes"
    start k3s-ingress "$BIN/k3s-ingress" --listen :80 --routes "$RUN_DIR/ingress-routes"
}

# k3s's own controller gives a server its role labels (the kubelet may not);
# fails until the node has registered.
label_node() {
    api "https://127.0.0.1:6444/api/v1/nodes/$NODE" -o /dev/null -X PATCH \
        -H 'Content-Type: application/merge-patch+json' \
        --data '{"metadata":{"labels":{"node-role.kubernetes.io/control-plane":"true","node-role.kubernetes.io/master":"true"}}}' \
        2> /dev/null
}

# Tells systemd we are ready, again until it listens (systemd may drop a
# message whose sender is already gone).
notify_ready() {
    [ -n "$SYSTEMD_NOTIFY_SOCKET" ] || return 0
    local unit i
    unit=$(sed -n 's|^0::.*/||p' /proc/self/cgroup)
    for ((i = 0; i < 20; i++)); do
        NOTIFY_SOCKET=$SYSTEMD_NOTIFY_SOCKET systemd-notify --ready --pid="$$" --status="k3s of parts running"
        [ "$(systemctl show -p ActiveState --value "$unit" 2>/dev/null)" = active ] && return 0
        sleep 1
    done
    log warning "systemd did not take the ready notification"
}

make_node_password() {
    [ -f "$NODE_PASSWORD" ] && return 0
    mkdir -p "${NODE_PASSWORD%/*}"
    (umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$NODE_PASSWORD")
}

# k3s's server token, K10<sha256 of the server CA>::server:<secret>, with the
# node-token and agent-token names it also has (nothing here reads them: no
# node joins a k3s of parts).
make_token() {
    [ -f "$SERVER/token" ] && return 0
    (
        umask 077
        printf 'K10%s::server:%s\n' "$(sha256sum < "$TLS/server-ca.crt" | cut -d' ' -f1)" \
            "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$SERVER/token"
    )
    ln -sfn token "$SERVER/node-token"
    ln -sfn token "$SERVER/agent-token"
}

write_addons() {
    mkdir -p "$SERVER/manifests"
    sed "s/@CLUSTER_DNS@/$CLUSTER_DNS/" "$SHARE/coredns.yaml" > "$SERVER/manifests/coredns.yaml"
    cp "$SHARE/traefik-crd.yaml" "$SERVER/manifests/traefik-crd.yaml"
}

server_main() {
    while [ $# -gt 0 ]; do
        case $1 in
            --config|-c) CONFIG=$2; shift 2 ;;
            *) log warning "the k3s of parts ignores the flag $1"; shift ;;
        esac
    done
    [ -z "$(config_scalar server)" ] || die "joining a cluster (server: in $CONFIG) is not built into the k3s of parts"
    # Only we tell systemd we are ready (kube-apiserver would, too), as k3s
    # keeps NOTIFY_SOCKET from its parts.
    SYSTEMD_NOTIFY_SOCKET=${NOTIFY_SOCKET:-}
    unset NOTIFY_SOCKET
    log info "Starting k3s $PARTS_VERSION (a k3s MADE OF REAL PARTS for tests, not k3s) with config $CONFIG"
    local ip mode tool
    for tool in curl openssl python3; do
        command -v "$tool" > /dev/null || die "the k3s of parts needs $tool on the host (the test guests have it)"
    done
    extract_parts
    ip=$(node_ip) || die "no default route and no node-ip: cannot choose the node's address (k3s fails the same way)"
    mkdir -p "$SERVER" "$AGENT" "$RUN_DIR" /etc/rancher/k3s
    make_node_password
    make_certs "$ip"
    make_token
    write_kubeconfig "$CRED/admin.kubeconfig" https://127.0.0.1:6444 client-admin
    write_kubeconfig "$CRED/controller.kubeconfig" https://127.0.0.1:6444 client-controller
    write_kubeconfig "$CRED/scheduler.kubeconfig" https://127.0.0.1:6444 client-scheduler
    write_kubeconfig "$CRED/k3s-controller.kubeconfig" https://127.0.0.1:6444 client-k3s-controller
    write_kubeconfig "$AGENT/kubelet.kubeconfig" https://127.0.0.1:6444 client-kubelet
    write_kubeconfig "$AGENT/kubeproxy.kubeconfig" https://127.0.0.1:6444 client-kube-proxy
    write_kubeconfig "$ADMIN_KUBECONFIG" https://127.0.0.1:6443 client-admin
    mode=$(config_scalar write-kubeconfig-mode)
    chmod "${mode:-0600}" "$ADMIN_KUBECONFIG"
    trap 'stop_all; exit 0' TERM INT
    start_kine
    # As in k3s, the agent's containerd and its image import run alongside
    # the control plane's start; the kubelet waits for the import.
    start_containerd
    import_images &
    IMPORT_PID=$!
    start_apiserver "$ip"
    start_supervisor
    write_api_endpoints "$ip"
    # k3s tells systemd it is up once its API server and datastore are.
    notify_ready
    start_controllers
    wait "$IMPORT_PID"
    IMPORT_PID=''
    start_kubelet "$ip"
    start_kube_proxy
    start_helm_controller
    write_addons
    start_ingress
    log info "k3s of parts is up"
    local labelled=0
    while :; do
        deploy_manifests
        [ "$labelled" = 1 ] || ! label_node || labelled=1
        for pid in "${CHILDREN[@]}"; do
            kill -0 "$pid" 2>/dev/null && continue
            log fatal "a part (pid $pid) exited; stopping the others (systemd starts us again)"
            stop_all
            exit 1
        done
        sleep 5 &
        wait $!
    done
}

# `k3s crictl images`: crictl is not among the parts; ctr lists the CRI's images.
crictl_main() {
    case "${1:-}" in
        images) "$BIN/ctr" --address "$SOCK" -n k8s.io images ls ;;
        *) echo "k3s of parts: only 'crictl images' is built (through ctr)" >&2; return 1 ;;
    esac
}

# `k3s certificate check`: each certificate's subject and end date.
certificate_main() {
    [ "${1:-}" = check ] || { echo "k3s of parts: only 'certificate check' is built" >&2; return 1; }
    local f
    for f in "$TLS"/*.crt; do
        printf '%s\t%s\n' "${f##*/}" "$(openssl x509 -noout -enddate -in "$f" | cut -d= -f2)"
    done
}

main() {
    case "${1:-}" in
        --version|-v|version) parts_version ;;
        server) shift; server_main "$@" ;;
        kubectl) shift; KUBECONFIG=${KUBECONFIG:-$ADMIN_KUBECONFIG} exec "$BIN/kubectl" "$@" ;;
        ctr) shift; exec "$BIN/ctr" --address "$SOCK" -n k8s.io "$@" ;;
        crictl) shift; crictl_main "$@" ;;
        certificate) shift; certificate_main "$@" ;;
        agent|token|etcd-snapshot|secrets-encrypt)
            echo "k3s of parts: '$1' is not built (single server only; test-vm/stand-ins/k3s-parts/README.md)" >&2
            return 1 ;;
        *) echo "k3s of parts: unknown command '${1:-}'" >&2; return 1 ;;
    esac
}

main "$@"
exit $?
# The parts follow this line (a tar; assemble appends it).
# shellcheck disable=SC2317
__FLOPPIES_PARTS_BELOW__
