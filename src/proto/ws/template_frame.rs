//! A rendered [`Template`](crate::proto::template::Template) as one masked client frame,
//! zero-copy for the shared bytes: the header and the own bytes (masked in place) come from the
//! [`Rendered`] buffer; every shared range (long literals, `{payload}` filler) points into a
//! copy of the template's shared buffer pre-masked for the mask phase it lands on. The four
//! phases are prepared once ([`MaskedShared::new`]), so the mask key is fixed per
//! `MaskedShared` (per run or per connection, not per frame: servers do not check, and the key
//! is still not predictable from outside when chosen at random at set-up).

use std::ops::Range;
use std::sync::Arc;

use super::frame::{apply_mask, FrameHeader, Opcode};
use crate::proto::template::{Rendered, Seg};

/// The template's shared buffer masked with one key, in the four phases a range can start on.
#[derive(Clone, Debug)]
pub struct MaskedShared {
    key: [u8; 4],
    /// `phases[p][i]` = `shared[i]` masked as payload byte `i + p`.
    phases: [Arc<[u8]>; 4],
}

impl MaskedShared {
    pub fn new(shared: &[u8], key: [u8; 4]) -> MaskedShared {
        let phase = |p: usize| -> Arc<[u8]> {
            let mut b = shared.to_vec();
            apply_mask(&mut b, key, p);
            b.into()
        };
        MaskedShared { key, phases: [phase(0), phase(1), phase(2), phase(3)] }
    }

    pub fn key(&self) -> [u8; 4] {
        self.key
    }

    /// The buffer a [`FrameSeg::Masked`] of this phase points into.
    pub fn phase(&self, p: usize) -> &Arc<[u8]> {
        &self.phases[p % 4]
    }
}

/// One piece of a masked frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameSeg {
    /// A range of [`Rendered::bytes`] (the header, or own bytes now masked).
    Own(Range<usize>),
    /// A range of [`MaskedShared::phase`]`(phase)`.
    Masked { phase: usize, range: Range<usize> },
}

/// Turns `r` (just rendered, not yet masked) into one final masked frame of `opcode`: appends
/// the header to `r.bytes`, masks the own bytes in place, and writes the frame's pieces, in
/// wire order, to `out` (cleared first). Call once per render: it masks `r.bytes`.
pub fn mask_rendered(r: &mut Rendered, opcode: Opcode, m: &MaskedShared, out: &mut Vec<FrameSeg>) {
    out.clear();
    let head_at = r.bytes.len();
    FrameHeader { fin: true, opcode, mask: Some(m.key), payload_len: r.len as u64 }.encode(&mut r.bytes);
    out.push(FrameSeg::Own(head_at..r.bytes.len()));
    let mut offset = 0usize;
    for s in &r.segs {
        match s {
            Seg::Own(range) => {
                apply_mask(&mut r.bytes[range.clone()], m.key, offset);
                offset += range.len();
                out.push(FrameSeg::Own(range.clone()));
            }
            Seg::Shared(range) => {
                // Shared byte `i` lands at payload offset `offset + i - start`; phase p masks
                // byte i as offset i + p, so p = offset - start (mod 4).
                let phase = (offset + 4 - range.start % 4) % 4;
                offset += range.len();
                out.push(FrameSeg::Masked { phase, range: range.clone() });
            }
        }
    }
}

/// The frame's bytes in one piece (tests, and transports without vectored writes).
pub fn write_frame(r: &Rendered, m: &MaskedShared, segs: &[FrameSeg], out: &mut Vec<u8>) {
    for s in segs {
        match s {
            FrameSeg::Own(range) => out.extend_from_slice(&r.bytes[range.clone()]),
            FrameSeg::Masked { phase, range } => out.extend_from_slice(&m.phase(*phase)[range.clone()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::template::{Mark, Rng, Template, Values};
    use crate::proto::ws::frame::{Decoder, Event, Role};

    #[test]
    fn a_masked_template_frame_decodes_to_the_unmasked_text() {
        let long = "L".repeat(70);
        let texts = [
            format!("{{\"seq\":{{seq}},\"pad\":\"{{payload:1k}}\",\"m\":\"{{mark}}\",\"t\":\"{long}\"}}"),
            "{payload:3}x{payload:5}yz{payload:300}".to_string(),
            format!("{long}{{seq}}{long}"),
            "{seq}".to_string(),
        ];
        for text in &texts {
            let t = Template::parse(text.as_bytes(), &[]).unwrap();
            for (seq, key) in [(1u64, [1, 2, 3, 4]), (12345, [0xff, 0, 0x80, 7]), (7, [9, 9, 9, 9])] {
                let m = MaskedShared::new(t.shared(), key);
                let (mut r, mut rng) = (Rendered::default(), Rng::new(seq));
                let v = Values { seq, mark: Mark { sender: 3, seq, intended_ns: 99, epoch: 5 }, ..Values::default() };
                t.render(&v, &mut rng, &mut r);
                let mut plain = Vec::new();
                r.write_to(t.shared(), &mut plain);
                let mut segs = Vec::new();
                mask_rendered(&mut r, Opcode::Text, &m, &mut segs);
                let mut wire = Vec::new();
                write_frame(&r, &m, &segs, &mut wire);
                let mut d = Decoder::new(Role::Server, 1 << 20, 1 << 20);
                let (used, ev) = d.decode(&wire).unwrap();
                assert_eq!(used, wire.len(), "{text} key {key:?}");
                assert_eq!(ev, Some(Event::Message { opcode: Opcode::Text, payload: &plain[..] }), "{text} key {key:?}");
            }
        }
    }
}
