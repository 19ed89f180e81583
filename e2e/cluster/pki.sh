# The cluster's PKI, made fresh for every cluster with openssl (sourced by
# cluster.sh): one CA, a serving certificate for the API server and the
# kubelet, a client certificate per component (the identity RBAC and the
# Node authorizer expect), the service-account signing key, and a
# kubeconfig per client. Valid for 2 days: a test cluster lives minutes.
# shellcheck shell=bash

PKI_DIR="$CLUSTER_DIR/pki"

# pki_cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES], signed by
# $PKI_CA (default: the cluster CA).
pki_cert() {
  local ca="${PKI_CA:-ca}"
  local name="$1" subject="$2" eku="$3" sans="${4:-}"
  {
    echo 'basicConstraints=CA:FALSE'
    echo 'keyUsage=critical,digitalSignature,keyEncipherment'
    echo "extendedKeyUsage=$eku"
    [ -z "$sans" ] || echo "subjectAltName=$sans"
  } >"$PKI_DIR/$name.ext"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/$name.key" 2>/dev/null
  openssl req -new -key "$PKI_DIR/$name.key" -subj "$subject" -out "$PKI_DIR/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI_DIR/$name.csr" -CA "$PKI_DIR/$ca.crt" -CAkey "$PKI_DIR/$ca.key" \
    -CAcreateserial -days 2 -out "$PKI_DIR/$name.crt" -extfile "$PKI_DIR/$name.ext" 2>/dev/null
  rm -f "$PKI_DIR/$name.csr" "$PKI_DIR/$name.ext"
}

# kubeconfig_for NAME: $CLUSTER_DIR/NAME.kubeconfig with NAME's client certificate.
kubeconfig_for() {
  local name="$1" b64ca b64cert b64key
  b64ca="$(base64 -w0 <"$PKI_DIR/ca.crt")"
  b64cert="$(base64 -w0 <"$PKI_DIR/$name.crt")"
  b64key="$(base64 -w0 <"$PKI_DIR/$name.key")"
  (
    umask 077
    cat >"$CLUSTER_DIR/$name.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $E2E_NAME
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority-data: $b64ca
users:
- name: $name
  user:
    client-certificate-data: $b64cert
    client-key-data: $b64key
contexts:
- name: $E2E_NAME
  context: {cluster: $E2E_NAME, user: $name, namespace: default}
current-context: $E2E_NAME
EOF
  )
}

make_pki() {
  command -v openssl >/dev/null || die "openssl is needed (apt-get install openssl)"
  rm -rf "$PKI_DIR"
  mkdir -p "$PKI_DIR"
  chmod 0700 "$PKI_DIR"
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI_DIR/ca.key" -subj "/CN=$E2E_NAME-ca" -days 2 -out "$PKI_DIR/ca.crt" \
    -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
  local svc="kubernetes.default.svc"
  pki_cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:$NODE_IP,IP:$API_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:$svc,DNS:$svc.$CLUSTER_DOMAIN"
  pki_cert kubelet-serving "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
  # The API server calls the kubelet (logs, exec, port-forward) as an admin.
  pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  pki_cert admin "/O=system:masters/CN=$E2E_NAME-admin" clientAuth
  pki_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  pki_cert scheduler "/CN=system:kube-scheduler" clientAuth
  pki_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
  pki_cert kube-proxy "/CN=system:kube-proxy" clientAuth
  # The aggregation layer's front proxy (a CA of its own, as kubeadm makes):
  # without it the API server publishes no request-header CA and every
  # component that reads extension-apiserver-authentication logs errors.
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI_DIR/front-proxy-ca.key" 2>/dev/null
  openssl req -x509 -new -key "$PKI_DIR/front-proxy-ca.key" -subj "/CN=$E2E_NAME-front-proxy-ca" -days 2 \
    -out "$PKI_DIR/front-proxy-ca.crt" -addext 'basicConstraints=critical,CA:TRUE' \
    -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
  PKI_CA=front-proxy-ca pki_cert front-proxy-client "/CN=front-proxy-client" clientAuth
  openssl genrsa -out "$PKI_DIR/sa.key" 2048 2>/dev/null
  openssl rsa -in "$PKI_DIR/sa.key" -pubout -out "$PKI_DIR/sa.pub" 2>/dev/null
  local n
  for n in admin controller-manager scheduler kubelet kube-proxy; do kubeconfig_for "$n"; done
}
