//! The io_uring I/O of a relay worker: a multishot `recvmsg` armed on every socket draws datagrams into a
//! ring of provided buffers, and forwarded datagrams go out as `sendmsg` entries straight from those
//! buffers, all submitted with one `io_uring_enter` per loop round. A round of N packets costs about one
//! system call instead of about 2N (recvmmsg + sendmmsg per socket, each socket holding one packet per 20 ms).
//!
//! All `unsafe` of this backend lives here (as [`super::sys`] holds the epoll backend's). The buffers, the
//! send headers and the completion copy are allocated once per worker; the packet path never allocates.
//! The ring is single-issuer with deferred task work, so it is created, used and dropped on the worker's
//! own thread.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use io_uring::types::{BufRingEntry, CancelBuilder, Fd, RecvMsgOut, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

use super::sys::{from_storage, to_storage, BUF_LEN};

/// Provided buffers per worker (a power of two, at most 32768). A buffer is held from the datagram's
/// arrival until its forwarded copy is sent (usually within the same round); when all are held, the
/// sockets' multishot receives stop with ENOBUFS and are re-armed once buffers come back (the datagrams
/// wait in the socket meanwhile).
const NBUF: u16 = 4096;
/// The buffer group id of the ring.
const BGID: u16 = 0;
/// Submission queue entries; a round that queues more submits early.
const SQ_ENTRIES: u32 = 1024;
/// Completion queue entries: the most completions read per round.
const CQ_ENTRIES: u32 = 16384;
/// Room for the source address in each buffer (`io_uring_recvmsg_out` + the name field + payload).
const NAME_LEN: usize = mem::size_of::<libc::sockaddr_in6>();
/// `struct io_uring_recvmsg_out`: namelen, controllen, payloadlen, flags (four u32).
const HDR_LEN: usize = 16;
/// Each buffer: header, name, then up to [`BUF_LEN`] bytes of datagram (larger ones are truncated and
/// dropped, as on the epoll path). Rounded to a cache line.
const BUF_SIZE: usize = (HDR_LEN + NAME_LEN + BUF_LEN).div_ceil(64) * 64;

/// user_data of the wake-up eventfd's multishot poll.
pub const WAKE_UD: u64 = u64::MAX;
/// user_data of completions nobody reads (cancellations).
const IGNORE_UD: u64 = u64::MAX - 1;
/// Marks a send's user_data (the buffer id is in the low 16 bits).
const SEND_UD: u64 = 1 << 63;

/// One completion, copied out of the ring so the round can act on it in any order.
#[derive(Debug, Clone, Copy)]
pub struct Cqe {
    pub user_data: u64,
    pub result: i32,
    pub flags: u32,
}

/// What a completion means to the worker.
pub enum Completion<'a> {
    /// The wake-up eventfd is readable (re-armed here when needed).
    Wake,
    /// A datagram arrived on the socket registered with `token` (its buffer is the caller's until
    /// passed to [`Uring::send`] or [`Uring::recycle`]). `rearm`: the receive stopped and must be armed
    /// again with [`Uring::watch`] if the socket is still wanted.
    Packet {
        token: u64,
        buf: u16,
        data: Option<(&'a mut [u8], SocketAddr)>,
        rearm: bool,
    },
    /// The receive on `token`'s socket ended without a datagram (ENOBUFS, an ICMP error, cancellation).
    Stopped {
        token: u64,
        cancelled: bool,
    },
    /// A forwarded datagram was sent (or refused: `ok` false) from `token`'s socket.
    Sent {
        token: u64,
        ok: bool,
    },
    None,
}

struct SendSlot {
    hdr: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
    token: u64,
}

/// The provided-buffer ring: `NBUF` entries the kernel picks receive buffers from, and the slab they
/// point into.
struct BufRing {
    entries: *mut BufRingEntry,
    entries_len: usize,
    slab: Vec<u8>,
    tail: u16,
}

impl BufRing {
    fn new() -> io::Result<Self> {
        let entries_len = NBUF as usize * mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping; page-aligned as the kernel requires of a buffer ring.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                entries_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_ANONYMOUS | libc::MAP_PRIVATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(BufRing {
            entries: p as *mut BufRingEntry,
            entries_len,
            slab: vec![0u8; NBUF as usize * BUF_SIZE],
            tail: 0,
        })
    }

