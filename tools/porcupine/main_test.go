package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func check(t *testing.T, lines ...string) (*Parsed, Report) {
	t.Helper()
	p, err := ParseHistory(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return p, Check(p, 10*time.Second, 2)
}

func TestSequentialHistoryIsLinearizable(t *testing.T) {
	_, r := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"a","value":"x"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"write","key":"a","version":1}`,
		`{"type":"invoke","id":2,"proc":1,"t":30,"f":"read","key":"a"}`,
		`{"type":"ok","id":2,"proc":1,"t":40,"f":"read","key":"a","found":true,"value":"x","version":1}`,
		`{"type":"invoke","id":3,"proc":0,"t":50,"f":"delete","key":"a"}`,
		`{"type":"ok","id":3,"proc":0,"t":60,"f":"delete","key":"a","version":2}`,
		`{"type":"invoke","id":4,"proc":1,"t":70,"f":"read","key":"a"}`,
		`{"type":"ok","id":4,"proc":1,"t":80,"f":"read","key":"a","found":false}`,
	)
	if r.Verdict != "linearizable" || r.Keys != 1 || r.Operations != 4 {
		t.Fatalf("got %+v", r)
	}
}

func TestStaleReadIsNotLinearizable(t *testing.T) {
	_, r := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"a","value":"x"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"write","key":"a"}`,
		`{"type":"invoke","id":2,"proc":0,"t":30,"f":"write","key":"a","value":"y"}`,
		`{"type":"ok","id":2,"proc":0,"t":40,"f":"write","key":"a"}`,
		`{"type":"invoke","id":3,"proc":1,"t":50,"f":"read","key":"a"}`,
		`{"type":"ok","id":3,"proc":1,"t":60,"f":"read","key":"a","found":true,"value":"x"}`,
	)
	if r.Verdict != "not linearizable" || len(r.Illegal) != 1 || r.Illegal[0] != "a" {
		t.Fatalf("got %+v", r)
	}
}

func TestDeletedValueComingBackIsNotLinearizable(t *testing.T) {
	_, r := check(t,
		`{"type":"init","key":"legacy:1","value":"legacy-value-1"}`,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"delete","key":"legacy:1"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"delete","key":"legacy:1"}`,
		`{"type":"invoke","id":2,"proc":1,"t":30,"f":"read","key":"legacy:1"}`,
		`{"type":"ok","id":2,"proc":1,"t":40,"f":"read","key":"legacy:1","found":true,"value":"legacy-value-1"}`,
	)
	if r.Verdict != "not linearizable" {
		t.Fatalf("got %+v", r)
	}
}

func TestInitialValueIsReadable(t *testing.T) {
	_, r := check(t,
		`{"type":"init","key":"legacy:1","value":"legacy-value-1"}`,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"read","key":"legacy:1"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"read","key":"legacy:1","found":true,"value":"legacy-value-1"}`,
	)
	if r.Verdict != "linearizable" {
		t.Fatalf("got %+v", r)
	}
}

// A write in doubt may take effect long after the client gave up on it,
// or never; both are linearizable.
func TestInDoubtWriteMayApplyLaterOrNever(t *testing.T) {
	_, later := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"a","value":"x"}`,
		`{"type":"info","id":1,"proc":0,"t":20,"f":"write","key":"a","error":"DEADLINE_EXCEEDED"}`,
		`{"type":"invoke","id":2,"proc":1,"t":30,"f":"read","key":"a"}`,
		`{"type":"ok","id":2,"proc":1,"t":40,"f":"read","key":"a","found":false}`,
		`{"type":"invoke","id":3,"proc":1,"t":50,"f":"read","key":"a"}`,
		`{"type":"ok","id":3,"proc":1,"t":60,"f":"read","key":"a","found":true,"value":"x"}`,
	)
	if later.Verdict != "linearizable" || later.InDoubt != 1 {
		t.Fatalf("got %+v", later)
	}
	// The same history with the write failed for certain is not.
	_, failed := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"a","value":"x"}`,
		`{"type":"fail","id":1,"proc":0,"t":20,"f":"write","key":"a","error":"INVALID_ARGUMENT"}`,
		`{"type":"invoke","id":3,"proc":1,"t":50,"f":"read","key":"a"}`,
		`{"type":"ok","id":3,"proc":1,"t":60,"f":"read","key":"a","found":true,"value":"x"}`,
	)
	if failed.Verdict != "not linearizable" {
		t.Fatalf("got %+v", failed)
	}
}

