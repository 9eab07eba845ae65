//! The chart of `timeline.html`: a time axis, a lane of faults, a row for each worker worth one
//! (each holding with its lease and its section) and, in a big run, two summed rows for the
//! rest, so the page stays a few thousand elements whatever the run's size.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use super::faults::{Fault, faults};
use super::named::Named;
use super::scale::Scale;
use super::sums;
use super::{classes, escape};
use crate::check::{Acquisition, Timeline};
use crate::history::Kind;

/// At most this many workers get a row of their own.
const MAX_ROWS: usize = 40;
/// At most this many acquisitions are drawn one by one (a handful of SVG elements each).
const MAX_DRAWN: usize = 10_000;
/// A run too big to draw whole still shows this many workers in full, as a sample.
const SAMPLE_ROWS: usize = 8;
/// At most this many faults are drawn; more (a simulated storm) are counted instead.
const MAX_FAULTS: usize = 2_000;
/// Faults are labelled in the lane only when there are this few.
const MAX_FAULT_LABELS: usize = 40;
/// Refused writes are labelled in words only when there are this few.
const MAX_REFUSED_LABELS: usize = 30;
const AXIS: f64 = 24.0;
const LANE: f64 = 32.0;
/// A label's width per character as a share of a plot about 1000 px wide, %.
const CHAR_PCT: f64 = 0.65;
const ROW: f64 = 28.0;
/// A row with at most this many holdings on average also shows the unused rest of each lease.
const SPARSE: usize = 30;

/// What the chart needs besides the timeline.
pub(super) struct Setting<'a> {
    /// Time to position.
    pub scale: Scale,
    /// The findings and what they name.
    pub named: &'a Named<'a>,
    /// The lease, ns.
    pub ttl: u64,
    /// Taken off every lease for clock drift, ns.
    pub drift: u64,
}

/// The chart as HTML: a sentence on what has a row, the label column and the plot.
pub(super) fn chart(t: &Timeline<'_>, s: &Setting<'_>) -> String {
    let faults = faults(t.events);
    let rows = rows(t, s.named, &faults);
    let row_of: HashMap<u32, usize> = rows.iter().enumerate().map(|(i, &w)| (w, i)).collect();
    let others: HashSet<u32> =
        t.workers.iter().copied().filter(|w| !row_of.contains_key(w)).collect();
    let rows_top = AXIS + if faults.is_empty() { 0.0 } else { LANE };
    let sums_top = rows_top + rows.len() as f64 * ROW;
    let height = sums_top + if others.is_empty() { 0.0 } else { 2.0 * sums::HEIGHT } + 4.0;
    let mut svg = String::new();
    let mut labels = String::new();
    let mut label = |y: f64, h: f64, text: &str, class: &str| {
        let _ = write!(
            labels,
            "<div class=\"lab {class}\" style=\"top:{y:.0}px;height:{h:.0}px;line-height:{h:.0}px\">{text}</div>"
        );
    };
    label(0.0, AXIS, "ms since start", "axis-title");
    if !faults.is_empty() {
        label(AXIS, LANE, "faults", "");
    }
    for (i, w) in rows.iter().enumerate() {
        let y = rows_top + i as f64 * ROW;
        if i % 2 == 1 {
            let _ = write!(
                svg,
                r#"<rect class="stripe" x="0" y="{y:.0}" width="100%" height="{ROW}"/>"#
            );
        }
        let named = if s.named.workers.contains(w) { "named-row" } else { "" };
        label(y, ROW, &format!("worker {w}"), named);
    }
    for (x, text) in s.scale.ticks() {
        let anchor = if x < 1.0 {
            "start"
        } else if x > 97.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{x:.3}%" x2="{x:.3}%" y1="{AXIS}" y2="{height:.0}"/><text class="tick" x="{x:.3}%" y="15" text-anchor="{anchor}">{text}</text>"#
        );
    }
    let _ = write!(svg, r#"<line class="axis" x1="0" x2="100%" y1="{AXIS}" y2="{AXIS}"/>"#);
    let drawn = &faults[..faults.len().min(MAX_FAULTS)];
    let mut tiers = [f64::NEG_INFINITY; 2];
    for f in drawn {
        let tier =
            if drawn.len() <= MAX_FAULT_LABELS { place(&mut tiers, f, &s.scale) } else { None };
        fault(&mut svg, f, s, tier, rows_top, height, &row_of);
    }
    let refused = t
        .acquisitions
        .iter()
        .filter_map(|a| a.section_done)
        .filter(|&d| t.events[d].accepted == Some(false))
        .count();
    let drawn_here = t.acquisitions.iter().filter(|a| row_of.contains_key(&a.worker)).count();
    let draw = Draw {
        t,
        s,
        crashes: crashes(t),
        refused_labels: refused <= MAX_REFUSED_LABELS,
        sparse: drawn_here <= SPARSE * rows.len().max(1),
        next: next_holding(t),
    };
    for a in t.acquisitions.iter().filter(|a| row_of.contains_key(&a.worker)) {
        draw.acquisition(&mut svg, a, rows_top + row_of[&a.worker] as f64 * ROW);
    }
    if !others.is_empty() {
        let ends = |a: &Acquisition| draw.end(a);
        let (sum_svg, sum_labels) = sums::rows(t, &s.scale, &others, &ends, sums_top);
        svg.push_str(&sum_svg);
        for (y, h, text) in sum_labels {
            label(y, h, &text, "sum");
        }
    }
    let mut about = String::new();
    if !others.is_empty() {
        let _ = write!(
            about,
            "<p class=\"hint\">{} workers: {} have a row of their own (those the findings or the \
             faults name first, then a sample); the other {} are summed in the last two rows.</p>",
            t.workers.len(),
            rows.len(),
            others.len()
        );
    }
    if faults.len() > drawn.len() {
        let _ = write!(
            about,
            "<p class=\"hint\">The first {} of {} faults are drawn.</p>",
            drawn.len(),
            faults.len()
        );
    }
    format!(
        r#"{about}<div class="chart" id="chart"><div class="labels" style="height:{height:.0}px">{labels}</div><svg class="plot" width="100%" height="{height:.0}" xmlns="http://www.w3.org/2000/svg">{svg}</svg></div>"#
    )
}

