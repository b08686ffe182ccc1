//! The connection table: open stream connections by id and by remote address, with admission limits.
//!
//! Plain data, no I/O: the service keeps it behind a short-held mutex and stores a write-queue handle
//! per entry. Responses find their connection by id; outgoing requests find one by remote address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use super::{ConnectionId, TransportKind};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("connection limit reached ({0} open)")]
    Total(usize),
    #[error("per-IP connection limit reached ({0} open from this address)")]
    PerIp(usize),
}

/// One open connection.
#[derive(Debug)]
pub struct Entry<H> {
    pub remote: SocketAddr,
    pub kind: TransportKind,
    /// True when the peer connected to us (counts against the per-IP limit).
    pub inbound: bool,
    pub handle: H,
}

/// Open connections, keyed both ways, with totals for the limits.
#[derive(Debug)]
pub struct ConnectionTable<H> {
    next_id: u64,
    by_id: HashMap<ConnectionId, Entry<H>>,
    by_remote: HashMap<(SocketAddr, TransportKind), ConnectionId>,
    inbound_per_ip: HashMap<IpAddr, usize>,
    max_total: usize,
    max_per_ip: usize,
}

impl<H> ConnectionTable<H> {
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        ConnectionTable {
            next_id: 1,
            by_id: HashMap::new(),
            by_remote: HashMap::new(),
            inbound_per_ip: HashMap::new(),
            max_total,
            max_per_ip,
        }
    }

    /// A fresh id that no connection or socket has used (UDP sockets take ids from here too).
    pub fn alloc_id(&mut self) -> ConnectionId {
        let id = ConnectionId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Whether one more inbound connection from `ip` would be admitted.
    pub fn check_inbound(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.by_id.len() >= self.max_total {
            return Err(Refused::Total(self.by_id.len()));
        }
        let from_ip = self.inbound_per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(Refused::PerIp(from_ip));
        }
        Ok(())
    }

    /// Admits a connection (checking the limits that apply to its direction) and returns its id.
    pub fn insert(
        &mut self,
        remote: SocketAddr,
        kind: TransportKind,
        inbound: bool,
        handle: H,
    ) -> Result<ConnectionId, Refused> {
        if inbound {
            self.check_inbound(remote.ip())?;
        } else if self.by_id.len() >= self.max_total {
            return Err(Refused::Total(self.by_id.len()));
        }
        let id = self.alloc_id();
        if inbound {
            *self.inbound_per_ip.entry(remote.ip()).or_insert(0) += 1;
        }
        // A newer connection to the same address wins for reuse; the older stays reachable by id.
        self.by_remote.insert((remote, kind), id);
        self.by_id.insert(
            id,
            Entry {
                remote,
                kind,
                inbound,
                handle,
            },
        );
        Ok(id)
    }

    /// Forgets a connection; returns its entry if it was open.
    pub fn remove(&mut self, id: ConnectionId) -> Option<Entry<H>> {
        let entry = self.by_id.remove(&id)?;
        let key = (entry.remote, entry.kind);
        if self.by_remote.get(&key) == Some(&id) {
            self.by_remote.remove(&key);
        }
        if entry.inbound {
            let ip = entry.remote.ip();
            if let Some(n) = self.inbound_per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.inbound_per_ip.remove(&ip);
                }
            }
        }
        Some(entry)
    }

    pub fn get(&self, id: ConnectionId) -> Option<&Entry<H>> {
        self.by_id.get(&id)
    }

    /// The connection to reuse for sending to `remote` over `kind`, if one is open.
    pub fn find(
        &self,
        remote: SocketAddr,
        kind: TransportKind,
    ) -> Option<(ConnectionId, &Entry<H>)> {
        let id = *self.by_remote.get(&(remote, kind))?;
        self.by_id.get(&id).map(|e| (id, e))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Inbound connections currently open from `ip`.
    pub fn inbound_from(&self, ip: IpAddr) -> usize {
        self.inbound_per_ip.get(&ip).copied().unwrap_or(0)
    }

    /// Every open connection's handle (for shutdown).
    pub fn handles(&self) -> impl Iterator<Item = &H> {
        self.by_id.values().map(|e| &e.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_limit_counts_only_inbound_and_frees_on_remove() {
        let mut t = ConnectionTable::new(100, 2);
        let a = t
            .insert(addr("10.0.0.1:1000"), TransportKind::Tcp, true, ())
            .unwrap();
        t.insert(addr("10.0.0.1:1001"), TransportKind::Tls, true, ())
            .unwrap();
        assert_eq!(
            t.insert(addr("10.0.0.1:1002"), TransportKind::Tcp, true, ()),
            Err(Refused::PerIp(2))
        );
        // Another IP and our own outbound connections are not limited by it.
        t.insert(addr("10.0.0.2:1000"), TransportKind::Tcp, true, ())
            .unwrap();
        t.insert(addr("10.0.0.1:5060"), TransportKind::Tcp, false, ())
            .unwrap();
        t.remove(a).unwrap();
        assert_eq!(t.inbound_from(addr("10.0.0.1:1").ip()), 1);
        t.insert(addr("10.0.0.1:1003"), TransportKind::Tcp, true, ())
            .unwrap();
    }

    #[test]
    fn total_limit_applies_to_both_directions() {
        let mut t = ConnectionTable::new(2, 10);
        t.insert(addr("10.0.0.1:1"), TransportKind::Tcp, true, ())
            .unwrap();
        t.insert(addr("10.0.0.2:1"), TransportKind::Tcp, false, ())
            .unwrap();
        assert_eq!(
            t.insert(addr("10.0.0.3:1"), TransportKind::Tcp, false, ()),
            Err(Refused::Total(2))
        );
        assert_eq!(
            t.check_inbound(addr("10.0.0.3:1").ip()),
            Err(Refused::Total(2))
        );
    }

    #[test]
    fn find_by_remote_uses_the_newest_and_survives_removal_of_an_older_one() {
        let mut t = ConnectionTable::new(10, 10);
        let r = addr("192.0.2.1:5060");
        let old = t.insert(r, TransportKind::Tcp, false, "old").unwrap();
        let new = t.insert(r, TransportKind::Tcp, false, "new").unwrap();
        assert_eq!(t.find(r, TransportKind::Tcp).map(|(id, _)| id), Some(new));
        assert!(t.find(r, TransportKind::Tls).is_none());
        t.remove(old).unwrap();
        assert_eq!(t.find(r, TransportKind::Tcp).unwrap().1.handle, "new");
        t.remove(new).unwrap();
        assert!(t.find(r, TransportKind::Tcp).is_none());
        assert!(t.remove(new).is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn ids_are_unique_across_sockets_and_connections() {
        let mut t = ConnectionTable::<()>::new(10, 10);
        let s = t.alloc_id();
        let c = t
            .insert(addr("10.0.0.1:1"), TransportKind::Tcp, true, ())
            .unwrap();
        assert_ne!(s, c);
    }
}