    fn tail_ptr(&self) -> &AtomicU16 {
        // SAFETY: the tail is the `resv` field of entry 0, inside our mapping, 2-byte aligned; the kernel
        // only reads it.
        unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.entries) as *mut u16) }
    }

    /// Hands buffer `bid` back to the kernel.
    fn recycle(&mut self, bid: u16) {
        let i = (self.tail & (NBUF - 1)) as usize;
        let addr = self.slab[bid as usize * BUF_SIZE..].as_mut_ptr() as u64;
        // SAFETY: i < NBUF, inside the mapping. Writing addr/len/bid leaves `resv` of entry 0 (the tail)
        // alone.
        let e = unsafe { &mut *self.entries.add(i) };
        e.set_addr(addr);
        e.set_len(BUF_SIZE as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        self.tail_ptr().store(self.tail, Ordering::Release);
    }

    fn buf(&mut self, bid: u16) -> &mut [u8] {
        let start = bid as usize * BUF_SIZE;
        &mut self.slab[start..start + BUF_SIZE]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`; the ring (and with it the registration) is gone first, as
        // `Uring` declares `ring` before `bufs`.
        unsafe { libc::munmap(self.entries as *mut libc::c_void, self.entries_len) };
    }
}

/// A worker's io_uring with its buffers.
pub struct Uring {
    ring: IoUring,
    bufs: BufRing,
    /// The template `msghdr` of every multishot receive (only its name and control lengths matter).
    recv_hdr: Box<libc::msghdr>,
    /// One send header per buffer: a buffer is forwarded at most once, so its id names the send.
    sends: Box<[SendSlot]>,
    cqes: Vec<Cqe>,
}

impl Uring {
    /// Sets up the ring and its buffers, and arms a multishot poll on the wake-up eventfd `wake_fd`.
    /// Fails where io_uring is missing or forbidden (old kernel, seccomp), or lacks what this needs
    /// (multishot recvmsg and buffer rings: Linux 6.0).
    pub fn new(wake_fd: RawFd) -> io::Result<Self> {
        let ring = IoUring::builder()
            .setup_cqsize(CQ_ENTRIES)
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all()
            .build(SQ_ENTRIES)
            .or_else(|_| {
                // Before 6.1 (no deferred task work): the plain ring works too.
                IoUring::builder()
                    .setup_cqsize(CQ_ENTRIES)
                    .build(SQ_ENTRIES)
            })?;
        if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks EXT_ARG or NODROP (kernel too old)",
            ));
        }
        let mut probe = io_uring::register::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for op in [
            opcode::RecvMsg::CODE,
            opcode::SendMsg::CODE,
            opcode::PollAdd::CODE,
        ] {
            if !probe.is_supported(op) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "io_uring lacks recvmsg, sendmsg or poll",
                ));
            }
        }
        let mut bufs = BufRing::new()?;
        // SAFETY: the entries mapping lives as long as the ring (dropped after it).
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(bufs.entries as u64, NBUF, BGID, 0)?
        };
        for bid in 0..NBUF {
            bufs.recycle(bid);
        }
        // SAFETY: all-zero is valid for msghdr and sockaddr_storage (null pointers, zero lengths).
        let mut recv_hdr: Box<libc::msghdr> = Box::new(unsafe { mem::zeroed() });
        recv_hdr.msg_namelen = NAME_LEN as libc::socklen_t;
        let sends = (0..NBUF)
            .map(|_| SendSlot {
                // SAFETY: as above.
                hdr: unsafe { mem::zeroed() },
                iov: libc::iovec {
                    iov_base: ptr::null_mut(),
                    iov_len: 0,
                },
                // SAFETY: as above.
                name: unsafe { mem::zeroed() },
                token: 0,
            })
            .collect();
        let mut u = Uring {
            ring,
            bufs,
            recv_hdr,
            sends,
            cqes: Vec::with_capacity(CQ_ENTRIES as usize),
        };
        u.arm_wake(wake_fd)?;
        // Multishot receive is the part added last (6.0): a receive on a socket that is never read tells
        // whether the kernel takes it.
        let probe_sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
        u.watch(std::os::fd::AsRawFd::as_raw_fd(&probe_sock), IGNORE_UD - 1)?;
        u.ring.submit()?;
        u.unwatch(IGNORE_UD - 1);
        // Bounded: a kernel that neither completes nor cancels the probe must not hang the start.
        let ts = Timespec::from(Duration::from_secs(1));
        match u
            .ring
            .submitter()
            .submit_with_args(1, &SubmitArgs::new().timespec(&ts))
        {
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "io_uring multishot recvmsg probe did not complete",
                ))
            }
            r => r.map(drop)?,
        }
        let mut err = None;
        for c in u.ring.completion() {
            if c.user_data() == IGNORE_UD - 1 && c.result() < 0 && c.result() != -libc::ECANCELED {
                err = Some(io::Error::from_raw_os_error(-c.result()));
            }
        }
        if let Some(e) = err {
            return Err(e);
        }
        Ok(u)
    }

    fn push(&mut self, e: &squeue::Entry) -> io::Result<()> {
        // SAFETY (of both pushes): every pointer an entry carries (receive template, send header, buffers)
        // is owned by self and outlives the operation: headers and buffers are never moved or freed while
        // the ring lives, and a send slot is reused only after its buffer came back.
        if unsafe { self.ring.submission().push(e) }.is_err() {
            self.ring.submit()?;
            unsafe { self.ring.submission().push(e) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        Ok(())
    }

    fn arm_wake(&mut self, fd: RawFd) -> io::Result<()> {
        let e = opcode::PollAdd::new(Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(WAKE_UD);
        self.push(&e)
    }

    /// Arms a multishot receive on `fd`; its completions carry `token` (below bit 63, not the reserved
    /// values).
    pub fn watch(&mut self, fd: RawFd, token: u64) -> io::Result<()> {
        let e = opcode::RecvMsgMulti::new(Fd(fd), &*self.recv_hdr as *const libc::msghdr, BGID)
            .build()
            .user_data(token);
        self.push(&e)
    }

    /// Cancels the receive armed with `token` before the caller closes its socket (see
    /// [`Self::unwatch_all`]).
    pub fn unwatch(&mut self, token: u64) {
        self.unwatch_all(&[token]);
    }

    /// Cancels the receives armed with `tokens` before the caller closes their sockets
    /// (synchronously, so a closed descriptor's number reused by a new socket cannot meet an old
    /// receive). A bridge's four sockets go together: one submit and one enter for all of them.
    pub fn unwatch_all(&mut self, tokens: &[u64]) {
        // Entries still queued in the SQ are not seen by the cancellation: submit them first.
        let _ = self.ring.submit();
        // By user_data, not by descriptor: the kernel finds it in its hash of armed receives,
        // where a cancel by descriptor walks every receive of every call (at 1,000 calls set up a
        // second that walk took a fifth of the worker).
        for &token in tokens {
            let _ = self
                .ring
                .submitter()
                .register_sync_cancel(None, CancelBuilder::user_data(token).all());
        }
        // The cancelled requests let go of the socket only when their completion runs, which deferred
        // task work leaves to the next enter with GETEVENTS: run it now, so the caller's close really
        // frees the port (their completions are read next round).
        // SAFETY: an enter submitting nothing and waiting for nothing, without extra arguments.
        let _ = unsafe {
            self.ring.submitter().enter::<libc::sigset_t>(
                0,
                0,
                io_uring::EnterFlags::GETEVENTS.bits(),
                None,
            )
        };
    }

    /// Queues buffer `bid`'s `len` datagram bytes (from where [`Completion::Packet`] put them) to be sent
    /// from `fd` to `to`; the buffer comes back with the send's completion. `token` names the socket in
    /// [`Completion::Sent`].
    pub fn send(
        &mut self,
        fd: RawFd,
        bid: u16,
        offset: usize,
        len: usize,
        to: SocketAddr,
        token: u64,
    ) {
        let base = self.bufs.buf(bid).as_mut_ptr();
        let s = &mut self.sends[bid as usize];
        let namelen = to_storage(to, &mut s.name);
        // SAFETY: offset + len lies inside the buffer (they come from the parsed completion).
        s.iov.iov_base = unsafe { base.add(offset) } as *mut libc::c_void;
        s.iov.iov_len = len;
        s.hdr.msg_name = &mut s.name as *mut _ as *mut libc::c_void;
        s.hdr.msg_namelen = namelen;
        s.hdr.msg_iov = &mut s.iov;
        s.hdr.msg_iovlen = 1;
        s.token = token;
        let e = opcode::SendMsg::new(Fd(fd), &s.hdr as *const libc::msghdr)
            .flags(libc::MSG_DONTWAIT as u32)
            .build()
            .user_data(SEND_UD | bid as u64);
        if self.push(&e).is_err() {
            self.bufs.recycle(bid);
        }
    }

    /// Returns buffer `bid` to the kernel (a datagram not forwarded).
    pub fn recycle(&mut self, bid: u16) {
        self.bufs.recycle(bid);
    }

    /// Submits what is queued and waits up to `timeout` for a completion, then copies every completion
    /// out; returns how many ([`Self::completion`] reads them).
    pub fn submit_and_wait(&mut self, timeout: Duration) -> io::Result<usize> {
        let ts = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&ts);
        match self.ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY) | Some(libc::EAGAIN)
                ) => {}
            Err(e) => return Err(e),
        }
        self.cqes.clear();
        let mut cq = self.ring.completion();
        cq.sync();
        for c in &mut cq {
            self.cqes.push(Cqe {
                user_data: c.user_data(),
                result: c.result(),
                flags: c.flags(),
            });
            if self.cqes.len() == self.cqes.capacity() {
                break;
            }
        }
        Ok(self.cqes.len())
    }

    /// Whether any completion of this round is the wake-up (so commands can go before packets).
    pub fn woken(&self) -> bool {
        self.cqes.iter().any(|c| c.user_data == WAKE_UD)
    }

    /// Completion `i` of this round, decoded. For a datagram, `offset_len` of the payload inside the
    /// buffer is given with the bytes so the caller can forward them with [`Self::send`].
    pub fn completion(&mut self, i: usize, wake_fd: RawFd) -> (Completion<'_>, usize) {
        let Some(&c) = self.cqes.get(i) else {
            return (Completion::None, 0);
        };
        let more = cqueue::more(c.flags);
        match c.user_data {
            WAKE_UD => {
                if !more {
                    let _ = self.arm_wake(wake_fd);
                }
                (Completion::Wake, 0)
            }
            IGNORE_UD => (Completion::None, 0),
            ud if ud & SEND_UD != 0 => {
                let bid = (ud & 0xffff) as u16;
                self.bufs.recycle(bid);
                let token = self.sends.get(bid as usize).map_or(0, |s| s.token);
                (
                    Completion::Sent {
                        token,
                        ok: c.result >= 0,
                    },
                    0,
                )
            }
            token => {
                let Some(bid) = cqueue::buffer_select(c.flags) else {
                    return (
                        Completion::Stopped {
                            token,
                            cancelled: c.result == -libc::ECANCELED,
                        },
                        0,
                    );
                };
                let hdr = &*self.recv_hdr;
                let buf = self.bufs.buf(bid);
                let mut offset = 0;
                let data = if c.result < 0 {
                    None
                } else {
                    let out =
                        RecvMsgOut::parse(&buf[..(c.result as usize).min(BUF_SIZE)], hdr).ok();
                    match out {
                        Some(o) if !o.is_payload_truncated() && !o.is_name_data_truncated() => {
                            // SAFETY: all-zero is a valid sockaddr_storage; the name bytes fit in it.
                            let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
                            let name = o.name_data();
                            // SAFETY: name.len() <= NAME_LEN < size_of::<sockaddr_storage>().
                            unsafe {
                                ptr::copy_nonoverlapping(
                                    name.as_ptr(),
                                    &mut ss as *mut _ as *mut u8,
                                    name.len(),
                                )
                            };
                            offset = HDR_LEN + NAME_LEN;
                            let len = o.payload_data().len();
                            from_storage(&ss).map(|src| (&mut buf[offset..offset + len], src))
                        }
                        _ => None,
                    }
                };
                (
                    Completion::Packet {
                        token,
                        buf: bid,
                        data,
                        rearm: !more,
                    },
                    offset,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    #[test]
    fn forwards_between_sockets_and_rearms() {
        let wake = super::super::sys::EventFd::new().unwrap();
        let mut u = match Uring::new(wake.fd()) {
            Ok(u) => u,
            Err(e) => {
                eprintln!("io_uring unavailable here ({e}); skipped");
                return;
            }
        };
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        u.watch(a.as_raw_fd(), 7).unwrap();
        for i in 0..3u8 {
            c.send_to(&[i; 10], a.local_addr().unwrap()).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let (mut got, mut sent) = (0, 0);
        while sent < 3 && Instant::now() < deadline {
            let n = u.submit_and_wait(Duration::from_millis(50)).unwrap();
            for i in 0..n {
                match u.completion(i, wake.fd()) {
                    (
                        Completion::Packet {
                            token, buf, data, ..
                        },
                        off,
                    ) => {
                        assert_eq!(token, 7);
                        let (bytes, src) = data.unwrap();
                        assert_eq!(src, c.local_addr().unwrap());
                        let len = bytes.len();
                        got += 1;
                        u.send(b.as_raw_fd(), buf, off, len, c.local_addr().unwrap(), 8);
                    }
                    (Completion::Sent { token, ok }, _) => {
                        assert_eq!((token, ok), (8, true));
                        sent += 1;
                    }
                    _ => {}
                }
            }
        }
        assert_eq!((got, sent), (3, 3));
        let mut buf = [0u8; 64];
        for i in 0..3u8 {
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(from, b.local_addr().unwrap());
            assert_eq!(&buf[..n], &[i; 10]);
        }
        // Cancelled: nothing more arrives for token 7.
        u.unwatch(7);
        c.send_to(&[9; 10], a.local_addr().unwrap()).unwrap();
        let n = u.submit_and_wait(Duration::from_millis(50)).unwrap();
        for i in 0..n {
            if let (Completion::Packet { data, .. }, _) = u.completion(i, wake.fd()) {
                assert!(data.is_none(), "a packet after cancellation");
            }
        }
    }
}