/// The workers with a row: every one in a small run; in a big one those the findings name,
/// then those the faults aim at, then a sample, within the row and element budgets.
fn rows(t: &Timeline<'_>, named: &Named<'_>, faults: &[Fault]) -> Vec<u32> {
    if t.workers.len() <= MAX_ROWS && t.acquisitions.len() <= MAX_DRAWN {
        return t.workers.clone();
    }
    let mut held: HashMap<u32, usize> = HashMap::new();
    for a in &t.acquisitions {
        *held.entry(a.worker).or_default() += 1;
    }
    let targets = faults.iter().filter_map(|f| f.target);
    let sample = t.workers.iter().copied().take(SAMPLE_ROWS);
    let mut rows: Vec<u32> = Vec::new();
    let mut drawn = 0;
    for (w, limit) in named
        .workers
        .iter()
        .copied()
        .map(|w| (w, MAX_ROWS))
        .chain(targets.map(|w| (w, MAX_ROWS)))
        .chain(sample.map(|w| (w, SAMPLE_ROWS)))
    {
        let n = held.get(&w).copied().unwrap_or(0);
        if rows.len() >= limit || rows.contains(&w) || drawn + n > MAX_DRAWN {
            continue;
        }
        drawn += n;
        rows.push(w);
    }
    rows.sort_unstable();
    rows
}

/// The tier of the lane where `f`'s label does not run into an earlier one, if any: labels
/// of faults close in time (a kill and the crash it causes) go one above the other.
fn place(tiers: &mut [f64; 2], f: &Fault, scale: &Scale) -> Option<usize> {
    let x = scale.x(f.from);
    let width = f.label().chars().count() as f64 * CHAR_PCT + 0.5;
    let (lo, hi) = if x > 85.0 { (x - width, x) } else { (x, x + width) };
    let tier = tiers.iter().position(|&end| end < lo)?;
    tiers[tier] = hi;
    Some(tier)
}

/// For each acquisition (by its `ok`), when its worker's next one completed.
fn next_holding(t: &Timeline<'_>) -> HashMap<usize, u64> {
    let mut last: HashMap<u32, usize> = HashMap::new();
    let mut next = HashMap::new();
    for a in &t.acquisitions {
        if let Some(prev) = last.insert(a.worker, a.ok) {
            next.insert(prev, t.time(a.ok));
        }
    }
    next
}

/// Crash times per worker, ascending.
fn crashes(t: &Timeline<'_>) -> HashMap<u32, Vec<u64>> {
    let mut out: HashMap<u32, Vec<u64>> = HashMap::new();
    for &i in &t.crashes {
        if let Some(w) = t.events[i].target.or(t.events[i].worker) {
            out.entry(w).or_default().push(t.time(i));
        }
    }
    out
}

