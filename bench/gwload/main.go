// gwload: the compiled half of bench/gateway_vs_litellm.py.
//
//	gwload upstream -addr 127.0.0.1:PORT [-chunks 20]
//	gwload load -url URL -c 64 -d 5s [-warmup 1s] [-stream] [-rate 0] [-n 0] [-key K] [-model M]
//
// "upstream" is a fake OpenAI-compatible server that answers at once: a chat.completion for a
// plain request, or `-chunks` chat.completion.chunk events (each flushed on its own), a usage
// event and [DONE] for a streaming one. Any GET answers the model list.
//
// "load" sends chat completions and prints one JSON object on stdout. Closed loop (default): `-c`
// workers, each with its own keep-alive connection, send back to back for `-warmup` (not
// recorded) and then `-d`. Open loop (`-rate R`): requests start on a fixed schedule of R per
// second whatever the answers do, and latency counts from the scheduled start (no coordinated
// omission); `-c` then caps the connections. Latency is to the last byte of the body; TTFT is
// to the first body byte (for a stream, the first event). Only the Go standard library is used.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const model = "gpt-oss-120b"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gwload upstream|load [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "upstream":
		upstream(os.Args[2:])
	case "load":
		load(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: gwload upstream|load [flags]")
		os.Exit(2)
	}
}

// -- the fake upstream ----------------------------------------------------------------------

func upstream(args []string) {
	fs := flag.NewFlagSet("upstream", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	chunks := fs.Int("chunks", 20, "content events per streamed answer")
	_ = fs.Parse(args)

	doc, _ := json.Marshal(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": model,
		"choices": []any{map[string]any{
			"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": "ok"},
		}},
		"usage": map[string]any{"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
	})
	models, _ := json.Marshal(map[string]any{
		"object": "list",
		"data":   []any{map[string]any{"id": model, "object": "model", "created": 1, "owned_by": "bench"}},
	})
	events := make([][]byte, 0, *chunks+3)
	for i := 0; i < *chunks; i++ {
		delta := map[string]any{"content": fmt.Sprintf("t%d", i)}
		if i == 0 {
			delta["role"] = "assistant"
		}
		events = append(events, event(map[string]any{
			"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": nil}},
		}))
	}
	events = append(events, event(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": model,
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "stop"}},
	}))
	events = append(events, event(map[string]any{
		"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1, "model": model,
		"choices": []any{},
		"usage":   map[string]any{"prompt_tokens": 5, "completion_tokens": *chunks, "total_tokens": 5 + *chunks},
	}))
	events = append(events, []byte("data: [DONE]\n\n"))

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("content-type", "application/json")
			_, _ = w.Write(models)
			return
		}
		body, _ := io.ReadAll(r.Body)
		compact := bytes.ReplaceAll(body, []byte(" "), nil)
		if !bytes.Contains(compact, []byte(`"stream":true`)) {
			w.Header().Set("content-type", "application/json")
			_, _ = w.Write(doc)
			return
		}
		w.Header().Set("content-type", "text/event-stream")
		w.Header().Set("cache-control", "no-cache")
		flusher, _ := w.(http.Flusher)
		for _, e := range events {
			_, _ = w.Write(e)
			if flusher != nil {
				flusher.Flush()
			}
		}
	})
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	_ = server.Serve(listener)
}

func event(v any) []byte {
	b, _ := json.Marshal(v)
	return append(append([]byte("data: "), b...), '\n', '\n')
}

// -- the load generator ---------------------------------------------------------------------

type sample struct{ total, first time.Duration }

type result struct {
	Mode        string    `json:"mode"`
	Concurrency int       `json:"concurrency"`
	Rate        float64   `json:"rate"`
	Requests    int       `json:"requests"`
	Errors      int       `json:"errors"`
	FirstError  string    `json:"first_error,omitempty"`
	Seconds     float64   `json:"seconds"`
	RPS         float64   `json:"rps"`
	LatencyMs   quantiles `json:"latency_ms"`
	TTFTMs      quantiles `json:"ttft_ms"`
}

type quantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func summarize(values []time.Duration) quantiles {
	if len(values) == 0 {
		return quantiles{}
	}
	sort.Slice(values, func(i, j int) bool { return values[i] < values[j] })
	at := func(q float64) float64 {
		i := int(q * float64(len(values)))
		if i >= len(values) {
			i = len(values) - 1
		}
		return float64(values[i]) / 1e6
	}
	var sum time.Duration
	for _, v := range values {
		sum += v
	}
	return quantiles{
		P50: at(0.50), P90: at(0.90), P99: at(0.99),
		Max:  float64(values[len(values)-1]) / 1e6,
		Mean: float64(sum) / float64(len(values)) / 1e6,
	}
}

