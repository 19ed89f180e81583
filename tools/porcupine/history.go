package main

// Reading the fault suite's history file (node/test/faults/history.ts writes
// it): one JSON object per line, each an event of an operation (invoke, then
// ok, fail or info) or a fault, with monotonic timestamps in nanoseconds
// since the run started.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/anishathalye/porcupine"
)

// Event is one line of the history file.
type Event struct {
	Type    string  `json:"type"` // invoke | ok | fail | info | init | fault | heal
	ID      int     `json:"id"`
	Proc    int     `json:"proc"`
	T       int64   `json:"t"`
	F       string  `json:"f"` // write | delete | read
	Key     string  `json:"key"`
	Value   *string `json:"value"`
	TTLMs   int64   `json:"ttlMs"`
	Found   *bool   `json:"found"`
	Version int64   `json:"version"`
	Node    string  `json:"node"`
	Error   string  `json:"error"`
	Fault   string  `json:"fault"`
}

// Input of a register operation.
type Input struct {
	Op    string // "write", "delete" or "read"
	Value string // written value
	TTL   bool   // a write with a TTL: its value may vanish at any later time
}

// Output of a register operation. Unknown marks a write whose outcome the
// client never learned (in doubt): it may take effect at any time after its
// call, or never.
type Output struct {
	Unknown bool
	Found   bool
	Value   string
}

// State of one key's register: absent, or holding Value (Expiring: written
// with a TTL, so a read may also find it absent).
type State struct {
	Present  bool
	Value    string
	Expiring bool
}

// KeyHistory is what the checker needs for one key.
type KeyHistory struct {
	Key     string
	Init    State
	Ops     []porcupine.Operation
	InDoubt int
}

// FaultSpan is a fault from its start to its heal, for annotations.
type FaultSpan struct {
	Name       string
	Start, End int64
}

// Parsed is a whole history split by key.
type Parsed struct {
	Keys    []*KeyHistory // keys checked, sorted by name
	TTLKeys []string      // keys that saw a write with a TTL (checked with expiry allowed)
	Faults  []FaultSpan
	Ops     int
	InDoubt int // after pruning
	Pruned  int // in-doubt operations left out by prune
}

// Infinity is the return time of an operation whose outcome is unknown:
// Porcupine may then linearize it anywhere after its call, or (by placing it
// after everything else) as if it never happened.
const Infinity = int64(math.MaxInt64)

