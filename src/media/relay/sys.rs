//! Thin safe wrappers over the Linux calls the relay engine needs: epoll, eventfd, recvmmsg/sendmmsg.
//!
//! All `unsafe` of the media relay lives here. Buffers and message headers are allocated once per worker
//! and reused, so the packet path never allocates.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// An epoll instance (level-triggered, read interest only).
pub struct Epoll(OwnedFd);

impl Epoll {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the returned fd is owned from here on.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: fd is a fresh, valid descriptor we own.
        Ok(Epoll(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })
            .map(|_| ())
    }

    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as above; the event argument is ignored for DEL but must be non-null on old kernels.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })
            .map(|_| ())
    }

    /// Waits for readiness; returns how many entries of `events` were filled (0 on timeout or EINTR).
    pub fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> io::Result<usize> {
        let max = events.len().min(i32::MAX as usize) as libc::c_int;
        // SAFETY: the kernel writes at most `max` entries into `events`.
        let r =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(r as usize)
    }
}

/// An eventfd used to wake a worker when a control command is queued.
pub struct EventFd(OwnedFd);

impl EventFd {
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall returning a new fd.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: fresh fd we own.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }
    pub fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
    pub fn notify(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64. A full counter (EAGAIN) still leaves it readable.
        unsafe {
            libc::write(
                self.0.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
    }
    pub fn drain(&self) {
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64; nonblocking.
        unsafe {
            libc::read(
                self.0.as_raw_fd(),
                &mut v as *mut u64 as *mut libc::c_void,
                8,
            )
        };
    }
}

/// Datagrams per recvmmsg/sendmmsg call.
pub const BATCH: usize = 32;
/// Largest datagram kept; bigger ones are truncated by the kernel and dropped.
pub const BUF_LEN: usize = 2048;

/// Reusable buffers and headers for one recvmmsg and one sendmmsg. Sent packets point into the receive
/// buffers, so forwarding copies nothing in userspace.
pub struct Batch {
    bufs: Vec<[u8; BUF_LEN]>,
    rx_names: Vec<libc::sockaddr_storage>,
    tx_names: Vec<libc::sockaddr_storage>,
    rx_iov: Vec<libc::iovec>,
    tx_iov: Vec<libc::iovec>,
    rx_hdr: Vec<libc::mmsghdr>,
    tx_hdr: Vec<libc::mmsghdr>,
    tx_len: usize,
}

fn zeroed_hdr() -> libc::mmsghdr {
    // SAFETY: mmsghdr is a plain C struct for which all-zero is valid (null pointers, zero lengths).
    unsafe { mem::zeroed() }
}

impl Batch {
    pub fn new() -> Self {
        // SAFETY: sockaddr_storage is plain data; zero is a valid value.
        let storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
        let iov = libc::iovec {
            iov_base: ptr::null_mut(),
            iov_len: 0,
        };
        let mut b = Batch {
            bufs: vec![[0u8; BUF_LEN]; BATCH],
            rx_names: vec![storage; BATCH],
            tx_names: vec![storage; BATCH],
            rx_iov: vec![iov; BATCH],
            tx_iov: vec![iov; BATCH],
            rx_hdr: vec![zeroed_hdr(); BATCH],
            tx_hdr: vec![zeroed_hdr(); BATCH],
            tx_len: 0,
        };
        // The vectors are never resized, so these heap pointers stay valid for the Batch's life.
        for i in 0..BATCH {
            b.rx_iov[i].iov_base = b.bufs[i].as_mut_ptr() as *mut libc::c_void;
            b.rx_iov[i].iov_len = BUF_LEN;
            b.rx_hdr[i].msg_hdr.msg_iov = &mut b.rx_iov[i];
            b.rx_hdr[i].msg_hdr.msg_iovlen = 1;
            b.rx_hdr[i].msg_hdr.msg_name = &mut b.rx_names[i] as *mut _ as *mut libc::c_void;
            b.tx_hdr[i].msg_hdr.msg_iov = &mut b.tx_iov[i];
            b.tx_hdr[i].msg_hdr.msg_iovlen = 1;
            b.tx_hdr[i].msg_hdr.msg_name = &mut b.tx_names[i] as *mut _ as *mut libc::c_void;
        }
        b
    }

    /// Receives up to [`BATCH`] datagrams without blocking; returns how many (0 when none are waiting).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for h in &mut self.rx_hdr {
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at live buffers/names owned by self, sized as declared.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.rx_hdr.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        Ok(r as usize)
    }

    /// Datagram `i` of the last [`Self::recv`]: its bytes and sender. None when truncated or of an unknown
    /// address family.
    pub fn packet(&mut self, i: usize) -> Option<(&mut [u8], SocketAddr)> {
        let h = self.rx_hdr.get(i)?;
        if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
            return None;
        }
        let len = (h.msg_len as usize).min(BUF_LEN);
        let src = from_storage(self.rx_names.get(i)?)?;
        Some((&mut self.bufs.get_mut(i)?[..len], src))
    }

    /// Queues receive buffer `i` (its first `len` bytes) to be sent to `to` by the next [`Self::flush`].
    pub fn queue_send(&mut self, i: usize, len: usize, to: SocketAddr) {
        let k = self.tx_len;
        if k >= BATCH || i >= BATCH {
            return;
        }
        let namelen = to_storage(to, &mut self.tx_names[k]);
        self.tx_iov[k].iov_base = self.bufs[i].as_mut_ptr() as *mut libc::c_void;
        self.tx_iov[k].iov_len = len.min(BUF_LEN);
        self.tx_hdr[k].msg_hdr.msg_namelen = namelen;
        self.tx_len += 1;
    }

    /// Sends everything queued from `fd`; returns (sent, dropped). A full socket buffer drops the rest, as
    /// UDP would.
    pub fn flush(&mut self, fd: RawFd) -> (usize, usize) {
        let total = self.tx_len;
        let mut sent = 0;
        let mut dropped = 0;
        // Bounded: each round sends at least one datagram or stops.
        while sent < total {
            // SAFETY: headers [sent, total) point at live buffers and names owned by self.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.tx_hdr[sent..].as_mut_ptr(),
                    (total - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r <= 0 {
                let e = io::Error::last_os_error();
                if r < 0 && e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // WouldBlock or a per-destination error (e.g. ICMP unreachable reported back): skip one.
                sent += 1;
                dropped += 1;
                continue;
            }
            sent += r as usize;
        }
        self.tx_len = 0;
        (sent - dropped, dropped)
    }
}

