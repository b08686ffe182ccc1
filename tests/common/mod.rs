//! Shared by the integration tests: a real `hotline` process on ephemeral loopback ports with a
//! configuration of the test's own, and a runner for sipp scenarios.
#![allow(dead_code)]

pub mod audio;
pub mod cti;
pub mod phone;
pub mod ua;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// Profiles for end-to-end call tests: a carrier trunk whose peer is `carrier` (DID 12315 to the
/// `consumer` queue; `0` + number dialled out through it, presenting `caller_id` when given) and
/// agent extension 1001 with password `s3cret`.
pub fn carrier_and_agent_1001(
    carrier: SocketAddr,
    caller_id: Option<&str>,
) -> Vec<(String, String)> {
    let caller_id = caller_id
        .map(|c| format!("caller_id = \"{c}\"\n"))
        .unwrap_or_default();
    vec![(
        "test.toml".into(),
        format!(
            "[[trunk]]\nname = \"carrier\"\npeer = \"{carrier}\"\ninbound_sources = [\"127.0.0.1\"]\nchannels = 4\n\
             {caller_id}\
             [trunk.keepalive]\ninterval_secs = 0\n[[trunk.did]]\nnumber = \"12315\"\nroute = \"queue:consumer\"\n\n\
             [[dial]]\nprefix = \"0\"\ntrunks = [\"carrier\"]\n\n\
             [agents]\nrealm = \"hotline.local\"\n[[agents.extension]]\nnumber = \"1001\"\npassword = \"s3cret\"\n"
        ),
    )]
}

/// A UDP+TCP port pair free on 127.0.0.1 (the kernel picks; we check the TCP side too).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair on 127.0.0.1");
}

/// A range of RTP ports no other test of this process uses (tests run in parallel threads):
/// consecutive ranges from a cursor, in a band chosen by the process id so that two test
/// binaries running at once are unlikely to meet.
pub fn rtp_range(size: u16) -> (u16, u16) {
    static CURSOR: AtomicU16 = AtomicU16::new(0);
    let size = size + size % 2;
    let offset = CURSOR.fetch_add(size, Ordering::Relaxed);
    let base = 30_000 + (std::process::id() % 8) as u16 * 3_000 + offset % 3_000;
    (base, base + size - 1)
}

/// A running hotline, killed when dropped. Its stderr goes to `dir/hotline.log`.
pub struct Hotline {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub sip: SocketAddr,
    pub http: SocketAddr,
}

#[derive(Default)]
pub struct HotlineSetup {
    /// Extra `sip-profiles/*.toml` files: (file name, contents). `{sip_port}` is replaced.
    pub profiles: Vec<(String, String)>,
    /// Extra lines appended to hotline.toml.
    pub extra_toml: String,
    pub database_url: Option<String>,
    /// An `acd.toml` (skill groups and agents); without it the node runs no ACD.
    pub acd: Option<String>,
    /// The RTP port range; a small private range of its own when `None`.
    pub rtp_ports: Option<(u16, u16)>,
    /// The IVR flow folder; the shipped `ivr-flows/` when `None`.
    pub ivr_flows: Option<PathBuf>,
    /// `[rtp] io` ("auto", "uring", "epoll"); the default ("auto") when `None`.
    pub rtp_io: Option<&'static str>,
}

