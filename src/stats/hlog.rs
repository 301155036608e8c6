//! `--hlog FILE`: the run's per-second latency histograms in the HdrHistogram interval log
//! format (version 1.3), readable by HdrHistogram's tools (HistogramLogProcessor, the plotter).
//! Values are nanoseconds; the "Interval_Max" column is in milliseconds.

use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::V2DeflateSerializer;

use super::report::RunResult;

/// The log of `r`'s intervals (corrected latency), one line per second.
pub fn render(r: &RunResult) -> String {
    let mut out = Vec::new();
    let start = UNIX_EPOCH + Duration::from_millis(r.meta.started_unix_ms);
    let mut ser = V2DeflateSerializer::new();
    {
        let mut b = IntervalLogWriterBuilder::new();
        b.add_comment("[Histogram log format version 1.3]");
        b.add_comment(&format!("stampede {} {}: corrected latency in ns", r.meta.scenario, r.meta.target))
            .with_start_time(start)
            .with_base_time(start)
            .with_max_value_divisor(1e6);
        let Ok(mut w) = b.begin_log_with(&mut out, &mut ser) else { return String::new() };
        for rec in &r.intervals {
            let t0 = Duration::from_secs(rec.t_s.saturating_sub(1));
            let _ = w.write_histogram(&rec.latency(), t0, Duration::from_secs(1), None);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;

    use super::*;
    use crate::stats::timeline::SecondAcc;
    use crate::stats::Shard;

    #[test]
    fn the_log_reads_back_with_hdrhistograms_own_parser() {
        let meta = crate::stats::report::RunMeta {
            scenario: "http".into(),
            target: "http://127.0.0.1:8080/".into(),
            started_unix_ms: 1_700_000_000_000,
            ..Default::default()
        };
        let mut r = RunResult::new(meta, Shard::new());
        for t in 1..=3u64 {
            let mut acc = SecondAcc::new(t);
            for v in 1..=100 * t {
                acc.latency.record(v * 1_000_000).unwrap();
            }
            r.intervals.push(acc.finish());
        }
        let text = render(&r);
        assert!(text.contains("#[Histogram log format version 1.3]"), "{text}");
        let mut seen = Vec::new();
        for e in IntervalLogIterator::new(text.as_bytes()) {
            if let Ok(LogEntry::Interval(h)) = e {
                let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, h.encoded_histogram()).unwrap();
                let hist: hdrhistogram::Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice()).unwrap();
                seen.push((h.start_timestamp().as_secs(), hist.len(), h.max().round() as u64));
            }
        }
        assert_eq!(seen, vec![(0, 100, 100), (1, 200, 200), (2, 300, 300)]);
    }
}
