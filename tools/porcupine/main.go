// kvring-porcupine checks a fault-suite history with Porcupine: every key
// must be linearizable as a register (a value written with a TTL may read
// as absent once written, never as an older value).
//
//	kvring-porcupine -history RUN/kill.history.jsonl -out RUN -name kill
//
// It prints one JSON object (verdict, counts, failing keys, visualization
// files) and exits 0 when every key is linearizable, 1 when a key is not,
// 3 when a key could not be decided within -timeout, 2 on bad input. For
// each failing key (up to -max-visualizations) Porcupine's HTML
// visualization is written to OUT/NAME.porcupine.KEY.html, with the faults
// of the run shown as annotations.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report is what the program prints.
type Report struct {
	Verdict        string   `json:"verdict"` // linearizable | not linearizable | unknown
	Keys           int      `json:"keys"`
	TTLKeys        int      `json:"ttlKeys"`
	Operations     int      `json:"operations"`
	InDoubt        int      `json:"inDoubt"`
	PrunedInDoubt  int      `json:"prunedInDoubt"`
	Illegal        []string `json:"illegal"`
	Unknown        []string `json:"unknown"`
	Visualizations []string `json:"visualizations"`
	ElapsedMs      int64    `json:"elapsedMs"`
}

func main() {
	history := flag.String("history", "", "history file (JSON lines)")
	out := flag.String("out", "", "directory for visualizations (default: the history's directory)")
	name := flag.String("name", "", "file name prefix of visualizations (default: the history's base name)")
	timeout := flag.Duration("timeout", 60*time.Second, "time limit per key")
	maxVis := flag.Int("max-visualizations", 5, "most failing keys visualized")
	flag.Parse()
	if *history == "" {
		fmt.Fprintln(os.Stderr, "kvring-porcupine: -history is required")
		os.Exit(2)
	}
	if *out == "" {
		*out = filepath.Dir(*history)
	}
	if *name == "" {
		*name = regexp.MustCompile(`\.history\.jsonl$|\.jsonl$`).ReplaceAllString(filepath.Base(*history), "")
	}
	f, err := os.Open(*history)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kvring-porcupine:", err)
		os.Exit(2)
	}
	parsed, err := ParseHistory(f)
	f.Close()
	if err != nil {
		fmt.Fprintf(os.Stderr, "kvring-porcupine: %s: %v\n", *history, err)
		os.Exit(2)
	}
	report := Check(parsed, *timeout, runtime.GOMAXPROCS(0))
	for _, key := range report.Illegal {
		if len(report.Visualizations) >= *maxVis {
			break
		}
		path := filepath.Join(*out, fmt.Sprintf("%s.porcupine.%s.html", *name, safeName(key)))
		if err := Visualize(parsed, key, path); err != nil {
			fmt.Fprintf(os.Stderr, "kvring-porcupine: visualization of %s: %v\n", key, err)
			continue
		}
		report.Visualizations = append(report.Visualizations, path)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(report)
	switch report.Verdict {
	case "linearizable":
		os.Exit(0)
	case "unknown":
		os.Exit(3)
	default:
		os.Exit(1)
	}
}

// Check runs Porcupine on every key, `workers` keys at a time.
func Check(p *Parsed, timeout time.Duration, workers int) Report {
	start := time.Now()
	r := Report{
		Keys:           len(p.Keys),
		TTLKeys:        len(p.TTLKeys),
		Operations:     p.Ops,
		InDoubt:        p.InDoubt,
		PrunedInDoubt:  p.Pruned,
		Illegal:        []string{},
		Unknown:        []string{},
		Visualizations: []string{},
	}
	if workers < 1 {
		workers = 1
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	jobs := make(chan *KeyHistory)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for kh := range jobs {
				res := porcupine.CheckOperationsTimeout(registerModel(kh.Init), denseClients(kh.Ops), timeout)
				mu.Lock()
				switch res {
				case porcupine.Illegal:
					r.Illegal = append(r.Illegal, kh.Key)
				case porcupine.Unknown:
					r.Unknown = append(r.Unknown, kh.Key)
				}
				mu.Unlock()
			}
		}()
	}
	for _, kh := range p.Keys {
		jobs <- kh
	}
	close(jobs)
	wg.Wait()
	sort.Strings(r.Illegal)
	sort.Strings(r.Unknown)
	switch {
	case len(r.Illegal) > 0:
		r.Verdict = "not linearizable"
	case len(r.Unknown) > 0:
		r.Verdict = "unknown"
	default:
		r.Verdict = "linearizable"
	}
	r.ElapsedMs = time.Since(start).Milliseconds()
	return r
}

// Visualize writes Porcupine's HTML view of one key's history, with the
// run's faults as annotations.
func Visualize(p *Parsed, key string, path string) error {
	for _, kh := range p.Keys {
		if kh.Key != key {
			continue
		}
		model := registerModel(kh.Init)
		_, info := porcupine.CheckOperationsVerbose(model, denseClients(kh.Ops), 0)
		var notes []porcupine.Annotation
		for _, f := range p.Faults {
			notes = append(notes, porcupine.Annotation{
				Tag:             "faults",
				Start:           f.Start,
				End:             f.End,
				Description:     f.Name,
				BackgroundColor: "#f6d6d6",
			})
		}
		info.AddAnnotations(notes)
		return porcupine.VisualizePath(model, info, path)
	}
	return fmt.Errorf("no key %q in the history", key)
}

// denseClients renumbers client ids 0..n-1 within one key (the
// visualization draws one row per id up to the largest).
func denseClients(ops []porcupine.Operation) []porcupine.Operation {
	ids := map[int]int{}
	out := make([]porcupine.Operation, len(ops))
	for i, op := range ops {
		id, ok := ids[op.ClientId]
		if !ok {
			id = len(ids)
			ids[op.ClientId] = id
		}
		op.ClientId = id
		out[i] = op
	}
	return out
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(key string) string {
	return unsafeChars.ReplaceAllString(key, "_")
}