impl Hotline {
    pub fn start(setup: HotlineSetup) -> Hotline {
        let dir = tempfile::tempdir().expect("temp dir");
        let sip_port = free_port();
        let http_port = free_port();
        let (rtp_min, rtp_max) = setup.rtp_ports.unwrap_or_else(|| rtp_range(200));
        let db = setup
            .database_url
            .unwrap_or_else(|| format!("sqlite:{}", dir.path().join("hotline.db").display()));
        let toml = format!(
            "[sip]\nudp = [\"127.0.0.1:{sip_port}\"]\ntcp = [\"127.0.0.1:{sip_port}\"]\n\n[sip.timers]\nt1_ms = 100\nt2_ms = 400\nt4_ms = 500\n\n\
             [rtp]\naddress = \"127.0.0.1\"\nport_min = {rtp_min}\nport_max = {rtp_max}\nio = \"{rtp_io}\"\n\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n\n\
             [database]\nurl = \"{db}\"\n\n[paths]\nsip_profiles = \"sip-profiles\"\nrecordings = \"recordings\"\nivr_flows = \"{flows}\"\n\n[shutdown]\ndrain_secs = 2\n{}\n",
            setup.extra_toml,
            rtp_io = setup.rtp_io.unwrap_or("auto"),
            flows = setup.ivr_flows.as_deref().map_or_else(
                || concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows").to_string(),
                |p| p.display().to_string()
            ),
        );
        if let Some(acd) = &setup.acd {
            std::fs::write(dir.path().join("acd.toml"), acd).unwrap();
        }
        std::fs::write(dir.path().join("hotline.toml"), toml).unwrap();
        std::fs::create_dir_all(dir.path().join("sip-profiles")).unwrap();
        for (name, text) in &setup.profiles {
            std::fs::write(
                dir.path().join("sip-profiles").join(name),
                text.replace("{sip_port}", &sip_port.to_string()),
            )
            .unwrap();
        }
        let log = std::fs::File::create(dir.path().join("hotline.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("--config")
            .arg(dir.path().join("hotline.toml"))
            .arg("serve")
            .current_dir(dir.path())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hotline");
        let h = Hotline {
            child,
            dir,
            sip: format!("127.0.0.1:{sip_port}").parse().unwrap(),
            http: format!("127.0.0.1:{http_port}").parse().unwrap(),
        };
        h.wait_ready();
        h
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(body) = http_get(self.http, "/healthz") {
                if body.contains("ok") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("hotline did not become ready; log:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("hotline.log")).unwrap_or_default()
    }

    /// The value of an unlabelled metric, or of a labelled line given in full (`name{l="v"}`).
    pub fn metric(&self, name: &str) -> Option<f64> {
        let text = http_get(self.http, "/metrics").ok()?;
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Hotline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- hotline log ----\n{}", self.log());
        }
    }
}

/// A plain HTTP/1.0 GET on loopback, for health and metrics (no client crate needed).
pub fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default())
}

/// Whether sipp can run here. Under CI (`CI` set) its absence is a failure, not a skip.
pub fn sipp_available(test: &str) -> bool {
    let ok = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("{test}: sipp is not installed (apt-get install sip-tester)");
        }
        eprintln!("SKIPPED {test}: sipp is not installed (apt-get install sip-tester)");
    }
    ok
}

/// The folder of the sipp scenarios.
pub fn scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sipp")
}

/// A PCMU WAV of 5 seconds of a 440 Hz tone, made with sox on first use.
pub fn tone_wav(dir: &Path) -> PathBuf {
    tone_wav_hz(dir, 440)
}

/// A PCMU WAV of 5 seconds of a `hz` tone (sipp's rtp_stream plays it), made with sox on first use.
pub fn tone_wav_hz(dir: &Path, hz: u32) -> PathBuf {
    let name = if hz == 440 {
        "tone.wav".to_string()
    } else {
        format!("tone-{hz}.wav")
    };
    let p = dir.join(name);
    if !p.exists() {
        let st = Command::new("sox")
            .args(["-n", "-r", "8000", "-c", "1", "-e", "u-law", "-b", "8"])
            .arg(&p)
            .args(["synth", "5", "sine", &hz.to_string()])
            .status()
            .expect("sox (apt-get install sox)");
        assert!(st.success(), "sox failed");
    }
    p
}

/// One sipp process running a scenario under `timeout`, in a process group of its own: bounded by
/// sipp's own -timeout, by `timeout`, and by killing the whole group on drop (killing `timeout`
/// alone would leave sipp running, holding its ports).
pub struct Sipp {
    pub child: Child,
    pub name: String,
    pub dir: PathBuf,
}

pub struct SippRun {
    pub scenario: &'static str,
    pub local_port: u16,
    pub media_port: u16,
    pub remote: Option<SocketAddr>,
    pub calls: u32,
    pub rate: u32,
    pub hold_ms: u32,
    pub service: String,
    /// `field0;field1;...` injected as an injection file with one line.
    pub fields: Option<String>,
    pub wav: Option<PathBuf>,
    pub timeout_s: u32,
    pub extra: Vec<String>,
    /// Log every SIP message to `messages.log` (shown when a run fails); off for load runs, where
    /// the log costs sipp time and disk.
    pub trace_msg: bool,
    /// `(@NAME@, value)` pairs written into the scenario text (paths, pauses).
    pub subst: Vec<(String, String)>,
}

impl SippRun {
    pub fn new(scenario: &'static str, local_port: u16) -> SippRun {
        SippRun {
            scenario,
            local_port,
            media_port: rtp_range(100).0,
            remote: None,
            calls: 1,
            rate: 10,
            hold_ms: 500,
            service: "12345".into(),
            fields: None,
            wav: None,
            timeout_s: 20,
            extra: Vec::new(),
            trace_msg: true,
            subst: Vec::new(),
        }
    }