// ParseHistory reads the JSON-lines history. Failed operations are dropped
// (a write that certainly did not happen, a read that returned nothing);
// in-doubt writes and deletes get an unknown output and an infinite return
// time; in-doubt reads are dropped. Keys written with a TTL are checked
// too: Porcupine has no clock, so an expiring value may read as absent at
// any time after its write (never as an older value).
func ParseHistory(r io.Reader) (*Parsed, error) {
	type pending struct {
		ev  Event
		out *Event
	}
	calls := map[int]*pending{}
	var order []int
	inits := map[string]State{}
	ttlKeys := map[string]bool{}
	faultStart := map[int]Event{}
	var faults []FaultSpan

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		switch ev.Type {
		case "init":
			s := State{}
			if ev.Value != nil {
				s = State{Present: true, Value: *ev.Value}
			}
			inits[ev.Key] = s
		case "invoke":
			if _, dup := calls[ev.ID]; dup {
				return nil, fmt.Errorf("line %d: operation %d invoked twice", line, ev.ID)
			}
			calls[ev.ID] = &pending{ev: ev}
			order = append(order, ev.ID)
			if ev.TTLMs > 0 {
				ttlKeys[ev.Key] = true
			}
		case "ok", "fail", "info":
			p := calls[ev.ID]
			if p == nil {
				return nil, fmt.Errorf("line %d: completion of unknown operation %d", line, ev.ID)
			}
			if p.out != nil {
				return nil, fmt.Errorf("line %d: operation %d completed twice", line, ev.ID)
			}
			e := ev
			p.out = &e
		case "fault":
			faultStart[ev.ID] = ev
		case "heal":
			if s, ok := faultStart[ev.ID]; ok {
				faults = append(faults, FaultSpan{Name: s.Fault, Start: s.T, End: ev.T})
				delete(faultStart, ev.ID)
			}
		default:
			return nil, fmt.Errorf("line %d: unknown event type %q", line, ev.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, s := range faultStart { // never healed: lasts until the end
		faults = append(faults, FaultSpan{Name: s.Fault, Start: s.T, End: s.T})
	}

	byKey := map[string]*KeyHistory{}
	p := &Parsed{Faults: faults}
	for _, id := range order {
		c := calls[id]
		inv := c.ev
		op, ok := toOperation(inv, c.out)
		if !ok {
			continue
		}
		kh := byKey[inv.Key]
		if kh == nil {
			kh = &KeyHistory{Key: inv.Key, Init: inits[inv.Key]}
			byKey[inv.Key] = kh
		}
		kh.Ops = append(kh.Ops, op)
	}
	for k := range ttlKeys {
		p.TTLKeys = append(p.TTLKeys, k)
	}
	sort.Strings(p.TTLKeys)
	for _, kh := range byKey {
		p.Pruned += prune(kh)
		p.Keys = append(p.Keys, kh)
	}
	sort.Slice(p.Keys, func(i, j int) bool { return p.Keys[i].Key < p.Keys[j].Key })
	for _, kh := range p.Keys {
		p.Ops += len(kh.Ops)
		p.InDoubt += kh.InDoubt
	}
	return p, nil
}

// prune drops the in-doubt operations of one key that no read can have
// observed, and returns how many. This keeps the check exact while sparing
// Porcupine the search over many pending operations (every one of which may
// be placed anywhere after its call), which after a PostgreSQL outage
// otherwise takes longer than any time limit.
//
// Why it is exact (values are unique per write):
//   - An in-doubt write of v that no read returned: in any linearization
//     with it, no read sits between it and the next write or delete (such a
//     read would return v), so removing it leaves a valid linearization;
//     and a linearization without it extends to one with it placed last.
//   - An in-doubt delete such that no read returning "absent" ended at or
//     after the delete's call: the same argument, with "absent" for v.
//   - An in-doubt write with a TTL can explain both: it is dropped only when
//     both conditions hold.
func prune(kh *KeyHistory) int {
	seen := map[string]bool{}
	var absentReturns []int64
	for _, op := range kh.Ops {
		in := op.Input.(Input)
		out := op.Output.(Output)
		if in.Op != "read" {
			continue
		}
		if out.Found {
			seen[out.Value] = true
		} else {
			absentReturns = append(absentReturns, op.Return)
		}
	}
	absentAfter := func(call int64) bool {
		for _, r := range absentReturns {
			if r >= call {
				return true
			}
		}
		return false
	}
	kept := kh.Ops[:0]
	dropped := 0
	kh.InDoubt = 0
	for _, op := range kh.Ops {
		in := op.Input.(Input)
		if op.Output.(Output).Unknown {
			unseen := !seen[in.Value]
			if in.Op == "delete" || in.TTL {
				unseen = (in.Op == "delete" || unseen) && !absentAfter(op.Call)
			}
			if unseen {
				dropped++
				continue
			}
			kh.InDoubt++
		}
		kept = append(kept, op)
	}
	kh.Ops = kept
	return dropped
}

// toOperation turns an invocation and its completion (nil when the run
// ended first) into a Porcupine operation; false when it is left out.
func toOperation(inv Event, out *Event) (porcupine.Operation, bool) {
	in := Input{Op: inv.F, TTL: inv.F == "write" && inv.TTLMs > 0}
	if inv.Value != nil {
		in.Value = *inv.Value
	}
	switch inv.F {
	case "write", "delete":
	case "read":
		if out == nil || out.Type != "ok" {
			return porcupine.Operation{}, false // no answer: no effect, nothing observed
		}
	default:
		return porcupine.Operation{}, false
	}
	if out == nil || out.Type == "info" {
		return porcupine.Operation{
			ClientId: inv.Proc,
			Input:    in,
			Call:     inv.T,
			Output:   Output{Unknown: true},
			Return:   Infinity,
			Metadata: describeMeta(inv, out),
		}, true
	}
	if out.Type == "fail" {
		return porcupine.Operation{}, false // certainly not applied
	}
	o := Output{}
	if inv.F == "read" {
		o.Found = out.Found != nil && *out.Found
		if o.Found && out.Value != nil {
			o.Value = *out.Value
		}
	}
	return porcupine.Operation{
		ClientId: inv.Proc,
		Input:    in,
		Call:     inv.T,
		Output:   o,
		Return:   out.T,
		Metadata: describeMeta(inv, out),
	}, true
}

func describeMeta(inv Event, out *Event) string {
	s := fmt.Sprintf("op %d via %s", inv.ID, inv.Node)
	if out != nil {
		if out.Version > 0 {
			s += fmt.Sprintf(", version %d", out.Version)
		}
		if out.Error != "" {
			s += ", error: " + out.Error
		}
	} else {
		s += ", no completion recorded"
	}
	return s
}
