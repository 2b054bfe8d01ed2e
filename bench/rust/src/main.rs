//! bench/rust/src/main.rs - the benchmark workloads on crossbeam-channel.
//!
//! The same workloads and options as bench/workloads.c, written the way Rust
//! code would: a `bounded(capacity)` channel (capacity 1 for W3), dropping
//! the senders instead of sentinels (receivers drain, then see the channel
//! disconnected), and for W4 each stage's workers holding clones of the next
//! stage's sender, so the next stage closes when the last of them ends.
//! crossbeam has no batch send or receive: W6 loops.  Prints the same
//! result line as the C drivers and exits 1 if the count, sum or sum of
//! squares of what arrived is wrong, or a single producer's order is broken.
use crossbeam_channel::{bounded, Receiver, Sender};
use std::process::exit;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Default, PartialEq, Debug)]
struct Sums {
    count: u64,
    sum: u64,
    sumsq: u64,
}

impl Sums {
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        self.sumsq = self.sumsq.wrapping_add(v.wrapping_mul(v));
    }
    fn merge(&mut self, o: &Sums) {
        self.count += o.count;
        self.sum = self.sum.wrapping_add(o.sum);
        self.sumsq = self.sumsq.wrapping_add(o.sumsq);
    }
}

fn die(msg: String) -> ! {
    eprintln!("bench: {}", msg);
    exit(1)
}

struct Opts {
    workload: String,
    label: Option<String>,
    items: u64,
    capacity: usize,
    producers: u64,
    consumers: usize,
    batch: u64,
    stages: Vec<usize>,
    period_us: u64,
}

fn parse() -> Opts {
    let mut o = Opts {
        workload: "W1".into(),
        label: None,
        items: 1_000_000,
        capacity: 1024,
        producers: 1,
        consumers: 1,
        batch: 64,
        stages: vec![3, 4, 5],
        period_us: 1000,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bad = |a: &str| -> ! {
        eprintln!("bench: bad or missing value for {}", a);
        exit(2)
    };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let v = args.get(i + 1).cloned().unwrap_or_else(|| bad(a));
        let num = |v: &str| -> u64 { v.parse().unwrap_or_else(|_| bad(a)) };
        match a {
            "--workload" => o.workload = v.clone(),
            "--label" => o.label = Some(v.clone()),
            "--items" => o.items = num(&v),
            "--capacity" => o.capacity = num(&v) as usize,
            "--producers" => o.producers = num(&v),
            "--consumers" => o.consumers = num(&v) as usize,
            "--batch" => o.batch = num(&v),
            "--period-us" => o.period_us = num(&v),
            "--stages" => o.stages = v.split(',').map(|s| num(s) as usize).collect(),
            _ => {
                eprintln!("bench: unknown option {}", a);
                exit(2)
            }
        }
        i += 2;
    }
    if o.items == 0 || o.capacity == 0 || o.producers == 0 || o.consumers == 0
        || o.batch == 0 || o.stages.is_empty() || o.stages.contains(&0)
    {
        eprintln!("bench: items, capacity, producers, consumers, batch and stages must be positive");
        exit(2)
    }
    o
}

/// Holds threads until open() has seen all of them, read the clock and
/// released them.
struct Gate {
    state: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Gate {
    fn new() -> Arc<Gate> {
        Arc::new(Gate { state: Mutex::new((0, false)), cv: Condvar::new() })
    }
    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        s.0 += 1;
        self.cv.notify_all();
        while !s.1 {
            s = self.cv.wait(s).unwrap();
        }
    }
    fn open(&self, n: usize) -> Instant {
        let mut s = self.state.lock().unwrap();
        while s.0 < n {
            s = self.cv.wait(s).unwrap();
        }
        CPU_START.store(cpu_ns(), std::sync::atomic::Ordering::SeqCst);
        let t0 = Instant::now();
        s.1 = true;
        self.cv.notify_all();
        t0
    }
}