fn fault(
    svg: &mut String,
    f: &Fault,
    s: &Setting<'_>,
    tier: Option<usize>,
    rows_top: f64,
    height: f64,
    row_of: &HashMap<u32, usize>,
) {
    let sc = &s.scale;
    let numbers = s.named.of(f.events.iter().copied());
    let cls = format!("{}{}", f.class(), classes(&numbers));
    let events: Vec<String> = f.events.iter().map(|i| format!("#{i}")).collect();
    let title = escape(&format!(
        "{}: {} ({} ms{}; events {})",
        f.label(),
        if f.details.is_empty() { "no details" } else { &f.details },
        sc.ms(f.from),
        f.to.map_or_else(String::new, |to| format!(" to {} ms", sc.ms(to))),
        events.join(", ")
    ));
    let x = sc.x(f.from);
    let lane = AXIS;
    let row = f.target.and_then(|w| row_of.get(&w)).map(|&r| rows_top + r as f64 * ROW);
    match f.to {
        Some(to) => {
            let w = sc.w(f.from, to);
            let (y, h) = match (f.target, row) {
                (None, _) => (rows_top, height - rows_top),
                (Some(_), Some(y)) => (y, ROW),
                (Some(_), None) => (0.0, 0.0),
            };
            if h > 0.0 {
                let _ = write!(
                    svg,
                    r#"<rect class="shade {cls}" x="{x:.3}%" y="{y:.0}" width="{w:.3}%" height="{h:.0}"/>"#
                );
            }
            // Holdings cover a row's shade: a strip under them keeps a worker's fault in view.
            if let (Some(_), Some(y)) = (f.target, row) {
                let _ = write!(
                    svg,
                    r#"<rect class="strip {cls}" x="{x:.3}%" y="{:.0}" width="{w:.3}%" height="3"><title>{title}</title></rect>"#,
                    y + ROW - 4.0
                );
            }
            let _ = write!(
                svg,
                r#"<rect class="fault {cls}" x="{x:.3}%" y="{:.0}" width="{w:.3}%" height="{:.0}"><title>{title}</title></rect>"#,
                lane + 3.0,
                LANE - 6.0
            );
        }
        None => {
            let (y1, y2) = match (f.target, row) {
                (None, _) => (lane + 2.0, height),
                (Some(_), Some(y)) => (lane + 2.0, y + ROW),
                (Some(_), None) => (lane + 2.0, lane + LANE - 2.0),
            };
            let _ = write!(
                svg,
                r#"<line class="instant {cls}" x1="{x:.3}%" x2="{x:.3}%" y1="{y1:.0}" y2="{y2:.0}"><title>{title}</title></line>"#
            );
        }
    }
    if let Some(tier) = tier {
        let (anchor, dx) = if x > 85.0 { ("end", -3) } else { ("start", 3) };
        let _ = write!(
            svg,
            r#"<text class="flabel" x="{x:.3}%" dx="{dx}" y="{:.0}" text-anchor="{anchor}">{}<title>{title}</title></text>"#,
            lane + 14.0 + 13.0 * tier as f64,
            escape(&f.label())
        );
    }
}

/// Draws acquisitions.
struct Draw<'a> {
    t: &'a Timeline<'a>,
    s: &'a Setting<'a>,
    crashes: HashMap<u32, Vec<u64>>,
    refused_labels: bool,
    sparse: bool,
    /// An acquisition's `ok` → when its worker's next acquisition completed.
    next: HashMap<usize, u64>,
}

