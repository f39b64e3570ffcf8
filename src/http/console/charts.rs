//! Pictures drawn on the server as SVG: a line of one series over days, and paired bars per day.
//! Each has a text alternative; no script, nothing loaded from elsewhere.

use maud::{Markup, html};

const W: f64 = 1100.0;
const H: f64 = 220.0;
const PAD: f64 = 32.0;

/// The top of the scale: a round number above the largest value.
fn ceiling(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    (max / magnitude).ceil() * magnitude
}

fn axis(top: f64, first: &str, last: &str) -> Markup {
    html! {
        line.axis x1=(PAD) y1=(H - PAD) x2=(W - 8.0) y2=(H - PAD) stroke="#dfe1e6" {}
        line.axis x1=(PAD) y1="8" x2=(PAD) y2=(H - PAD) stroke="#dfe1e6" {}
        text x="4" y="16" { (format!("{top:.0}")) }
        text x="4" y=(H - PAD) { "0" }
        text x=(PAD) y=(H - 10.0) { (first) }
        text x=(W - 8.0) y=(H - 10.0) text-anchor="end" { (last) }
    }
}

/// One series over days: `(day label, value)`.
pub fn line(label: &str, points: &[(String, f64)]) -> Markup {
    let top = ceiling(points.iter().map(|p| p.1).fold(0.0, f64::max));
    let n = points.len().max(2) as f64 - 1.0;
    let xy = |i: usize, v: f64| {
        let x = PAD + (W - PAD - 8.0) * i as f64 / n;
        let y = (H - PAD) - (H - PAD - 8.0) * v / top;
        format!("{x:.1},{y:.1}")
    };
    let path: Vec<String> = points.iter().enumerate().map(|(i, p)| xy(i, p.1)).collect();
    let first = points.first().map(|p| p.0.clone()).unwrap_or_default();
    let last = points.last().map(|p| p.0.clone()).unwrap_or_default();
    let alt = format!(
        "{label}: from {} on {first} to {} on {last}",
        points.first().map_or(0.0, |p| p.1),
        points.last().map_or(0.0, |p| p.1)
    );
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(alt) {
            title { (alt) }
            (axis(top, &first, &last))
            polyline.series points=(path.join(" ")) fill="none" stroke="#0c66e4" stroke-width="2" {}
        }
    }
}

/// Two series per day as paired bars: `(day label, a, b)`.
pub fn bars(labels: (&str, &str), days: &[(String, f64, f64)]) -> Markup {
    let top = ceiling(days.iter().map(|d| d.1.max(d.2)).fold(0.0, f64::max));
    let slot = (W - PAD - 8.0) / days.len().max(1) as f64;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let height = |v: f64| (H - PAD - 8.0) * v / top;
    let first = days.first().map(|d| d.0.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.0.clone()).unwrap_or_default();
    let (sum_a, sum_b): (f64, f64) = days.iter().fold((0.0, 0.0), |s, d| (s.0 + d.1, s.1 + d.2));
    let alt = format!(
        "{}: {sum_a} and {}: {sum_b}, per day from {first} to {last}",
        labels.0, labels.1
    );
    html! {
        svg.chart viewBox={ "0 0 " (W) " " (H) } role="img" aria-label=(alt) {
            title { (alt) }
            (axis(top, &first, &last))
            @for (i, d) in days.iter().enumerate() {
                @let x = PAD + slot * i as f64;
                rect.first x=(format!("{x:.1}")) y=(format!("{:.1}", H - PAD - height(d.1))) width=(format!("{bar:.1}")) height=(format!("{:.1}", height(d.1))) fill="#216e4e" {}
                rect.second x=(format!("{:.1}", x + bar + 1.0)) y=(format!("{:.1}", H - PAD - height(d.2))) width=(format!("{bar:.1}")) height=(format!("{:.1}", height(d.2))) fill="#c9372c" {}
            }
        }
        p.muted { span.swatch.first { "■" } " " (labels.0) "  " span.swatch.second { "■" } " " (labels.1) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_round_up_and_charts_describe_themselves() {
        assert_eq!(ceiling(0.0), 1.0);
        assert_eq!(ceiling(7.0), 7.0);
        assert_eq!(ceiling(73.0), 80.0);
        let svg = line("Licences in use", &[("a".into(), 3.0), ("b".into(), 5.0)]).into_string();
        assert!(
            svg.contains("role=\"img\"") && svg.contains("from 3 on a to 5 on b"),
            "{svg}"
        );
        let svg = bars(("restored", "reclaimed"), &[("d".into(), 1.0, 2.0)]).into_string();
        assert!(svg.contains("restored: 1 and reclaimed: 2"), "{svg}");
    }
}
