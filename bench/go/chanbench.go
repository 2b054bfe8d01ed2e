// bench/go/chanbench.go - the benchmark workloads on Go channels.
//
// The same workloads and options as bench/workloads.c, written the way Go
// code would write them: a buffered channel of the workload's capacity
// (capacity 1 for W3), close() instead of sentinels (all sends happen
// before a close, so receivers ranging over the channel get every item),
// and for W4 each stage's last worker closing the next stage's channel.  Go
// has no batch send or receive: W6 loops.  Prints the same result line as
// the C drivers and exits 1 if the count, sum or sum of squares of what
// arrived is wrong, or a single producer's order is broken.
package main

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type sums struct{ count, sum, sumsq uint64 }

func (s *sums) add(v uint64) {
	s.count++
	s.sum += v
	s.sumsq += v * v
}

func (s *sums) merge(o sums) {
	s.count += o.count
	s.sum += o.sum
	s.sumsq += o.sumsq
}

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
	os.Exit(1)
}

var (
	workload  = flag.String("workload", "W1", "W1..W6")
	label     = flag.String("label", "", "name printed for the workload")
	items     = flag.Uint64("items", 1000000, "items (W5: samples)")
	capacity  = flag.Int("capacity", 1024, "channel capacity")
	producers = flag.Int("producers", 1, "producers")
	consumers = flag.Int("consumers", 1, "consumers")
	batch     = flag.Int("batch", 64, "W6 items per batch")
	stagesArg = flag.String("stages", "3,4,5", "W4 workers per stage")
	periodUs  = flag.Int("period-us", 1000, "W5 period")
)

// gate holds n goroutines until open() reads the clock and releases them.
type gate struct {
	ready sync.WaitGroup
	start chan struct{}
}

func newGate(n int) *gate {
	g := &gate{start: make(chan struct{})}
	g.ready.Add(n)
	return g
}

func (g *gate) pass() { g.ready.Done(); <-g.start }

// cpuNs is the CPU time (user + system, all threads) the process has used.
func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// cpuStart is the process's CPU time when the gate opened.
var cpuStart int64

func (g *gate) open() time.Time {
	g.ready.Wait()
	cpuStart = cpuNs()
	t0 := time.Now()
	close(g.start)
	return t0
}

func stream() (time.Duration, sums) {
	n, np, nc := *items, uint64(*producers), *consumers
	ch := make(chan uintptr, *capacity)
	g := newGate(int(np) + nc)
	var prod, cons sync.WaitGroup
	var mu sync.Mutex
	var total sums
	for c := 0; c < nc; c++ {
		cons.Add(1)
		go func() {
			defer cons.Done()
			var s sums
			var prev uint64
			g.pass()
			for it := range ch {
				v := uint64(it)
				if np == 1 && v <= prev {
					die("%s: ORDER: got %d after %d", *workload, v, prev)
				}
				prev = v
				s.add(v)
			}
			mu.Lock()
			total.merge(s)
			mu.Unlock()
		}()
	}
	for p := uint64(0); p < np; p++ {
		prod.Add(1)
		go func(p uint64) {
			defer prod.Done()
			lo, hi := n*p/np, n*(p+1)/np
			g.pass()
			for v := lo + 1; v <= hi; v++ {
				ch <- uintptr(v)
			}
		}(p)
	}
	t0 := g.open()
	prod.Wait()
	close(ch)
	cons.Wait()
	return time.Since(t0), total
}

func batched() (time.Duration, sums) {
	n, b := *items, uint64(*batch)
	ch := make(chan uintptr, *capacity)
	g := newGate(2)
	var wg sync.WaitGroup
	var total sums
	wg.Add(2)
	go func() { // producer: Go has no batch send, so each batch loops
		defer wg.Done()
		g.pass()
		for v := uint64(1); v <= n; {
			end := v + b
			for ; v < end && v <= n; v++ {
				ch <- uintptr(v)
			}
		}
	}()
	go func() { // consumer: one blocking receive, then what is there
		defer wg.Done()
		var prev uint64
		g.pass()
		for total.count < n {
			want := n - total.count
			if want > b {
				want = b
			}
			got := uint64(0)
			take := func(it uintptr) {
				v := uint64(it)
				if v != prev+1 {
					die("W6: ORDER: got %d after %d", v, prev)
				}
				prev = v
				total.add(v)
				got++
			}
			take(<-ch)
		more:
			for got < want {
				select {
				case it := <-ch:
					take(it)
				default:
					break more
				}
			}
		}
	}()
	t0 := g.open()
	wg.Wait()
	return time.Since(t0), total
}