pub(super) fn from_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in; storage is large and aligned enough.
            let a = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above for sockaddr_in6.
            let a = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

pub(super) fn to_storage(addr: SocketAddr, ss: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let s = unsafe { &mut *(ss as *mut _ as *mut libc::sockaddr_in) };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = a.port().to_be();
            s.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            s.sin_zero = [0; 8];
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above for sockaddr_in6.
            let s = unsafe { &mut *(ss as *mut _ as *mut libc::sockaddr_in6) };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = a.port().to_be();
            s.sin6_flowinfo = a.flowinfo();
            s.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            s.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        // SAFETY: zero is valid for sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
        for a in ["127.0.0.1:5004", "[::1]:40000", "[fe80::1%2]:7"] {
            let a: SocketAddr = a.parse().unwrap();
            to_storage(a, &mut ss);
            assert_eq!(from_storage(&ss), Some(a));
        }
    }

    #[test]
    fn batch_forwards_between_sockets() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        for i in 0..3u8 {
            c.send_to(&[i; 10], a.local_addr().unwrap()).unwrap();
        }
        let mut batch = Batch::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let mut got = 0;
        while got < 3 && std::time::Instant::now() < deadline {
            let n = batch.recv(a.as_raw_fd()).unwrap();
            for i in 0..n {
                let (buf, src) = batch.packet(i).unwrap();
                assert_eq!(src, c.local_addr().unwrap());
                let len = buf.len();
                batch.queue_send(i, len, c.local_addr().unwrap());
            }
            batch.flush(b.as_raw_fd());
            got += n;
        }
        let mut buf = [0u8; 64];
        for i in 0..3u8 {
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(from, b.local_addr().unwrap());
            assert_eq!(&buf[..n], &[i; 10]);
        }
    }
}
