//! The engine's view of media: create a two-leg bridge with local ports to put into each side's
//! SDP, point a leg at a new remote address, hold/retrieve, destroy. The real relay
//! ([`crate::media::relay::MediaRelay`]) implements it; engine tests use a recording fake.

use std::net::SocketAddr;

use crate::ivr::interp::PromptRef;
use crate::media::prompt::PromptCache;
use crate::media::quality::LegQualityReport;
use crate::media::recorder::{RecorderHandle, RecordingMeta};
use crate::media::relay::local::LegFormat;
use crate::media::relay::{BridgeId, MediaDirection, MediaRelay, MixMode, RelayEvent};

/// Which side of a bridge: the caller (A) or the callee (B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaLeg {
    A,
    B,
}

/// Local ports of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgeInfo {
    pub id: BridgeId,
    /// Our RTP port facing the caller: goes into the SDP we send to the caller.
    pub port_a: u16,
    /// Our RTP port facing the callee.
    pub port_b: u16,
}

pub trait MediaControl {
    /// A new bridge; `hint_*` are the SDP addresses known so far.
    fn create_bridge(
        &mut self,
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
    ) -> Result<BridgeInfo, String>;
    /// A bridge for one more party of a call, able to share a conference with bridge `near`; its
    /// leg A faces the party, leg B stays unused.
    fn create_bridge_near(
        &mut self,
        near: BridgeId,
        hint_a: Option<SocketAddr>,
    ) -> Result<BridgeInfo, String>;
    /// Puts `leg` of bridge `id` into conference `conf` in `mode`, or takes it out with `None`.
    fn mix(&mut self, conf: u64, id: BridgeId, leg: MediaLeg, mode: Option<MixMode>);
    fn update_remote(&mut self, id: BridgeId, leg: MediaLeg, addr: SocketAddr);
    fn set_direction(&mut self, id: BridgeId, leg: MediaLeg, sends: bool, receives: bool);
    fn destroy(&mut self, id: BridgeId);
    /// What `leg` negotiated: the payload type hotline's audio goes out in, and the
    /// telephone-event payload type whose digits are reported.
    fn set_format(&mut self, id: BridgeId, leg: MediaLeg, payload_type: u8, dtmf: Option<u8>);
    /// Plays prompts to `leg` (replacing relayed audio until done); the relay reports
    /// `PlayDone { id: play }` when the sequence ran to its end.
    fn play(
        &mut self,
        id: BridgeId,
        leg: MediaLeg,
        play: u64,
        prompts: &[PromptRef],
        rate: f32,
        looping: bool,
    );
    /// Stops playback `play` (any, with `None`) to `leg`.
    fn stop_play(&mut self, id: BridgeId, leg: MediaLeg, play: Option<u64>);
    /// Plays audio hotline made itself (8 kHz samples: key tones, ringback) to `leg`, once or
    /// `looping` until stopped.
    fn play_samples(
        &mut self,
        id: BridgeId,
        leg: MediaLeg,
        play: u64,
        samples: Vec<i16>,
        looping: bool,
    );
    /// Records the bridge (caller left, callee right) from now on; returns the recording's id,
    /// or `None` when this node does not record.
    fn start_recording(&mut self, id: BridgeId, meta: RecordingMeta) -> Option<String>;
    fn stop_recording(&mut self, id: BridgeId);
    /// Pauses (silence is recorded) or resumes the recording of bridge `id`.
    fn pause_recording(&mut self, id: BridgeId, paused: bool);

    /// The bridge's latest per-leg quality (caller, callee), read without waiting; for the CDR.
    fn quality(&mut self, _id: BridgeId) -> Option<[LegQualityReport; 2]> {
        None
    }
}

/// The relay, with an event channel for latching and RTP timeouts, and the metrics that a
/// closed bridge's packet counts are added to.
pub struct RelayMedia {
    pub relay: MediaRelay,
    pub events: tokio::sync::mpsc::UnboundedSender<RelayEvent>,
    pub metrics: std::sync::Arc<crate::web::Metrics>,
    /// Decoded prompts (loaded at start, shared by every call).
    pub prompts: PromptCache,
    /// Where recordings go, and the database their rows go to (`None`: this node does not record).
    pub recorder: Option<(RecorderHandle, crate::store::Db)>,
}

pub(super) fn relay_leg(leg: MediaLeg) -> crate::media::relay::Leg {
    match leg {
        MediaLeg::A => crate::media::relay::Leg::A,
        MediaLeg::B => crate::media::relay::Leg::B,
    }
}

impl MediaControl for RelayMedia {
    fn create_bridge(
        &mut self,
        hint_a: Option<SocketAddr>,
        hint_b: Option<SocketAddr>,
    ) -> Result<BridgeInfo, String> {
        self.relay
            .create_bridge(hint_a, hint_b, Some(self.events.clone()))
            .map(|b| BridgeInfo {
                id: b.id,
                port_a: b.port_a,
                port_b: b.port_b,
            })
            .map_err(|e| e.to_string())
    }

    fn create_bridge_near(
        &mut self,
        near: BridgeId,
        hint_a: Option<SocketAddr>,
    ) -> Result<BridgeInfo, String> {
        self.relay
            .create_bridge_near(near, hint_a, None, Some(self.events.clone()))
            .map(|b| BridgeInfo {
                id: b.id,
                port_a: b.port_a,
                port_b: b.port_b,
            })
            .map_err(|e| e.to_string())
    }

