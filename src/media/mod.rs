//! Media: RTP sessions and port pool, codecs, DTMF, player, recorder, mixer, tones, jitter.