func pipeline(stages []int) (time.Duration, sums) {
	chans := make([]chan uintptr, len(stages))
	for i := range chans {
		chans[i] = make(chan uintptr, *capacity)
	}
	nthreads := 0
	for _, w := range stages {
		nthreads += w
	}
	g := newGate(nthreads)
	var all sync.WaitGroup
	var mu sync.Mutex
	var total sums
	noop := func(it uintptr) uintptr { return it }
	for s, workers := range stages {
		var stage sync.WaitGroup
		stage.Add(workers)
		all.Add(workers)
		in := chans[s]
		var out chan uintptr
		if s+1 < len(stages) {
			out = chans[s+1]
			go func() { stage.Wait(); close(out) }() // the stage's close propagation
		}
		for w := 0; w < workers; w++ {
			go func() {
				defer all.Done()
				defer stage.Done()
				var sum sums
				g.pass()
				for it := range in {
					it = noop(it)
					if out != nil {
						out <- it
					} else {
						sum.add(uint64(it))
					}
				}
				if out == nil {
					mu.Lock()
					total.merge(sum)
					mu.Unlock()
				}
			}()
		}
	}
	t0 := g.open()
	for v := uint64(1); v <= *items; v++ {
		chans[0] <- uintptr(v)
	}
	close(chans[0])
	all.Wait()
	return time.Since(t0), total
}

func latency() (time.Duration, string) {
	n := *items
	ch := make(chan int64, *capacity)
	lat := make([]int64, n)
	base := time.Now()
	g := newGate(2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		g.pass()
		next := time.Since(base)
		for i := uint64(0); i < n; i++ {
			next += time.Duration(*periodUs) * time.Microsecond
			if d := next - time.Since(base); d > 0 {
				time.Sleep(d)
			}
			ch <- int64(time.Since(base))
		}
	}()
	go func() {
		defer wg.Done()
		var prev int64 = -1
		g.pass()
		for i := uint64(0); i < n; i++ {
			sent := <-ch
			now := int64(time.Since(base))
			if sent <= prev || sent > now {
				die("W5: timestamp %d out of order (previous %d, now %d)", sent, prev, now)
			}
			prev = sent
			lat[i] = now - sent
		}
	}()
	t0 := g.open()
	wg.Wait()
	elapsed := time.Since(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return elapsed, fmt.Sprintf("p50_ns=%d\tp99_ns=%d\tmax_ns=%d",
		lat[n*50/100], lat[n*99/100], lat[n-1])
}

func main() {
	flag.Parse()
	if *items == 0 || *capacity < 1 || *producers < 1 || *consumers < 1 || *batch < 1 {
		fmt.Fprintln(os.Stderr, "bench: items, capacity, producers, consumers and batch must be positive")
		os.Exit(2)
	}
	var stages []int
	for _, f := range strings.Split(*stagesArg, ",") {
		w, err := strconv.Atoi(f)
		if err != nil || w < 1 {
			fmt.Fprintln(os.Stderr, "bench: --stages wants positive counts like 3,4,5")
			os.Exit(2)
		}
		stages = append(stages, w)
	}
	var elapsed time.Duration
	var got sums
	notes, extra := "-", ""
	switch *workload {
	case "W1", "W2", "W3":
		elapsed, got = stream()
	case "W4":
		elapsed, got = pipeline(stages)
		notes = "hand-wired"
		parts := make([]string, len(stages))
		for i, w := range stages {
			parts[i] = strconv.Itoa(w)
		}
		extra = "stages=" + strings.Join(parts, "/")
	case "W5":
		elapsed, extra = latency()
	case "W6":
		elapsed, got = batched()
		notes = "batch=loop"
	default:
		fmt.Fprintf(os.Stderr, "bench: unknown workload %s (W1..W6)\n", *workload)
		os.Exit(2)
	}
	cpu := cpuNs() - cpuStart
	load1 := -1.0
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				load1 = v
			}
		}
	}
	if *workload != "W5" {
		var want sums
		for v := uint64(1); v <= *items; v++ {
			want.add(v)
		}
		if got != want {
			die("%s: CHECKSUM MISMATCH: got count=%d sum=%d sumsq=%d, want count=%d sum=%d sumsq=%d",
				*workload, got.count, got.sum, got.sumsq, want.count, want.sum, want.sumsq)
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	name := *label
	if name == "" {
		name = *workload
	}
	secs := elapsed.Seconds()
	line := fmt.Sprintf("result\tworkload=%s\timpl=go\titems=%d\tsecs=%.6f\trate=%.1f"+
		"\tcpu_ns=%d\tcpu_ns_per_item=%.2f\tload1=%.2f\tpinned=0\trss_kb=%d"+
		"\tcapacity=%d\tproducers=%d\tconsumers=%d\tnotes=%s",
		name, *items, secs, float64(*items)/secs, cpu, float64(cpu)/float64(*items), load1,
		ru.Maxrss, *capacity, *producers, *consumers, notes)
	if extra != "" {
		line += "\t" + extra
	}
	fmt.Println(line)
}
