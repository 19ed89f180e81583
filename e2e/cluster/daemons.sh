# How each component of the local cluster starts and when it counts as up
# (sourced by cluster.sh). Every daemon runs in the cluster's network and
# mount namespaces, logs to $LOG_DIR/<name>.log, and listens on the node's
# address or on the namespace's own loopback, so fixed ports are fine.
# shellcheck shell=bash

CFG_DIR="$CLUSTER_DIR/config"

# --- containerd (Debian's 1.6, CRI plugin on) --------------------------------
start_containerd() {
  mkdir -p "$CFG_DIR" "$CLUSTER_DIR/cni/net.d" "$CLUSTER_DIR/cni/ipam" "$CLUSTER_DIR/containerd/root" \
    "$CLUSTER_DIR/containerd/tmp" "$CLUSTER_DIR/containerd/opt"
  cat >"$CLUSTER_DIR/cni/net.d/10-$E2E_NAME.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$E2E_NAME",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$CLUSTER_DIR/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  # restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so a negative
  # oom_score_adj is refused and every sandbox would fail ("can't get final
  # child's PID from pipe: EOF"). netns_mounts_under_state_dir and runc's
  # Root keep pod network namespaces and runc state in the private /run.
  cat >"$CFG_DIR/containerd.toml" <<EOF
version = 2
root = "$CLUSTER_DIR/containerd/root"
state = "$RUN_DIR/containerd"
temp = "$CLUSTER_DIR/containerd/tmp"

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.internal.v1.opt"]
  path = "$CLUSTER_DIR/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$RUN_DIR/runc"
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CLUSTER_DIR/cni/net.d"
    max_conf_num = 1
EOF
  start_daemon containerd containerd --config "$CFG_DIR/containerd.toml" --log-level info
  wait_until "containerd's socket" 60 containerd in_cluster ctr --address "$CONTAINERD_SOCK" version
  local tar
  for tar in "${IMAGE_TARS[@]}"; do
    in_cluster ctr --address "$CONTAINERD_SOCK" -n k8s.io images import --no-unpack=false "$tar" >/dev/null
  done
  log "  images: $(in_cluster ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# --- etcd ----------------------------------------------------------------------
start_etcd() {
  start_daemon etcd "$BIN/etcd" \
    --name="$E2E_NAME" \
    --data-dir="$CLUSTER_DIR/etcd" \
    --listen-client-urls=http://127.0.0.1:2379 \
    --advertise-client-urls=http://127.0.0.1:2379 \
    --listen-peer-urls=http://127.0.0.1:2380 \
    --initial-advertise-peer-urls=http://127.0.0.1:2380 \
    --initial-cluster="$E2E_NAME=http://127.0.0.1:2380" \
    --listen-metrics-urls=http://127.0.0.1:2381 \
    --unsafe-no-fsync \
    --log-level=warn
  wait_until "etcd's /health" 60 etcd in_cluster curl -fsS --max-time 2 http://127.0.0.1:2379/health
}

# --- kube-apiserver ----------------------------------------------------------------
start_apiserver() {
  local p="$PKI_DIR"
  start_daemon kube-apiserver "$BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 \
    --advertise-address="$NODE_IP" \
    --secure-port="$API_PORT" \
    --cert-dir="$CLUSTER_DIR/apiserver" \
    --tls-cert-file="$p/apiserver.crt" \
    --tls-private-key-file="$p/apiserver.key" \
    --client-ca-file="$p/ca.crt" \
    --authorization-mode=Node,RBAC \
    --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$p/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$p/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$p/ca.crt" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer="https://kubernetes.default.svc.$CLUSTER_DOMAIN" \
    --service-account-key-file="$p/sa.pub" \
    --service-account-signing-key-file="$p/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --requestheader-client-ca-file="$p/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$p/front-proxy-client.crt" \
    --proxy-client-key-file="$p/front-proxy-client.key" \
    --allow-privileged=true \
    --profiling=false \
    --v=1
  wait_until "the API server's /readyz" 120 kube-apiserver kc get --raw /readyz
}

# --- kube-controller-manager and kube-scheduler ----------------------------------
start_controllers() {
  local p="$PKI_DIR" cm="$CLUSTER_DIR/controller-manager.kubeconfig" s="$CLUSTER_DIR/scheduler.kubeconfig"
  # --root-ca-file: the kube-root-ca.crt ConfigMap every pod's token volume
  # mounts comes from it; --use-service-account-credentials: each controller
  # acts as its own service account, as in any kubeadm cluster.
  start_daemon kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$cm" \
    --authentication-kubeconfig="$cm" \
    --authorization-kubeconfig="$cm" \
    --bind-address=127.0.0.1 \
    --cert-dir="$CLUSTER_DIR/controller-manager" \
    --cluster-name="$E2E_NAME" \
    --leader-elect=false \
    --root-ca-file="$p/ca.crt" \
    --service-account-private-key-file="$p/sa.key" \
    --use-service-account-credentials=true \
    --controllers='*' \
    --v=1
  start_daemon kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$s" \
    --authentication-kubeconfig="$s" \
    --authorization-kubeconfig="$s" \
    --bind-address=127.0.0.1 \
    --cert-dir="$CLUSTER_DIR/scheduler" \
    --leader-elect=false \
    --v=1
  wait_until "kube-controller-manager's /healthz" 90 kube-controller-manager \
    in_cluster curl -fsSk --max-time 2 https://127.0.0.1:10257/healthz
  wait_until "kube-scheduler's /healthz" 90 kube-scheduler \
    in_cluster curl -fsSk --max-time 2 https://127.0.0.1:10259/healthz
}

# --- kubelet -------------------------------------------------------------------------
start_kubelet() {
  local p="$PKI_DIR"
  mkdir -p "$CLUSTER_DIR/kubelet"
  # No host resolv.conf: nothing in the namespace resolves outside names.
  : >"$CFG_DIR/resolv.conf"
  cat >"$CFG_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: $p/kubelet-serving.crt
tlsPrivateKeyFile: $p/kubelet-serving.key
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $p/ca.crt }
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
# containerd 1.6 cannot tell the kubelet its cgroup driver (no RuntimeConfig
# call): the kubelet falls back to this, which 1.36 removes.
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_PARENT
cgroupsPerQOS: true
# This machine mounts cgroup v1; the kubelet refuses it unless told.
failCgroupV1: false
failSwapOn: false
clusterDNS: [$DNS_SERVICE_IP]
clusterDomain: $CLUSTER_DOMAIN
resolvConf: $CFG_DIR/resolv.conf
rotateCertificates: false
serverTLSBootstrap: false
# The disk is shared with other work: evict only when it is really full.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  imagefs.available: 2%
  nodefs.inodesFree: 2%
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
shutdownGracePeriod: 0s
maxPods: 110
EOF
  start_daemon kubelet "$BIN/kubelet" \
    --config="$CFG_DIR/kubelet.yaml" \
    --kubeconfig="$CLUSTER_DIR/kubelet.kubeconfig" \
    --root-dir="$CLUSTER_DIR/kubelet" \
    --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" \
    --v=2
  wait_until "the kubelet's /healthz" 90 kubelet in_cluster curl -fsS --max-time 2 http://127.0.0.1:10248/healthz
  wait_until "node $NODE_NAME to register" 90 kubelet kc get node "$NODE_NAME"
  wait_until "node $NODE_NAME to be Ready" 120 kubelet node_ready
}

