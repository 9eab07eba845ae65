//! The speed targets of the bench's issue, each a ratio in the same run, per algorithm, taken
//! at the smallest hold of the matrix and its largest worker count (the 20×100 run is
//! `--workers 1,20 --hold 0 --sections 2000`).

use super::BenchReport;
use super::output::{Row, Table, opt};

/// What `bench.md` and `bench.html` say above the targets table.
pub(super) const TEXT: &str = "At the smallest hold and the largest worker count (N), each a \
    ratio in this run: the run's time over the bare chain-with-body's for N processes (≤ 1.15); \
    sections/s at N workers over 1 worker (≥ 0.5); hand-off p50 in PING round trips (≤ 2); \
    harness overhead (≤ 1.15). `–`: the matrix does not measure it.";

/// One target: how a row's figure compares with its limit.
struct Target {
    limit: f64,
    at_most: bool,
}

impl Target {
    fn judge(&self, v: Option<f64>) -> String {
        match v {
            None => "–".to_string(),
            Some(v) => {
                let met = if self.at_most { v <= self.limit } else { v >= self.limit };
                format!("{} ({})", opt(Some(v), 2), if met { "met" } else { "missed" })
            }
        }
    }
}

/// The targets table, one row per algorithm; `None` for an empty matrix.
pub(super) fn table(r: &BenchReport, rows: &[Row<'_>]) -> Option<Table> {
    let hold = *r.holds_ms.iter().min()?;
    let n = *r.workers.iter().max()?;
    let at = |alg: &str, w: u32| {
        rows.iter()
            .find(|x| x.cell.algorithm == alg && x.cell.workers == w && x.cell.hold_ms == hold)
    };
    let ping = r.baseline(|b| Some(b.ping_us));
    let rows = r
        .algorithms
        .iter()
        .map(|a| {
            let top = at(a, n);
            let chain_time = top.and_then(|x| x.of_chain).filter(|v| *v > 0.0).map(|v| 1.0 / v);
            let scaling = match (top, at(a, 1)) {
                (Some(top), Some(one)) if n > 1 && one.sections_per_s > 0.0 => {
                    Some(top.sections_per_s / one.sections_per_s)
                }
                _ => None,
            };
            let handoff = top.and_then(|x| x.handoff_p50_us).zip(ping).map(|(h, p)| h / p);
            let overhead = rows.iter().filter(|x| &x.cell.algorithm == a).find_map(|x| x.overhead);
            let most = |limit| Target { limit, at_most: true };
            vec![
                a.clone(),
                most(1.15).judge(chain_time),
                Target { limit: 0.5, at_most: false }.judge(scaling),
                most(2.0).judge(handoff),
                most(1.15).judge(overhead),
            ]
        })
        .collect();
    let head = [
        "algorithm".to_string(),
        format!("time ÷ chain, {n} workers"),
        format!("{n} ÷ 1 worker sections/s"),
        "hand-off p50 ÷ PING".to_string(),
        "harness overhead".to_string(),
    ];
    Some(Table { head: head.to_vec(), rows })
}