    fn mix(&mut self, conf: u64, id: BridgeId, leg: MediaLeg, mode: Option<MixMode>) {
        let r = match mode {
            Some(mode) => self.relay.mix_join(conf, id, relay_leg(leg), mode),
            None => self.relay.mix_leave(conf, id, relay_leg(leg)),
        };
        if let Err(e) = r {
            tracing::warn!(bridge = id, conf, error = %e, "media: conference not changed");
        }
    }

    fn update_remote(&mut self, id: BridgeId, leg: MediaLeg, addr: SocketAddr) {
        if let Err(e) = self.relay.update_remote(id, relay_leg(leg), addr) {
            tracing::warn!(bridge = id, error = %e, "media: remote address not updated");
        }
    }

    fn set_direction(&mut self, id: BridgeId, leg: MediaLeg, sends: bool, receives: bool) {
        let dir = match (sends, receives) {
            (true, true) => MediaDirection::SendRecv,
            (true, false) => MediaDirection::SendOnly,
            (false, true) => MediaDirection::RecvOnly,
            (false, false) => MediaDirection::Inactive,
        };
        if let Err(e) = self.relay.set_direction(id, relay_leg(leg), dir) {
            tracing::warn!(bridge = id, error = %e, "media: direction not set");
        }
    }

    fn set_format(&mut self, id: BridgeId, leg: MediaLeg, payload_type: u8, dtmf: Option<u8>) {
        let format = LegFormat {
            payload_type,
            dtmf_payload_type: dtmf,
        };
        if let Err(e) = self.relay.set_format(id, relay_leg(leg), format) {
            tracing::warn!(bridge = id, error = %e, "media: format not set");
        }
    }

    fn play(
        &mut self,
        id: BridgeId,
        leg: MediaLeg,
        play: u64,
        prompts: &[PromptRef],
        rate: f32,
        looping: bool,
    ) {
        let slow = rate < 0.95;
        let mut clips = Vec::with_capacity(prompts.len());
        for p in prompts {
            match p {
                PromptRef::File { language, name } => {
                    match self.prompts.get(language, name, slow) {
                        Ok(c) => clips.push(c),
                        Err(e) => tracing::warn!(bridge = id, error = %e, "prompt skipped"),
                    }
                }
                PromptRef::Tts { text, .. } => {
                    tracing::warn!(bridge = id, %text, "no TTS engine on this node: text prompt skipped")
                }
            }
        }
        // An empty sequence still ends with PlayDone, so a flow never waits for silence forever.
        if let Err(e) = self.relay.play(id, relay_leg(leg), play, clips, looping) {
            tracing::warn!(bridge = id, error = %e, "media: playback not started");
        }
    }

    fn play_samples(
        &mut self,
        id: BridgeId,
        leg: MediaLeg,
        play: u64,
        samples: Vec<i16>,
        looping: bool,
    ) {
        let clip: std::sync::Arc<[i16]> = samples.into();
        if let Err(e) = self
            .relay
            .play(id, relay_leg(leg), play, vec![clip], looping)
        {
            tracing::warn!(bridge = id, error = %e, "media: playback not started");
        }
    }

    fn stop_play(&mut self, id: BridgeId, leg: MediaLeg, play: Option<u64>) {
        if let Err(e) = self.relay.stop_play(id, relay_leg(leg), play) {
            tracing::debug!(bridge = id, error = %e, "media: playback not stopped");
        }
    }

    fn start_recording(&mut self, id: BridgeId, meta: RecordingMeta) -> Option<String> {
        let (handle, db) = self.recorder.as_ref()?;
        let now_ms = crate::store::now_ms();
        let tap = match handle.start(now_ms) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(bridge = id, error = %e, "recording not started");
                return None;
            }
        };
        let rec_id = tap.id();
        let rel = tap.rel_path().to_string();
        if let Err(e) = self.relay.record(id, tap) {
            tracing::warn!(bridge = id, error = %e, "recording not started");
            return None;
        }
        let db = db.clone();
        tokio::spawn(async move {
            if let Err(e) =
                crate::media::recorder::store::insert_started(&db, rec_id, &meta, now_ms, &rel)
                    .await
            {
                tracing::warn!(recording = %rec_id, error = %e, "recording row not written");
            }
        });
        Some(rec_id.to_string())
    }

    fn stop_recording(&mut self, id: BridgeId) {
        if let Err(e) = self.relay.stop_recording(id) {
            tracing::debug!(bridge = id, error = %e, "recording not stopped");
        }
    }

    fn pause_recording(&mut self, id: BridgeId, paused: bool) {
        if let Err(e) = self.relay.pause_recording(id, paused) {
            tracing::warn!(bridge = id, error = %e, "recording not paused/resumed");
        }
    }

    fn quality(&mut self, id: BridgeId) -> Option<[LegQualityReport; 2]> {
        self.relay.quality(id)
    }

    fn destroy(&mut self, id: BridgeId) {
        let relay = self.relay.clone();
        let metrics = self.metrics.clone();
        tokio::spawn(async move {
            match relay.destroy(id).await {
                Ok(Some(stats)) => {
                    use std::sync::atomic::Ordering::Relaxed;
                    metrics.rtp_a_to_b.fetch_add(stats.b.tx_packets, Relaxed);
                    metrics.rtp_b_to_a.fetch_add(stats.a.tx_packets, Relaxed);
                    tracing::debug!(
                        bridge = id,
                        a_rx = stats.a.rx_packets,
                        b_rx = stats.b.rx_packets,
                        lost_a = stats.a.lost,
                        lost_b = stats.b.lost,
                        "bridge closed"
                    );
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(bridge = id, error = %e, "media: bridge not destroyed"),
            }
        });
    }
}