type loader struct {
	client *http.Client
	url    string
	key    string
	body   []byte
	stream bool
}

// one sends a request; its latency and TTFT count from `start`.
func (l *loader) one(start time.Time) (sample, error) {
	req, err := http.NewRequest(http.MethodPost, l.url, bytes.NewReader(l.body))
	if err != nil {
		return sample{}, err
	}
	req.Header.Set("content-type", "application/json")
	if l.key != "" {
		req.Header.Set("authorization", "Bearer "+l.key)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	buf := make([]byte, 16<<10)
	var first time.Duration
	var tail []byte
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if first == 0 {
				first = time.Since(start)
			}
			tail = append(tail, buf[:n]...)
			if len(tail) > 64 {
				tail = tail[len(tail)-64:]
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return sample{}, rerr
		}
	}
	total := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(tail)))
	}
	if l.stream && !bytes.Contains(tail, []byte("[DONE]")) {
		return sample{}, fmt.Errorf("stream ended without [DONE]")
	}
	return sample{total: total, first: first}, nil
}

func load(args []string) {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "chat completions URL")
	conc := fs.Int("c", 1, "workers (closed loop) or connection cap (open loop)")
	dur := fs.Duration("d", 5*time.Second, "recorded duration")
	warmup := fs.Duration("warmup", time.Second, "unrecorded warm-up")
	stream := fs.Bool("stream", false, "ask for a streamed answer")
	rate := fs.Float64("rate", 0, "open loop at this many requests/s (0: closed loop)")
	key := fs.String("key", "", "bearer key")
	name := fs.String("model", model, "model name")
	timeout := fs.Duration("timeout", 30*time.Second, "per-request timeout")
	count := fs.Int64("n", 0, "closed loop: stop after this many requests, all recorded (-d, -warmup unused)")
	_ = fs.Parse(args)
	if *count > 0 {
		*warmup, *dur = 0, 24*time.Hour
	}

	body, _ := json.Marshal(map[string]any{
		"model":    *name,
		"messages": []any{map[string]any{"role": "user", "content": "hi"}},
		"stream":   *stream,
	})
	transport := &http.Transport{
		MaxIdleConns: *conc, MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc,
		DisableCompression: true, IdleConnTimeout: time.Minute,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	l := &loader{
		client: &http.Client{Transport: transport, Timeout: *timeout},
		url:    *url, key: *key, body: body, stream: *stream,
	}
	var (
		mu      sync.Mutex
		samples []sample
		errs    int
		firstE  string
	)
	// A request counts when it ends inside the recorded window (closed loop) or was due to
	// start inside it (open loop).
	record := func(s sample, err error, at time.Time, from, to time.Time) {
		if at.Before(from) || at.After(to) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs++
			if firstE == "" {
				firstE = err.Error()
			}
			return
		}
		samples = append(samples, s)
	}

	begin := time.Now()
	from, to := begin.Add(*warmup), begin.Add(*warmup+*dur)
	var wg sync.WaitGroup
	var issued atomic.Int64
	mode := "closed"
	if *rate <= 0 {
		for w := 0; w < *conc; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					started := time.Now()
					if started.After(to) || (*count > 0 && issued.Add(1) > *count) {
						return
					}
					s, err := l.one(started)
					record(s, err, time.Now(), from, to)
				}
			}()
		}
	} else {
		mode = "open"
		interval := time.Duration(float64(time.Second) / *rate)
		ctx, cancel := context.WithDeadline(context.Background(), to)
		defer cancel()
		for i := 0; ; i++ {
			at := begin.Add(time.Duration(i) * interval)
			if at.After(to) {
				break
			}
			if d := time.Until(at); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
				}
			}
			wg.Add(1)
			go func(at time.Time) {
				defer wg.Done()
				s, err := l.one(at)
				record(s, err, at, from, to)
			}(at)
		}
	}
	wg.Wait()
	elapsed := dur.Seconds()
	if *count > 0 {
		elapsed = time.Since(begin).Seconds()
	}
	totals := make([]time.Duration, len(samples))
	firsts := make([]time.Duration, len(samples))
	for i, s := range samples {
		totals[i], firsts[i] = s.total, s.first
	}
	out := result{
		Mode: mode, Concurrency: *conc, Rate: *rate, Requests: len(samples), Errors: errs,
		FirstError: firstE, Seconds: elapsed, RPS: float64(len(samples)) / elapsed,
		LatencyMs: summarize(totals), TTFTMs: summarize(firsts),
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}