    pub fn spawn(self, workdir: &Path) -> Sipp {
        let name = format!(
            "{}-{}",
            self.scenario.trim_end_matches(".xml"),
            self.local_port
        );
        let dir = workdir.join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = std::fs::read_to_string(scenarios().join(self.scenario)).expect("scenario");
        if let Some(wav) = &self.wav {
            text = text.replace("@WAV@", &wav.display().to_string());
        }
        for (k, v) in &self.subst {
            text = text.replace(k.as_str(), v);
        }
        // sipp does not expand [fieldN] inside [authentication ...]; write them in.
        if let Some(f) = self.fields.as_deref() {
            let f: Vec<&str> = f.split(';').collect();
            text = text
                .replace("@USER@", f.get(1).copied().unwrap_or(""))
                .replace("@PASS@", f.get(2).copied().unwrap_or(""));
        }
        let scen = dir.join(self.scenario);
        std::fs::write(&scen, text).unwrap();
        let mut cmd = Command::new("timeout");
        cmd.arg(format!("{}", self.timeout_s + 5)).arg("sipp");
        if let Some(r) = self.remote {
            cmd.arg(r.to_string());
        }
        cmd.arg("-sf").arg(&scen);
        cmd.args([
            "-i",
            "127.0.0.1",
            "-p",
            &self.local_port.to_string(),
            "-mi",
            "127.0.0.1",
            "-mp",
            &self.media_port.to_string(),
        ]);
        cmd.args([
            "-m",
            &self.calls.to_string(),
            "-r",
            &self.rate.to_string(),
            "-d",
            &self.hold_ms.to_string(),
        ]);
        cmd.args([
            "-s",
            &self.service,
            "-nostdin",
            "-timeout",
            &format!("{}s", self.timeout_s),
            "-timeout_error",
        ]);
        cmd.args(["-trace_err", "-error_file"])
            .arg(dir.join("errors.log"));
        if self.trace_msg {
            cmd.args(["-trace_msg", "-message_file"])
                .arg(dir.join("messages.log"));
        }
        cmd.args(["-recv_timeout", &format!("{}", self.timeout_s * 1000)]);
        if let Some(f) = &self.fields {
            let inj = dir.join("fields.csv");
            std::fs::write(&inj, format!("SEQUENTIAL\n{f}\n")).unwrap();
            cmd.arg("-inf").arg(inj);
        }
        cmd.args(&self.extra);
        // stderr to a file, not a pipe nobody reads during the run: a sipp warning per call would
        // fill a pipe and stall sipp.
        let stderr = std::fs::File::create(dir.join("stderr.log")).expect("sipp stderr file");
        cmd.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        let mut child = cmd.spawn().expect("spawn sipp");
        // A sipp that answers calls must be listening before anything calls it: on a loaded
        // machine its start can take longer than any fixed sleep. Its port is taken once it is.
        if self.remote.is_none() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while UdpSocket::bind(("127.0.0.1", self.local_port)).is_ok()
                && Instant::now() < deadline
                && child.try_wait().ok().flatten().is_none()
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Sipp { child, name, dir }
    }
}

impl Sipp {
    /// Waits for sipp to end; on failure returns its error and message logs for the assertion.
    pub fn wait(mut self) -> Result<(), String> {
        let status: ExitStatus = self.child.wait().expect("wait sipp");
        if status.success() {
            return Ok(());
        }
        let err = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        let errors = std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default();
        let msgs = std::fs::read_to_string(self.dir.join("messages.log")).unwrap_or_default();
        let tail: String = msgs
            .chars()
            .rev()
            .take(6000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Err(format!("sipp {} exited with {status}\nstderr: {err}\nerrors:\n{errors}\nlast messages:\n{tail}", self.name))
    }
}

impl Sipp {
    /// The pid of sipp itself (the child of `timeout`), once `timeout` has started it.
    pub fn sipp_pid(&self) -> Option<u32> {
        let id = self.child.id();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let kids = std::fs::read_to_string(format!("/proc/{id}/task/{id}/children")).ok()?;
            if let Some(p) = kids.split_whitespace().next() {
                return p.parse().ok();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        // The group (`timeout` and sipp) was made with the child as its leader; SIGKILL to the
        // group also reaches a sipp whose `timeout` already ended.
        // SAFETY: kill(2) takes no pointers; a negative pid names the process group.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of a process (`"self"` or a pid) in clock ticks, from /proc.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Resident memory of a process in MB, from /proc.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = s
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// The value at fraction `p` of an ascending slice (nearest rank), NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
