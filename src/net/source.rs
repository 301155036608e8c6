//! The source-address pool: `--source 127.0.0.2-127.0.0.9`, a CIDR, or a comma list.
//!
//! Each source address gives its own ~28k ephemeral ports per destination, so a pool of eight
//! loopback addresses lets one box open far more than 28k connections to one target.

use std::net::{IpAddr, Ipv4Addr};

/// Largest pool accepted: keeps a typo such as `10.0.0.0/8` from allocating 16M entries.
pub const MAX_SOURCES: usize = 65_536;

/// Parses `A`, `A-B` (IPv4 range, inclusive), `A/N` (IPv4 CIDR, every address in it) or a comma
/// separated list of those.
pub fn parse_sources(spec: &str) -> Result<Vec<IpAddr>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let a = parse_v4(a, part)?;
            let b = parse_v4(b, part)?;
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a {
                return Err(format!("source range '{part}' ends before it starts"));
            }
            push_range(&mut out, a, b, part)?;
        } else if let Some((a, bits)) = part.split_once('/') {
            let a = u32::from(parse_v4(a, part)?);
            let bits: u32 = bits.parse().ok().filter(|b| *b <= 32).ok_or_else(|| format!("'{part}': prefix length must be 0..=32"))?;
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            push_range(&mut out, a & mask, (a & mask) | !mask, part)?;
        } else {
            let ip: IpAddr = part
                .parse()
                .map_err(|_| format!("'{part}' is not an IP address (examples: 127.0.0.2, 127.0.0.2-127.0.0.9, 127.0.0.0/29)"))?;
            out.push(ip);
        }
    }
    if out.is_empty() {
        return Err("--source needs at least one address".into());
    }
    Ok(out)
}

fn parse_v4(s: &str, part: &str) -> Result<Ipv4Addr, String> {
    s.trim().parse().map_err(|_| format!("'{part}': '{}' is not an IPv4 address", s.trim()))
}

fn push_range(out: &mut Vec<IpAddr>, a: u32, b: u32, part: &str) -> Result<(), String> {
    if (b - a) as usize + out.len() >= MAX_SOURCES {
        return Err(format!("'{part}' holds more than {MAX_SOURCES} source addresses"));
    }
    out.extend((a..=b).map(|v| IpAddr::V4(Ipv4Addr::from(v))));
    Ok(())
}

/// Round-robin over the pool. Each worker has its own, started at a different offset.
#[derive(Clone, Debug)]
pub struct SourcePool {
    addrs: Vec<IpAddr>,
    next: usize,
}

impl SourcePool {
    pub fn new(addrs: Vec<IpAddr>, offset: usize) -> SourcePool {
        let next = if addrs.is_empty() { 0 } else { offset % addrs.len() };
        SourcePool { addrs, next }
    }

    /// The next source address, or `None` when the pool is empty (let the kernel choose).
    pub fn next_addr(&mut self) -> Option<IpAddr> {
        let ip = *self.addrs.get(self.next)?;
        self.next = (self.next + 1) % self.addrs.len();
        Some(ip)
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(parse_sources("127.0.0.2").unwrap(), ips(&["127.0.0.2"]));
        assert_eq!(parse_sources("127.0.0.2-127.0.0.4").unwrap(), ips(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]));
        assert_eq!(parse_sources("127.0.0.8/30").unwrap(), ips(&["127.0.0.8", "127.0.0.9", "127.0.0.10", "127.0.0.11"]));
        assert_eq!(parse_sources("127.0.0.1, ::1").unwrap(), ips(&["127.0.0.1", "::1"]));
        assert_eq!(parse_sources("127.0.0.5/32").unwrap(), ips(&["127.0.0.5"]));
    }

    #[test]
    fn rejects_bad_specs_with_a_message() {
        for bad in ["", "localhost", "127.0.0.9-127.0.0.2", "127.0.0.0/33", "10.0.0.0/8", "1.2.3.4-x"] {
            let e = parse_sources(bad).unwrap_err();
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn pool_round_robins_from_its_offset() {
        let mut p = SourcePool::new(ips(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]), 1);
        let got: Vec<_> = (0..4).map(|_| p.next_addr().unwrap().to_string()).collect();
        assert_eq!(got, ["127.0.0.3", "127.0.0.4", "127.0.0.2", "127.0.0.3"]);
        assert_eq!(SourcePool::new(vec![], 3).next_addr(), None);
    }
}
