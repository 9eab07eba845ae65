//! Time to position: every x on the chart is a percentage of the plot's width, so the page fits
//! any window without a fixed pixel width.

/// The run's time span, from its first event.
#[derive(Clone, Copy)]
pub(super) struct Scale {
    /// The first event's time, ns: 0 ms on the axis.
    pub start: u64,
    /// From the first event to the last, ns (at least 1).
    pub span: u64,
}

impl Scale {
    /// The percentage of the width at `ns`, clamped to the plot.
    pub fn x(&self, ns: u64) -> f64 {
        (ns.saturating_sub(self.start) as f64 / self.span as f64 * 100.0).min(100.0)
    }

    /// The width from `from` to `to`, never so thin that it disappears.
    pub fn w(&self, from: u64, to: u64) -> f64 {
        (self.x(to) - self.x(from)).max(0.08)
    }

    /// `ns` as ms since the start, to 0.1 ms.
    pub fn ms(&self, ns: u64) -> String {
        format!("{:.1}", ns.saturating_sub(self.start) as f64 / 1e6)
    }

    /// Axis ticks: `(percentage, label in ms)`, about eight of them at a round step.
    pub fn ticks(&self) -> Vec<(f64, String)> {
        let span_ms = self.span as f64 / 1e6;
        let raw = span_ms / 8.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * magnitude);
        // Decimals enough to tell ticks apart when the whole run is shorter than a few ms.
        let decimals = if step >= 1.0 { 0 } else { (-step.log10()).ceil() as usize };
        (0..)
            .map(|i| f64::from(i) * step)
            .take_while(|v| *v <= span_ms * 1.000_001)
            .map(|v| (v / span_ms * 100.0, format!("{v:.decimals$}")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_milliseconds() {
        let s = Scale { start: 5, span: 3_000_000_000 };
        let labels: Vec<String> = s.ticks().into_iter().map(|(_, l)| l).collect();
        assert_eq!(labels, ["0", "500", "1000", "1500", "2000", "2500", "3000"]);
        let short = Scale { start: 0, span: 1_000_000 };
        assert_eq!(short.ticks()[1].1, "0.2");
        assert!((s.x(5 + 1_500_000_000) - 50.0).abs() < 1e-9);
    }
}
