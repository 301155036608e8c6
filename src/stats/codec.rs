//! The histogram codec of results: HdrHistogram V2 + deflate, as bytes (per-second records) or
//! base64 text (the JSON result), decoded back into a histogram with the crate's bounds so
//! histograms of several processes or machines add exactly.
//!
//! Pure: no I/O, no clock.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use super::new_histogram;

/// V2 + deflate, base64 (empty on failure).
pub(crate) fn encode_hist(h: &Histogram<u64>) -> String {
    base64::engine::general_purpose::STANDARD.encode(pack_hist(h))
}

/// V2 + deflate bytes of a histogram (empty on failure).
pub(crate) fn pack_hist(h: &Histogram<u64>) -> Vec<u8> {
    let mut buf = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut buf) {
        Ok(_) => buf,
        Err(_) => Vec::new(),
    }
}

pub(crate) fn unpack_hist(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).map_err(|e| format!("histogram does not decode: {e:?}"))?;
    let mut out = new_histogram();
    out.add(&h).map_err(|e| format!("histogram out of range: {e:?}"))?;
    Ok(out)
}

pub(crate) fn decode_hist(s: &str) -> Result<Histogram<u64>, String> {
    unpack_hist(&base64_bytes(s)?)
}

pub(crate) fn base64_bytes(s: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD.decode(s).map_err(|e| format!("histogram is not base64: {e}"))
}

pub(crate) fn base64_text(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