// A TTL value may be read as absent at any time after its write; an older
// value after a newer TTL write was acknowledged is still stale.
func TestKeysWithATTLAreCheckedWithExpiry(t *testing.T) {
	_, expired := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"t:1","value":"x","ttlMs":1000}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"write","key":"t:1"}`,
		`{"type":"invoke","id":2,"proc":1,"t":30,"f":"read","key":"t:1"}`,
		`{"type":"ok","id":2,"proc":1,"t":40,"f":"read","key":"t:1","found":false}`,
	)
	if expired.Verdict != "linearizable" || expired.Keys != 1 || expired.TTLKeys != 1 {
		t.Fatalf("got %+v", expired)
	}
	_, stale := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"t:1","value":"x"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"write","key":"t:1"}`,
		`{"type":"invoke","id":2,"proc":0,"t":30,"f":"write","key":"t:1","value":"y","ttlMs":1000}`,
		`{"type":"ok","id":2,"proc":0,"t":40,"f":"write","key":"t:1"}`,
		`{"type":"invoke","id":3,"proc":1,"t":50,"f":"read","key":"t:1"}`,
		`{"type":"ok","id":3,"proc":1,"t":60,"f":"read","key":"t:1","found":true,"value":"x"}`,
	)
	if stale.Verdict != "not linearizable" {
		t.Fatalf("got %+v", stale)
	}
	// Without a TTL, absent after an acknowledged write is a lost write.
	_, lost := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"t:1","value":"x"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"write","key":"t:1"}`,
		`{"type":"invoke","id":2,"proc":1,"t":30,"f":"read","key":"t:1"}`,
		`{"type":"ok","id":2,"proc":1,"t":40,"f":"read","key":"t:1","found":false}`,
	)
	if lost.Verdict != "not linearizable" {
		t.Fatalf("got %+v", lost)
	}
}

// An in-doubt TTL write nobody read may still explain an "absent" read:
// pruning it would turn a linearizable history into an illegal one.
func TestInDoubtTTLWriteExplainingAbsenceIsKept(t *testing.T) {
	p, r := check(t,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"t:1","value":"x"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"write","key":"t:1"}`,
		`{"type":"invoke","id":2,"proc":0,"t":30,"f":"write","key":"t:1","value":"y","ttlMs":1000}`,
		`{"type":"info","id":2,"proc":0,"t":40,"f":"write","key":"t:1","error":"DEADLINE_EXCEEDED"}`,
		`{"type":"invoke","id":3,"proc":1,"t":50,"f":"read","key":"t:1"}`,
		`{"type":"ok","id":3,"proc":1,"t":60,"f":"read","key":"t:1","found":false}`,
	)
	if r.Verdict != "linearizable" || p.Pruned != 0 || r.InDoubt != 1 {
		t.Fatalf("got %+v (pruned %d)", r, p.Pruned)
	}
}

func TestVisualizationOfAFailingKeyIsWritten(t *testing.T) {
	p, r := check(t,
		`{"type":"fault","id":1,"t":5,"fault":"kill kv-1"}`,
		`{"type":"invoke","id":1,"proc":0,"t":10,"f":"write","key":"k:1","value":"x"}`,
		`{"type":"ok","id":1,"proc":0,"t":20,"f":"write","key":"k:1"}`,
		`{"type":"heal","id":1,"t":25}`,
		`{"type":"invoke","id":2,"proc":1,"t":30,"f":"read","key":"k:1"}`,
		`{"type":"ok","id":2,"proc":1,"t":40,"f":"read","key":"k:1","found":false}`,
	)
	if len(r.Illegal) != 1 || len(p.Faults) != 1 {
		t.Fatalf("got %+v, faults %+v", r, p.Faults)
	}
	path := filepath.Join(t.TempDir(), "x.html")
	if err := Visualize(p, "k:1", path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "kill kv-1") {
		t.Fatalf("visualization lacks the fault annotation (err %v, %d bytes)", err, len(b))
	}
}

func TestMalformedHistoryIsAnError(t *testing.T) {
	for _, bad := range []string{
		`{"type":"ok","id":9,"t":1}`,
		`{"type":"invoke","id":1,"t":1,"f":"read","key":"a"}` + "\n" + `{"type":"invoke","id":1,"t":2,"f":"read","key":"a"}`,
		`not json`,
	} {
		if _, err := ParseHistory(strings.NewReader(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

// Many writes in doubt on one key (a PostgreSQL outage): those no read saw
// are left out, so the check stays fast, and stays exact: a stale read among
// them is still found.
func TestUnobservedInDoubtOperationsArePrunedExactly(t *testing.T) {
	var lines []string
	id := 0
	add := func(proc int, t0, t1 int64, f, typ, extra string) {
		id++
		lines = append(lines,
			fmt.Sprintf(`{"type":"invoke","id":%d,"proc":%d,"t":%d,"f":"%s","key":"k"%s}`, id, proc, t0, f, extra),
			fmt.Sprintf(`{"type":"%s","id":%d,"proc":%d,"t":%d,"f":"%s","key":"k"}`, typ, id, proc, t1, f))
	}
	add(0, 1, 2, "write", "ok", `,"value":"first"`)
	for i := 0; i < 200; i++ {
		add(1+i%8, int64(10+i), int64(11+i), "write", "info", fmt.Sprintf(`,"value":"doubt-%d"`, i))
		add(1+i%8, int64(10+i), int64(11+i), "delete", "info", "")
	}
	read := func(t0, t1 int64, value string) {
		id++
		lines = append(lines,
			fmt.Sprintf(`{"type":"invoke","id":%d,"proc":20,"t":%d,"f":"read","key":"k"}`, id, t0),
			fmt.Sprintf(`{"type":"ok","id":%d,"proc":20,"t":%d,"f":"read","key":"k","found":true,"value":"%s"}`, id, t1, value))
	}
	read(300, 301, "first")
	p, r := check(t, lines...)
	if r.Verdict != "linearizable" || p.Pruned != 400 || r.InDoubt != 0 {
		t.Fatalf("got %+v (pruned %d)", r, p.Pruned)
	}
	// One in-doubt write was seen, after which the first value comes back:
	// that write is kept, and the stale read is caught.
	read(400, 401, "doubt-7")
	read(500, 501, "first")
	p, r = check(t, lines...)
	if r.Verdict != "not linearizable" || r.InDoubt != 1 {
		t.Fatalf("got %+v (pruned %d)", r, p.Pruned)
	}
}