node_ready() {
  [ "$(kc get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

# --- kube-proxy (iptables) ---------------------------------------------------------------
start_kube_proxy() {
  # conntrack.maxPerCore 0: nf_conntrack_max is read-only outside the
  # machine's own network namespace, so kube-proxy must leave it alone.
  cat >"$CFG_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $CLUSTER_DIR/kube-proxy.kubeconfig
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
nodePortAddresses: [primary]
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack:
  maxPerCore: 0
  min: 0
iptables:
  minSyncPeriod: 0s
  localhostNodePorts: false
EOF
  start_daemon kube-proxy "$BIN/kube-proxy" --config="$CFG_DIR/kube-proxy.yaml" --v=1
  wait_until "kube-proxy's /healthz" 60 kube-proxy in_cluster curl -fsS --max-time 2 http://127.0.0.1:10256/healthz
  # The API server's ClusterIP answers once the rules are in.
  wait_until "the kubernetes Service's ClusterIP" 60 kube-proxy \
    in_cluster curl -fsS --max-time 2 --cacert "$PKI_DIR/ca.crt" --cert "$PKI_DIR/admin.crt" --key "$PKI_DIR/admin.key" \
    "https://$API_SERVICE_IP/readyz"
}

# --- CoreDNS (a Deployment, like any cluster's) ------------------------------------------------
start_coredns() {
  sed -e "s|@COREDNS_IMAGE@|$(coredns_image)|g" \
    -e "s|@DNS_SERVICE_IP@|$DNS_SERVICE_IP|g" \
    -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|g" \
    "$cluster_lib_dir/manifests/coredns.yaml" >"$CFG_DIR/coredns.yaml"
  kc apply -f "$CFG_DIR/coredns.yaml" >/dev/null
  wait_until "the CoreDNS Deployment to be available" 180 kubelet \
    kc -n kube-system rollout status deployment/coredns --timeout=5s
  wait_until "CoreDNS to answer for kubernetes.default" 60 - coredns_answers
}

# The API server's Service name resolves through the DNS Service's ClusterIP
# (busybox's nslookup, run in the namespace: the machine has no DNS client).
coredns_answers() {
  in_cluster "$(host_busybox)" nslookup "kubernetes.default.svc.$CLUSTER_DOMAIN" "$DNS_SERVICE_IP" 2>/dev/null |
    grep -qx "Address: *$API_SERVICE_IP"
}
