"""Sets, reads and deletes a key on a kvring cluster, then provokes an error
and tells it apart by its reason.

    python quickstart.py --addr 127.0.0.1:50051,127.0.0.2:50051,127.0.0.3:50051
"""

import argparse
import json
import os
import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

# The stubs build.sh generated from proto/kvring/v1/kvring.proto.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))
from kvring.v1 import kvring_pb2, kvring_pb2_grpc  # noqa: E402

CALL_TIMEOUT = 5.0  # seconds, on every call

# Every node coordinates every key, so calls go round-robin over the nodes
# given (an unreachable one is skipped), and a read that failed with
# UNAVAILABLE is retried by gRPC itself. Writes are never retried blindly.
SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [
                {"service": "kvring.v1.KVService", "method": "Get"},
                {"service": "kvring.v1.KVService", "method": "MGet"},
            ],
            "retryPolicy": {
                "maxAttempts": 3,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}


def connect(addrs):
    """One channel over several nodes. gRPC's ipv4: target takes a list of
    IP:port; in Kubernetes dial dns:///kvring.<namespace>.svc:50051 instead."""
    target = addrs[0] if len(addrs) == 1 else "ipv4:" + ",".join(addrs)
    options = [("grpc.service_config", json.dumps(SERVICE_CONFIG))]
    # TLS: grpc.secure_channel(target, grpc.ssl_channel_credentials(ca), options)
    return grpc.insecure_channel(target, options=options)


def error_info(err):
    """The node's machine-readable reason for a failure, or None."""
    st = rpc_status.from_call(err)
    for detail in st.details if st else []:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info) and info.domain == "kvring.dev":
            return info
    return None


def write_may_be_retried(err):
    """Only when the node says the write was not applied. A deadline or
    WRITE_IN_DOUBT leaves the outcome unknown: read the key first."""
    info = error_info(err)
    return info is not None and info.reason in ("QUORUM_UNAVAILABLE", "POSTGRES_UNAVAILABLE")


def describe(err):
    s = f"code={err.code().name} message={json.dumps(err.details())}"
    if err.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
        s += " (outcome unknown)"
    info = error_info(err)
    if info is not None:
        s += f" reason={info.reason} domain={info.domain}"
        s += "".join(f" {k}={info.metadata[k]}" for k in sorted(info.metadata))
    return s


def op_error(op, err):
    """What failed, why, and for a write whether it may be retried (a read
    may always be retried, on any node)."""
    msg = f"{op}: {describe(err)}"
    if op != "get":
        msg += f" retry-write={str(write_may_be_retried(err)).lower()}"
    return msg


def call(op, method, request):
    try:
        return method(request, timeout=CALL_TIMEOUT)
    except grpc.RpcError as err:
        sys.exit(op_error(op, err))


def get(kv, key):
    res = call("get", kv.Get, kvring_pb2.GetRequest(key=key))
    print(f"get {key} found={str(res.found).lower()} value={json.dumps(res.value.decode())} version={res.version}")


def run(kv, key, value):
    res = call("set", kv.Set, kvring_pb2.SetRequest(key=key, value=value.encode()))
    print(f"set {key} version={res.version}")
    get(kv, key)
    res = call("delete", kv.Delete, kvring_pb2.DeleteRequest(key=key))
    print(f"delete {key} version={res.version}")
    get(kv, key)

    # A key longer than the node's limit (KVRING_MAX_KEY_BYTES) is refused.
    try:
        kv.Set(kvring_pb2.SetRequest(key="k" * 64 * 1024, value=value.encode()), timeout=CALL_TIMEOUT)
    except grpc.RpcError as err:
        print(f"error {op_error('set', err)}")
    else:
        sys.exit("an oversized key was accepted")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", default=os.environ.get("KVRING_ADDR", "127.0.0.1:50051"),
                   help="node client addresses, comma-separated (env KVRING_ADDR)")
    p.add_argument("--key", default="quickstart:python")
    p.add_argument("--value", default="hello from Python")
    args = p.parse_args()
    with connect([a.strip() for a in args.addr.split(",")]) as channel:
        run(kvring_pb2_grpc.KVServiceStub(channel), args.key, args.value)


if __name__ == "__main__":
    main()
