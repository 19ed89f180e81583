package main

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// registerModel is one key as a register: write(v) stores v, delete makes
// the key absent, read returns the value or "absent" (or, for a value
// written with a TTL, "absent" once it may have expired: the model has no
// clock, so at any time). A write or delete of unknown outcome is accepted
// in any state (its effect is the same whatever it returned).
func registerModel(init State) porcupine.Model {
	return porcupine.Model{
		Init: func() interface{} { return init },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			s := state.(State)
			in := input.(Input)
			out := output.(Output)
			switch in.Op {
			case "write":
				return true, State{Present: true, Value: in.Value, Expiring: in.TTL}
			case "delete":
				return true, State{}
			case "read":
				if !out.Found {
					return !s.Present || s.Expiring, s
				}
				return s.Present && out.Value == s.Value, s
			}
			return false, s
		},
		Equal: func(a, b interface{}) bool { return a.(State) == b.(State) },
		DescribeOperation: func(input, output interface{}) string {
			in := input.(Input)
			out := output.(Output)
			switch in.Op {
			case "write":
				w := fmt.Sprintf("write(%q)", in.Value)
				if in.TTL {
					w = fmt.Sprintf("write(%q, ttl)", in.Value)
				}
				if out.Unknown {
					return w + " -> ?"
				}
				return w
			case "delete":
				if out.Unknown {
					return "delete() -> ?"
				}
				return "delete()"
			default:
				if !out.Found {
					return "read() -> absent"
				}
				return fmt.Sprintf("read() -> %q", out.Value)
			}
		},
		DescribeState: func(state interface{}) string {
			s := state.(State)
			if !s.Present {
				return "absent"
			}
			if s.Expiring {
				return fmt.Sprintf("%q (expiring)", s.Value)
			}
			return fmt.Sprintf("%q", s.Value)
		},
		DescribeOperationMetadata: func(info interface{}) string {
			if s, ok := info.(string); ok {
				return s
			}
			return ""
		},
	}
}