fn stream(o: &Opts) -> (Duration, Sums) {
    let (tx, rx): (Sender<usize>, Receiver<usize>) = bounded(o.capacity);
    let gate = Gate::new();
    let (n, np) = (o.items, o.producers);
    let workload = o.workload.clone();
    let consumers: Vec<_> = (0..o.consumers)
        .map(|_| {
            let (rx, gate, workload) = (rx.clone(), gate.clone(), workload.clone());
            thread::spawn(move || {
                let mut s = Sums::default();
                let mut prev = 0u64;
                gate.pass();
                for it in rx.iter() {
                    let v = it as u64;
                    if np == 1 && v <= prev {
                        die(format!("{}: ORDER: got {} after {}", workload, v, prev));
                    }
                    prev = v;
                    s.add(v);
                }
                s
            })
        })
        .collect();
    let producers: Vec<_> = (0..np)
        .map(|p| {
            let (tx, gate) = (tx.clone(), gate.clone());
            thread::spawn(move || {
                let (lo, hi) = (n * p / np, n * (p + 1) / np);
                gate.pass();
                for v in lo + 1..=hi {
                    tx.send(v as usize).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    drop(rx);
    let t0 = gate.open(np as usize + o.consumers);
    for p in producers {
        p.join().unwrap();
    }
    let mut total = Sums::default();
    for c in consumers {
        total.merge(&c.join().unwrap());
    }
    (t0.elapsed(), total)
}

fn batched(o: &Opts) -> (Duration, Sums) {
    let (tx, rx) = bounded::<usize>(o.capacity);
    let gate = Gate::new();
    let (n, b) = (o.items, o.batch);
    let g = gate.clone();
    let producer = thread::spawn(move || {
        g.pass();
        let mut v = 1u64;
        while v <= n {
            let end = v + b;
            while v < end && v <= n {
                tx.send(v as usize).unwrap();
                v += 1;
            }
        }
    });
    let g = gate.clone();
    let consumer = thread::spawn(move || {
        let mut s = Sums::default();
        let mut prev = 0u64;
        g.pass();
        while s.count < n {
            let want = (n - s.count).min(b);
            let mut got = 0;
            let mut take = |v: u64, s: &mut Sums| {
                if v != prev + 1 {
                    die(format!("W6: ORDER: got {} after {}", v, prev));
                }
                prev = v;
                s.add(v);
            };
            take(rx.recv().unwrap() as u64, &mut s);
            got += 1;
            while got < want {
                match rx.try_recv() {
                    Ok(v) => {
                        take(v as u64, &mut s);
                        got += 1;
                    }
                    Err(_) => break,
                }
            }
        }
        s
    });
    let t0 = gate.open(2);
    producer.join().unwrap();
    let s = consumer.join().unwrap();
    (t0.elapsed(), s)
}

#[inline(never)]
fn noop(item: usize) -> usize {
    item
}

fn pipeline(o: &Opts) -> (Duration, Sums) {
    let gate = Gate::new();
    let (first_tx, mut rx) = bounded::<usize>(o.capacity);
    let mut workers = Vec::new();
    let nthreads: usize = o.stages.iter().sum();
    for (s, &count) in o.stages.iter().enumerate() {
        let next = if s + 1 < o.stages.len() { Some(bounded::<usize>(o.capacity)) } else { None };
        for _ in 0..count {
            let rx = rx.clone();
            let tx = next.as_ref().map(|(tx, _)| tx.clone());
            let g = gate.clone();
            workers.push(thread::spawn(move || {
                let mut sum = Sums::default();
                g.pass();
                for it in rx.iter() {
                    let it = noop(it);
                    match &tx {
                        Some(tx) => tx.send(it).unwrap(),
                        None => sum.add(it as u64),
                    }
                }
                sum
            }));
        }
        // Only the workers hold the next sender now: it closes with the last.
        if let Some((_, next_rx)) = next {
            rx = next_rx;
        }
    }
    drop(rx);
    let t0 = gate.open(nthreads);
    for v in 1..=o.items {
        first_tx.send(v as usize).unwrap();
    }
    drop(first_tx);
    let mut total = Sums::default();
    for w in workers {
        total.merge(&w.join().unwrap());
    }
    (t0.elapsed(), total)
}

fn latency(o: &Opts) -> (Duration, String) {
    let n = o.items as usize;
    let (tx, rx) = bounded::<u64>(o.capacity);
    let base = Instant::now();
    let gate = Gate::new();
    let period = Duration::from_micros(o.period_us);
    let g = gate.clone();
    let producer = thread::spawn(move || {
        g.pass();
        let mut next = base.elapsed();
        for _ in 0..n {
            next += period;
            let now = base.elapsed();
            if next > now {
                thread::sleep(next - now);
            }
            tx.send(base.elapsed().as_nanos() as u64).unwrap();
        }
    });
    let g = gate.clone();
    let consumer = thread::spawn(move || {
        let mut lat = vec![0u64; n];
        let mut prev = 0u64;
        g.pass();
        for slot in lat.iter_mut() {
            let sent = rx.recv().unwrap();
            let now = base.elapsed().as_nanos() as u64;
            if sent < prev || sent > now {
                die(format!("W5: timestamp {} out of order (previous {}, now {})", sent, prev, now));
            }
            prev = sent;
            *slot = now - sent;
        }
        lat
    });
    let t0 = gate.open(2);
    producer.join().unwrap();
    let mut lat = consumer.join().unwrap();
    let elapsed = t0.elapsed();
    lat.sort_unstable();
    (elapsed, format!("p50_ns={}\tp99_ns={}\tmax_ns={}", lat[n * 50 / 100], lat[n * 99 / 100], lat[n - 1]))
}

/// Peak resident set size in KiB (VmHWM, what getrusage's ru_maxrss reports).
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// The process's CPU time when the gate opened.
static CPU_START: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// CPU time (user + system, every thread) the process has used, in ns, from
/// /proc/self/stat (fields 14 and 15, in USER_HZ = 100 ticks per second:
/// 10 ms resolution, fine for runs of a tenth of a second or more).
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
            Some(ticks * 10_000_000)
        })
        .unwrap_or(0)
}

fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(-1.0)
}

fn main() {
    let o = parse();
    let mut notes = "-".to_string();
    let mut extra = String::new();
    let mut got = Sums::default();
    let elapsed = match o.workload.as_str() {
        "W1" | "W2" | "W3" => {
            let (e, s) = stream(&o);
            got = s;
            e
        }
        "W4" => {
            let (e, s) = pipeline(&o);
            got = s;
            notes = "hand-wired".into();
            let parts: Vec<String> = o.stages.iter().map(|w| w.to_string()).collect();
            extra = format!("stages={}", parts.join("/"));
            e
        }
        "W5" => {
            let (e, x) = latency(&o);
            extra = x;
            e
        }
        "W6" => {
            let (e, s) = batched(&o);
            got = s;
            notes = "batch=loop".into();
            e
        }
        w => {
            eprintln!("bench: unknown workload {} (W1..W6)", w);
            exit(2)
        }
    };
    let cpu = cpu_ns().saturating_sub(CPU_START.load(std::sync::atomic::Ordering::SeqCst));
    if o.workload != "W5" {
        let mut want = Sums::default();
        for v in 1..=o.items {
            want.add(v);
        }
        if got != want {
            die(format!("{}: CHECKSUM MISMATCH: got {:?}, want {:?}", o.workload, got, want));
        }
    }
    let secs = elapsed.as_secs_f64();
    let mut line = format!(
        "result\tworkload={}\timpl=crossbeam\titems={}\tsecs={:.6}\trate={:.1}\tcpu_ns={}\tcpu_ns_per_item={:.2}\tload1={:.2}\tpinned=0\trss_kb={}\tcapacity={}\tproducers={}\tconsumers={}\tnotes={}",
        o.label.as_deref().unwrap_or(&o.workload), o.items, secs, o.items as f64 / secs,
        cpu, cpu as f64 / o.items as f64, load1(), peak_rss_kb(), o.capacity, o.producers, o.consumers, notes
    );
    if !extra.is_empty() {
        line.push('\t');
        line.push_str(&extra);
    }
    println!("{}", line);
}
