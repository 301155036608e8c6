//! Raw request/response load: the [`Wire`] for `stampede raw`. Each connection writes a fixed
//! message (encoded once, like HTTP requests) and waits for the response, framed by
//! `proto::raw` (delimiter, length prefix or fixed size); `--expect` checks each response.

use crate::config::{LoadConfig, RawConfig, Target};
use crate::proto::raw::{RawDecoder, RawError};
use crate::scenario::exchange::{Exchange, Fed, Wire};
use crate::stats::ErrorClass;

pub struct RawWire {
    cfg: RawConfig,
    /// `pipeline` copies of the framed message, back to back.
    batch: &'static [u8],
    message_len: usize,
}

pub type RawScenario = Exchange<RawWire>;

impl RawScenario {
    pub fn raw(cfg: RawConfig) -> RawScenario {
        let batch = cfg.message.repeat(cfg.load.pipeline.max(1) as usize);
        let message_len = cfg.message.len();
        Exchange::new(RawWire { batch: Box::leak(batch.into_boxed_slice()), message_len, cfg })
    }
}

impl Wire for RawWire {
    type Parser = RawDecoder;

    fn name(&self) -> &'static str {
        "raw"
    }

    fn target(&self) -> &Target {
        &self.cfg.target
    }

    fn load(&self) -> &LoadConfig {
        &self.cfg.load
    }

    fn new_parser(&self) -> RawDecoder {
        RawDecoder::new(self.cfg.framing.clone(), self.cfg.max_response)
    }

    fn batch(&self, k: usize) -> &'static [u8] {
        &self.batch[..k * self.message_len]
    }

    fn read_buf(&self) -> usize {
        crate::scenario::exchange::READ_BUF.max(self.cfg.max_response + 1)
    }

    fn feed(&self, p: &mut RawDecoder, input: &[u8]) -> Result<Fed, ErrorClass> {
        match p.feed(input) {
            Ok(None) => Ok(Fed::Partial { consumed: 0 }),
            Ok(Some(n)) => match &self.cfg.expect {
                Some(want) if !contains(&input[..n], want) => Ok(Fed::Failed { consumed: n, class: ErrorClass::Check }),
                _ => Ok(Fed::Answer { consumed: n, status: 0, keep_alive: true }),
            },
            Err(RawError::TooLong) => Err(ErrorClass::Protocol),
        }
    }

    fn eof(&self, _p: &mut RawDecoder) -> Option<u16> {
        None
    }

    fn reset(&self, p: &mut RawDecoder) {
        p.reset();
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}
