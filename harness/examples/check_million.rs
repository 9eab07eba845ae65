//! Times the checkers on a synthetic history of a million events (run in release):
//! `cargo run -p contend --release --example check_million`.

use std::time::Instant;

use contend::check::{Context, check_all};
use contend::history::{Event, Kind, Op};

fn main() {
    let history = synthetic(1_000_000);
    let ctx = Context::from_ms(10_000, 10_000, 1_000, true);
    let started = Instant::now();
    let results = check_all(&history, &ctx);
    let took = started.elapsed();
    for (name, r) in &results {
        println!("{name:<18} {}", r.verdict);
    }
    println!("checked {} events in {:.3} s", history.len(), took.as_secs_f64());
}

/// A valid history: 20 workers taking a fenced lock in turn, 6 events per round, plus a final.
fn synthetic(events: usize) -> Vec<Event> {
    let rounds = events / 6;
    let mut h = Vec::with_capacity(rounds * 6 + 1);
    let mut t = 1_000_u64;
    for i in 0..rounds {
        let w = u32::try_from(i % 20).unwrap_or(0);
        let n = i64::try_from(i).unwrap_or(0);
        let fence = u64::try_from(i + 1).unwrap_or(0);
        let ev = |t: u64, kind: Kind, f: Op| Event::new(t, kind, f).by(w, 100 + w);
        h.push(ev(t, Kind::Invoke, Op::Acquire));
        let mut ok = ev(t + 10, Kind::Ok, Op::Acquire);
        ok.fence = Some(fence);
        h.push(ok);
        h.push(ev(t + 20, Kind::Invoke, Op::Section));
        let mut s = ev(t + 60, Kind::Ok, Op::Section);
        (s.enter, s.exit, s.read, s.wrote, s.accepted, s.fence) =
            (Some(t + 25), Some(t + 55), Some(n), Some(n + 1), Some(true), Some(fence));
        h.push(s);
        h.push(ev(t + 70, Kind::Invoke, Op::Release));
        let mut r = ev(t + 80, Kind::Ok, Op::Release);
        r.owned = Some(true);
        h.push(r);
        t += 100;
    }
    let mut fin = Event::new(t, Kind::Ok, Op::Final);
    fin.value = Some(i64::try_from(rounds).unwrap_or(0));
    h.push(fin);
    h
}
