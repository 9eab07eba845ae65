//! The summed rows of a big run: for the workers without a row, how much of each moment one of
//! them held the lock (red where two or more did at once), and how many waited to acquire. A
//! fixed number of bins, so 10,000 workers draw as fast as ten.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::scale::Scale;
use crate::check::{Acquisition, Timeline};

/// The height of one summed row, px.
pub(super) const HEIGHT: f64 = 34.0;
/// Bins across the axis.
const BINS: usize = 800;

/// The two rows from `top` as SVG, with their labels `(y, height, text)`.
pub(super) fn rows(
    t: &Timeline<'_>,
    scale: &Scale,
    others: &HashSet<u32>,
    end: &dyn Fn(&Acquisition) -> u64,
    top: f64,
) -> (String, Vec<(f64, f64, String)>) {
    let last = t.events.last().map_or(0, |e| e.time);
    let held: Vec<(u64, u64)> = t
        .acquisitions
        .iter()
        .filter(|a| others.contains(&a.worker))
        .map(|a| (t.time(a.ok), end(a)))
        .collect();
    let waiting: Vec<(u64, u64)> = t
        .attempts
        .iter()
        .filter(|a| others.contains(&a.worker))
        .map(|a| (t.time(a.invoke), a.done.map_or(last, |d| t.time(d))))
        .collect();
    let (held_mean, held_most) = density(&held, scale);
    let (wait_mean, wait_most) = density(&waiting, scale);
    let h = HEIGHT - 4.0;
    let mut svg = String::new();
    let clamped: Vec<f64> = held_mean.iter().map(|v| v.min(1.0)).collect();
    let _ = write!(
        svg,
        r#"<svg class="sum" x="0" y="{:.0}" width="100%" height="{h}" viewBox="0 0 {BINS} {h}" preserveAspectRatio="none"><title>the other workers: the share of each moment one of them held the lock; red: two or more held it at once</title><rect class="sum-bg" width="{BINS}" height="{h}"/><path class="sum-held" d="{}"/><path class="sum-overlap" d="{}"/></svg>"#,
        top + 2.0,
        area(&clamped, 1.0, h),
        overlap(&held_most, h)
    );
    let peak = wait_most.iter().copied().max().unwrap_or(0).max(1);
    let _ = write!(
        svg,
        r#"<svg class="sum" x="0" y="{:.0}" width="100%" height="{h}" viewBox="0 0 {BINS} {h}" preserveAspectRatio="none"><title>the other workers: how many waited to acquire (mean over each bin; the row's top is {peak})</title><rect class="sum-bg" width="{BINS}" height="{h}"/><path class="sum-wait" d="{}"/></svg>"#,
        top + HEIGHT + 2.0,
        area(&wait_mean, f64::from(peak), h)
    );
    let labels = vec![
        (top, HEIGHT, format!("{} others: holding", group(others.len()))),
        (top + HEIGHT, HEIGHT, format!("waiting (up to {})", group(peak as usize))),
    ];
    (svg, labels)
}

/// Per bin: the mean number of the intervals open, and the most open at once.
fn density(intervals: &[(u64, u64)], scale: &Scale) -> (Vec<f64>, Vec<u32>) {
    let mut edges: Vec<(u64, i64)> = Vec::with_capacity(intervals.len() * 2);
    for &(a, b) in intervals.iter().filter(|(a, b)| b > a) {
        edges.push((a, 1));
        edges.push((b, -1));
    }
    // Ends before starts at one instant: a hand-off is not an overlap.
    edges.sort_unstable();
    let (start, end) = (scale.start, scale.start + scale.span);
    let bin_ns = scale.span as f64 / BINS as f64;
    let bin = |t: u64| ((t.saturating_sub(start) as f64 / bin_ns) as usize).min(BINS - 1);
    let mut mean = vec![0.0; BINS];
    let mut most = vec![0u32; BINS];
    let (mut open, mut at) = (0i64, start);
    for (time, step) in edges {
        let time = time.clamp(start, end);
        if open > 0 && time > at {
            for (b, m) in mean.iter_mut().enumerate().take(bin(time) + 1).skip(bin(at)) {
                let lo = (start as f64 + b as f64 * bin_ns).max(at as f64);
                let hi = (start as f64 + (b + 1) as f64 * bin_ns).min(time as f64);
                if hi > lo {
                    *m += open as f64 * (hi - lo);
                    most[b] = most[b].max(u32::try_from(open).unwrap_or(u32::MAX));
                }
            }
        }
        open += step;
        at = time;
    }
    mean.iter_mut().for_each(|m| *m /= bin_ns);
    (mean, most)
}

/// A stepped area of `values` (0..=`top`) in a `BINS`×`h` box.
fn area(values: &[f64], top: f64, h: f64) -> String {
    let mut d = format!("M0 {h}");
    for (b, v) in values.iter().enumerate() {
        let _ = write!(d, "V{:.1}H{}", h - (v / top).min(1.0) * h, b + 1);
    }
    let _ = write!(d, "V{h}Z");
    d
}

/// Full-height blocks over the bins where two or more intervals were open at once.
fn overlap(most: &[u32], h: f64) -> String {
    let mut d = String::new();
    let mut b = 0;
    while b < most.len() {
        if most[b] < 2 {
            b += 1;
            continue;
        }
        let from = b;
        while b < most.len() && most[b] >= 2 {
            b += 1;
        }
        let _ = write!(d, "M{from} 0H{b}V{h}H{from}Z");
    }
    d
}

/// `12345` as `12,345`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_counts_overlap_but_not_a_hand_off() {
        let scale = Scale { start: 0, span: BINS as u64 * 10 };
        // Bin 0: one holder, then the next (hand-off at 5); bin 2: two at once.
        let (mean, most) = density(&[(0, 5), (5, 10), (20, 30), (25, 30)], &scale);
        assert_eq!((most[0], most[1], most[2]), (1, 0, 2));
        assert!((mean[0] - 1.0).abs() < 1e-9 && (mean[2] - 1.5).abs() < 1e-9, "{mean:?}");
        assert_eq!(group(9990), "9,990");
        assert_eq!(overlap(&[0, 2, 3, 1], 5.0), "M1 0H3V5H1Z");
    }
}
