//! Config loading: the embedded default is valid, and every error names file:line:column.

use super::*;

#[test]
fn embedded_default_is_valid() {
    let cfg = HotlineConfig::parse(DEFAULT_HOTLINE_TOML, "default").expect("default parses");
    let r = cfg
        .resolve("default", DEFAULT_HOTLINE_TOML)
        .expect("default resolves");
    assert_eq!(r.udp, vec!["0.0.0.0:5060".parse().unwrap()]);
    assert_eq!(r.http.port(), 8080);
    assert_eq!(cfg.database.url.get_ref(), "sqlite:data/hotline.db");
}

#[test]
fn syntax_error_names_line_and_column() {
    let text = "[sip]\nudp = [\"0.0.0.0:5060\"]\ntcp = 5\n";
    let err = HotlineConfig::parse(text, "hotline.toml").unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("hotline.toml:3:7:"), "{msg}");
}

#[test]
fn unknown_key_is_refused_with_its_place() {
    let text = "[http]\nlisten = \"0.0.0.0:8080\"\nlistne = 1\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("h.toml:3:1:"), "{msg}");
    assert!(msg.contains("listne"), "{msg}");
}

#[test]
fn bad_address_points_at_the_value() {
    let text = "[sip]\nudp = [\"0.0.0.0:5060\", \"nowhere\"]\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("h.toml:2:24:"), "{msg}");
    assert!(msg.contains("`nowhere` is not an address:port"), "{msg}");
}

#[test]
fn tls_needs_certificate_files() {
    let text = "[sip]\ntls = [\"0.0.0.0:5061\"]\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("tls_files"), "{msg}");
}

#[test]
fn bad_database_url_is_refused() {
    let text = "[database]\nurl = \"mysql://x\"\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("h.toml:2:7:"), "{msg}");
}

#[test]
fn columns_count_characters_not_bytes() {
    let text = "# 中文注释\n[http]\nlisten = \"x\" # 监听\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("h.toml:3:10:"), "{msg}");
}

const TRUNK: &str = r#"
[[trunk]]
name = "carrier-a"
peer = "127.0.0.1:5070"
inbound_sources = ["127.0.0.1"]
channels = 221
priority = 1
caller_id = "12345"

[[trunk.did]]
number = "12345"
route = "group:1001,1002"

[[trunk.did]]
number = "12333"
route = "extension:1003"

[[trunk]]
name = "carrier-b"
peer = "127.0.0.2:5060"
channels = 30
priority = 2

[agents]
realm = "hotline.local"
[[agents.extension]]
number = "1001"
password = "secret"

[[dial]]
prefix = "0"
trunks = ["carrier-a", "carrier-b"]
strip = 1

[[dial]]
prefix = ""
"#;

#[test]
fn profiles_parse_trunks_dids_agents_and_dial_plan() {
    let p = Profiles::parse_all([("sample.toml", TRUNK)]).expect("valid");
    assert_eq!(p.trunks.len(), 2);
    assert_eq!(p.trunks[0].name, "carrier-a");
    assert_eq!(p.trunks[0].channels, 221);
    assert_eq!(
        p.dids["12345"].target,
        RouteTarget::Group(vec!["1001".into(), "1002".into()])
    );
    assert_eq!(
        p.dids["12333"].target,
        RouteTarget::Extension("1003".into())
    );
    assert_eq!(
        p.trunk_for_source("127.0.0.1".parse().unwrap())
            .unwrap()
            .name,
        "carrier-a"
    );
    assert!(p.trunk_for_source("10.9.9.9".parse().unwrap()).is_none());
    assert_eq!(p.dial_rule("013800138000").unwrap().strip, 1);
    assert_eq!(p.dial_rule("110").unwrap().prefix, "");
    assert_eq!(p.agents.as_ref().unwrap().extension[0].number, "1001");
}

#[test]
fn duplicate_did_across_files_is_refused() {
    let other = "[[trunk]]\nname = \"c\"\npeer = \"127.0.0.3:5060\"\nchannels = 1\n[[trunk.did]]\nnumber = \"12345\"\nroute = \"extension:1\"\n";
    let msg = Profiles::parse_all([("a.toml", TRUNK), ("b.toml", other)])
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("b.toml:6:10:"), "{msg}");
    assert!(msg.contains("DID 12345 is routed twice"), "{msg}");
}

#[test]
fn duplicate_trunk_names_point_at_both() {
    let text = "[[trunk]]\nname = \"x\"\npeer = \"127.0.0.1:1\"\nchannels = 1\n[[trunk]]\nname = \"x\"\npeer = \"127.0.0.1:2\"\nchannels = 1\n";
    let msg = Profiles::parse_all([("t.toml", text)])
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("t.toml:6:8:"), "{msg}");
    assert!(msg.contains("already defined at t.toml:2:8"), "{msg}");
}

