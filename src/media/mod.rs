//! Media: RTP sessions and port pool, codecs, DTMF, player, recorder, mixer, tones, jitter.

pub mod codec;
pub mod dtmf;
pub mod jitter;
pub mod mixer;
pub mod port_pool;
pub mod prompt;
pub mod quality;
pub mod recorder;
pub mod relay;
pub mod rtcp;
pub mod rtp;
pub mod tone;