impl Draw<'_> {
    /// When the holder stopped holding as far as it knew: its release began, or its section
    /// ended without a release, or it crashed, or the run ended.
    fn end(&self, a: &Acquisition) -> u64 {
        let t = self.t;
        if let Some(i) = a.release_invoke.or(a.section_done) {
            return t.time(i);
        }
        let ok = t.time(a.ok);
        let crash = self.crashes.get(&a.worker).and_then(|c| c.iter().find(|&&c| c >= ok));
        crash.copied().unwrap_or_else(|| t.events.last().map_or(ok, |e| e.time))
    }

    /// One holding at row top `y`: the lease (a thin bar above, a tick at its end), the
    /// holding, the part of it past the lease, the section, and a refused write.
    fn acquisition(&self, svg: &mut String, a: &Acquisition, y: f64) {
        let (t, s, sc) = (self.t, self.s, &self.s.scale);
        let (ok, end) = (t.time(a.ok), self.end(a));
        let lease_from = t.lease_start(a);
        let lease_end = lease_from.saturating_add(s.ttl).saturating_sub(s.drift);
        let evs = [a.invoke, a.ok].into_iter().chain(a.section_invoke).chain(a.section_done);
        let numbers = s.named.of(evs.chain(a.release_invoke).chain(a.release_done));
        let mut title = format!(
            "worker {}: acquired at {} ms (event #{}), held to {} ms; lease from {} ms (its winning command was sent) to {} ms",
            a.worker,
            sc.ms(ok),
            a.ok,
            sc.ms(end),
            sc.ms(lease_from),
            sc.ms(lease_end)
        );
        if end > lease_end {
            let _ = write!(title, ", held {:.1} ms past it", (end - lease_end) as f64 / 1e6);
        }
        let mut body = String::new();
        // Drawn from the acquisition (a waiter's winning command may have been sent long
        // before); after the release only its end is drawn, faint, when nothing else is there.
        let used = lease_end.min(end).max(ok);
        let rest = self.sparse && self.next.get(&a.ok).is_none_or(|&n| lease_end <= n);
        let _ = write!(
            body,
            r#"<rect class="lease" x="{:.3}%" y="{:.0}" width="{:.3}%" height="3"/><rect class="held" x="{:.3}%" y="{:.0}" width="{:.3}%" height="16"/>"#,
            sc.x(ok),
            y + 3.0,
            sc.w(ok, used),
            sc.x(ok),
            y + 8.0,
            sc.w(ok, end)
        );
        if end > lease_end {
            let _ = write!(
                body,
                r#"<rect class="over" x="{:.3}%" y="{:.0}" width="{:.3}%" height="16"/>"#,
                sc.x(lease_end.max(ok)),
                y + 8.0,
                sc.w(lease_end.max(ok), end)
            );
        } else if rest {
            let _ = write!(
                body,
                r#"<rect class="lease rest" x="{:.3}%" y="{:.0}" width="{:.3}%" height="1"/>"#,
                sc.x(used),
                y + 4.0,
                sc.w(used, lease_end)
            );
        }
        self.section(&mut body, &mut title, a, y, lease_end);
        if end > lease_end || rest {
            let _ = write!(
                body,
                r#"<line class="lease-end{}" x1="{1:.3}%" x2="{1:.3}%" y1="{2:.0}" y2="{3:.0}"/>"#,
                if end > lease_end { " ran-out" } else { "" },
                sc.x(lease_end),
                y + 1.0,
                y + ROW - 1.0
            );
        }
        if !numbers.is_empty() {
            let list: Vec<String> = numbers.iter().map(|k| (k + 1).to_string()).collect();
            let _ = write!(title, "; named by finding {}", list.join(", "));
        }
        let data: Vec<String> = numbers.iter().map(ToString::to_string).collect();
        let _ = write!(
            svg,
            r#"<g class="acq{}{}" data-f="{}"><title>{}</title>{body}</g>"#,
            if numbers.is_empty() { "" } else { " named" },
            classes(&numbers),
            data.join(" "),
            escape(&title)
        );
    }

    fn section(
        &self,
        body: &mut String,
        title: &mut String,
        a: &Acquisition,
        y: f64,
        lease_end: u64,
    ) {
        let (t, sc) = (self.t, &self.s.scale);
        let Some(si) = a.section_invoke else { return };
        let done = a.section_done.map(|d| &t.events[d]);
        let (enter, exit) = match done {
            Some(e) if e.enter.is_some() && e.exit.is_some() => {
                (e.enter.unwrap_or_default(), e.exit.unwrap_or_default())
            }
            _ => (t.time(si), a.section_done.map_or_else(|| self.end(a), |d| t.time(d))),
        };
        let sure = done.is_some_and(|e| e.kind == Kind::Ok);
        let refused = done.is_some_and(|e| e.accepted == Some(false));
        let class = match (sure, refused) {
            (true, true) => "inside refused",
            (true, false) => "inside",
            (false, _) => "inside unsure",
        };
        let _ = write!(
            body,
            r#"<rect class="{class}" x="{:.3}%" y="{:.0}" width="{:.3}%" height="8"/>"#,
            sc.x(enter),
            y + 12.0,
            sc.w(enter, exit)
        );
        if exit > lease_end {
            let from = enter.max(lease_end);
            let _ = write!(
                body,
                r#"<rect class="late" x="{:.3}%" y="{:.0}" width="{:.3}%" height="8"/>"#,
                sc.x(from),
                y + 12.0,
                sc.w(from, exit)
            );
        }
        let _ = write!(title, "; inside {}–{} ms", sc.ms(enter), sc.ms(exit));
        if let Some(e) = done {
            let what = super::named::describe(e);
            if !what.is_empty() {
                let _ = write!(title, ": {what}");
            }
            if !sure {
                title.push_str(" (the section's outcome is unknown)");
            }
        }
        if refused {
            let x = sc.x(exit);
            let _ = write!(
                body,
                r#"<text class="xmark" x="{x:.3}%" y="{:.0}" text-anchor="middle">✕</text>"#,
                y + 20.0
            );
            if self.refused_labels {
                let (anchor, dx) = if x > 90.0 { ("end", -8) } else { ("start", 8) };
                let _ = write!(
                    body,
                    r#"<text class="refused-label" x="{x:.3}%" dx="{dx}" y="{:.0}" text-anchor="{anchor}">write refused</text>"#,
                    y + 19.0
                );
            }
        }
    }
}