#[test]
fn bad_route_and_codec_and_dial_trunk_are_refused() {
    let bad_route = "[[trunk]]\nname = \"x\"\npeer = \"127.0.0.1:1\"\nchannels = 1\n[[trunk.did]]\nnumber = \"1\"\nroute = \"agent:7\"\n";
    let msg = Profiles::parse_all([("r.toml", bad_route)])
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("r.toml:7:9:") && msg.contains("agent:7"),
        "{msg}"
    );

    let bad_codec = "[[trunk]]\nname = \"x\"\npeer = \"127.0.0.1:1\"\nchannels = 1\ncodecs = [\"PCMU\", \"G729\"]\n";
    let msg = Profiles::parse_all([("c.toml", bad_codec)])
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("c.toml:5:19:") && msg.contains("G729"),
        "{msg}"
    );

    let bad_dial = "[[dial]]\nprefix = \"9\"\ntrunks = [\"nope\"]\n";
    let msg = Profiles::parse_all([("d.toml", bad_dial)])
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with("d.toml:3:11:") && msg.contains("no trunk named `nope`"),
        "{msg}"
    );
}

#[test]
fn zero_channels_is_refused() {
    let text = "[[trunk]]\nname = \"x\"\npeer = \"127.0.0.1:1\"\nchannels = 0\n";
    let msg = Profiles::parse_all([("z.toml", text)])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("channels must be at least 1"), "{msg}");
}

#[test]
fn shipped_sample_profiles_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-profiles");
    let p = Profiles::load_dir(&dir).expect("shipped profiles are valid");
    let sample = p.trunk("carrier-sample").expect("sample carrier trunk");
    assert_eq!(sample.channels, 221);
    assert!(p.dids.contains_key("12345"));
    assert!(p.agents.is_some());
}

#[test]
fn session_timers_default_to_1800_seconds_and_bad_values_name_their_place() {
    let cfg = HotlineConfig::parse(DEFAULT_HOTLINE_TOML, "default").expect("default parses");
    let st = cfg.sip.session_timer.engine_config();
    assert_eq!(
        (st.enabled, st.session_expires, st.min_se),
        (true, 1800, 90)
    );
    // Without the table at all, the same.
    let bare = HotlineConfig::parse("", "h.toml").expect("empty parses");
    assert_eq!(bare.sip.session_timer.engine_config(), st);

    let text = "[sip.session_timer]\nsession_expires_secs = 600\nmin_se_secs = 30\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("h.toml:3:15:"), "{msg}");
    assert!(msg.contains("at least 90"), "{msg}");

    let text = "[sip.session_timer]\nmin_se_secs = 120\nsession_expires_secs = 100\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("h.toml:3:24:"), "{msg}");
    assert!(msg.contains("below min_se_secs 120"), "{msg}");

    let text = "[sip.session_timer]\nsession_expires = 600\n";
    let msg = HotlineConfig::parse(text, "h.toml")
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("h.toml:2:1:"), "{msg}");
}

#[test]
fn rtp_workers_and_coalescing_are_settable_and_default_to_one_and_off() {
    let cfg = HotlineConfig::parse(DEFAULT_HOTLINE_TOML, "default").expect("default parses");
    assert_eq!((cfg.rtp.workers, cfg.rtp.coalesce_us), (1, 0));
    let cfg =
        HotlineConfig::parse("[rtp]\nworkers = 2\ncoalesce_us = 1000\n", "h.toml").expect("parses");
    assert_eq!((cfg.rtp.workers, cfg.rtp.coalesce_us), (2, 1000));
    let err = HotlineConfig::parse("[rtp]\nworkers = \"two\"\n", "h.toml").unwrap_err();
    assert!(err.to_string().contains("h.toml:2:"), "{err}");
}

#[test]
fn rtp_io_defaults_to_auto_and_names_a_bad_value() {
    use super::RtpIo;
    let cfg = HotlineConfig::parse(DEFAULT_HOTLINE_TOML, "default").expect("default parses");
    assert_eq!(cfg.rtp.io, RtpIo::Auto);
    for (v, io) in [
        ("auto", RtpIo::Auto),
        ("uring", RtpIo::Uring),
        ("epoll", RtpIo::Epoll),
    ] {
        let cfg =
            HotlineConfig::parse(&format!("[rtp]\nio = \"{v}\"\n"), "h.toml").expect("parses");
        assert_eq!(cfg.rtp.io, io);
    }
    let err = HotlineConfig::parse("[rtp]\nio = \"poll\"\n", "h.toml").unwrap_err();
    assert!(err.to_string().contains("h.toml:2:"), "{err}");
}
