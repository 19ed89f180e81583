// Command kvring-quickstart sets, reads and deletes a key on a kvring cluster,
// then provokes an error and tells it apart by its reason.
//
//	go run . -addr 127.0.0.1:50051,127.0.0.2:50051,127.0.0.3:50051
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	kvringv1 "kvring.dev/quickstart/gen/kvring/v1"
)

// Every node coordinates every key, so calls go round-robin over the nodes
// given (an unreachable one is skipped), and a read that failed with
// UNAVAILABLE is retried by gRPC itself. Writes are never retried blindly.
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{"service": "kvring.v1.KVService", "method": "Get"},
             {"service": "kvring.v1.KVService", "method": "MGet"}],
    "retryPolicy": {"maxAttempts": 3, "initialBackoff": "0.1s", "maxBackoff": "1s",
                    "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}
  }]
}`

const callTimeout = 5 * time.Second

func main() {
	addrs := flag.String("addr", envOr("KVRING_ADDR", "127.0.0.1:50051"), "node client addresses, comma-separated (env KVRING_ADDR)")
	key := flag.String("key", "quickstart:go", "key to write")
	value := flag.String("value", "hello from Go", "value to write")
	flag.Parse()

	conn, err := dial(strings.Split(*addrs, ","))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	kv := kvringv1.NewKVServiceClient(conn)
	if err := run(kv, *key, *value); err != nil {
		log.Fatal(err)
	}
}

// dial opens one connection over several nodes (a Kubernetes client would
// rather dial "dns:///kvring.<namespace>.svc:50051", the headless service).
func dial(addrs []string) (*grpc.ClientConn, error) {
	r := manual.NewBuilderWithScheme("kvring")
	var state resolver.State
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: strings.TrimSpace(a)})
	}
	r.InitialState(state)
	return grpc.NewClient(r.Scheme()+":///cluster",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()), // TLS: credentials.NewClientTLSFromFile
		grpc.WithDefaultServiceConfig(serviceConfig))
}

func run(kv kvringv1.KVServiceClient, key, value string) error {
	ctx := context.Background()

	c, cancel := context.WithTimeout(ctx, callTimeout)
	set, err := kv.Set(c, &kvringv1.SetRequest{Key: key, Value: []byte(value)})
	cancel()
	if err != nil {
		return opError("set", err)
	}
	fmt.Printf("set %s version=%d\n", key, set.Version)

	if err := get(ctx, kv, key); err != nil {
		return err
	}

	c, cancel = context.WithTimeout(ctx, callTimeout)
	del, err := kv.Delete(c, &kvringv1.DeleteRequest{Key: key})
	cancel()
	if err != nil {
		return opError("delete", err)
	}
	fmt.Printf("delete %s version=%d\n", key, del.Version)

	if err := get(ctx, kv, key); err != nil {
		return err
	}

	// A key longer than the node's limit (KVRING_MAX_KEY_BYTES) is refused.
	c, cancel = context.WithTimeout(ctx, callTimeout)
	_, err = kv.Set(c, &kvringv1.SetRequest{Key: strings.Repeat("k", 64*1024), Value: []byte(value)})
	cancel()
	if err == nil {
		return errors.New("an oversized key was accepted")
	}
	fmt.Println("error", opError("set", err))
	return nil
}

func get(ctx context.Context, kv kvringv1.KVServiceClient, key string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	res, err := kv.Get(ctx, &kvringv1.GetRequest{Key: key})
	if err != nil {
		return opError("get", err)
	}
	fmt.Printf("get %s found=%t value=%q version=%d\n", key, res.Found, res.Value, res.Version)
	return nil
}

// errorInfo returns the node's machine-readable reason for a failure, if any.
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == "kvring.dev" {
			return info
		}
	}
	return nil
}

// writeMayBeRetried: only when the node says the write was not applied. A
// deadline or WRITE_IN_DOUBT leaves the outcome unknown: read the key first.
func writeMayBeRetried(err error) bool {
	info := errorInfo(err)
	if info == nil {
		return false
	}
	switch info.Reason {
	case "QUORUM_UNAVAILABLE", "POSTGRES_UNAVAILABLE":
		return true
	default: // WRITE_IN_DOUBT, LIMIT_EXCEEDED (fix the request), ...
		return false
	}
}

// opError says what failed, why, and for a write whether it may be retried
// (a read may always be retried, on any node).
func opError(op string, err error) error {
	msg := op + ": " + describe(err)
	if op != "get" {
		msg += fmt.Sprintf(" retry-write=%t", writeMayBeRetried(err))
	}
	return errors.New(msg)
}

func describe(err error) string {
	st := status.Convert(err)
	s := fmt.Sprintf("code=%s message=%q", st.Code(), st.Message())
	if st.Code() == codes.DeadlineExceeded {
		s += " (outcome unknown)"
	}
	if info := errorInfo(err); info != nil {
		s += fmt.Sprintf(" reason=%s domain=%s", info.Reason, info.Domain)
		for _, k := range slices.Sorted(maps.Keys(info.Metadata)) {
			s += fmt.Sprintf(" %s=%s", k, info.Metadata[k])
		}
	}
	return s
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
