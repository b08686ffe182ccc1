//! The RTP port pool: even RTP ports (RTCP on the odd port above) from a configured range, handed out FIFO.
//!
//! Pure bookkeeping (sans-IO): the shell binds the socket. FIFO reuse keeps a just-released port cold for as
//! long as possible, so late packets of an old call do not land in a new one. A port the shell failed to bind
//! (taken by another program) is given back with [`PortPool::release`] and goes to the back of the queue.

use std::collections::VecDeque;
use std::fmt;

/// An RTP/RTCP port pair: `rtp` is even, RTCP is `rtp + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortPair {
    pub rtp: u16,
}

impl PortPair {
    pub fn rtcp(&self) -> u16 {
        self.rtp + 1
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortPoolError {
    /// The configured range holds no even/odd pair.
    EmptyRange { min: u16, max: u16 },
    /// Every pair is in use.
    Exhausted { pairs: usize },
    /// Released a port that is not from this pool or not an even RTP port.
    NotInPool(u16),
    /// Released a pair that is already free.
    NotAllocated(u16),
}

impl fmt::Display for PortPoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortPoolError::EmptyRange { min, max } => {
                write!(f, "RTP port range {min}-{max} holds no even/odd port pair")
            }
            PortPoolError::Exhausted { pairs } => {
                write!(f, "RTP port pool exhausted: all {pairs} port pairs in use")
            }
            PortPoolError::NotInPool(p) => write!(f, "port {p} is not an RTP port of this pool"),
            PortPoolError::NotAllocated(p) => write!(f, "port {p} released twice"),
        }
    }
}

impl std::error::Error for PortPoolError {}

/// Allocation state of a port range.
#[derive(Debug)]
pub struct PortPool {
    first: u16,
    in_use: Vec<bool>,
    free: VecDeque<u16>,
}

impl PortPool {
    /// A pool over `min..=max`: RTP ports are the even ports whose odd successor is also in range.
    pub fn new(min: u16, max: u16) -> Result<Self, PortPoolError> {
        // Port 0 means "any" to the OS, so the lowest usable RTP port is 2.
        let first = min
            .max(2)
            .checked_add(min.max(2) % 2)
            .ok_or(PortPoolError::EmptyRange { min, max })?;
        if first >= max {
            return Err(PortPoolError::EmptyRange { min, max });
        }
        let pairs = ((max - first) as usize).div_ceil(2);
        Ok(PortPool {
            first,
            in_use: vec![false; pairs],
            free: (0..pairs as u16).collect(),
        })
    }

    /// Number of pairs the pool manages.
    pub fn capacity(&self) -> usize {
        self.in_use.len()
    }

    /// Pairs currently free.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Takes the least recently released free pair.
    pub fn allocate(&mut self) -> Result<PortPair, PortPoolError> {
        let idx = self.free.pop_front().ok_or(PortPoolError::Exhausted {
            pairs: self.capacity(),
        })?;
        if let Some(slot) = self.in_use.get_mut(idx as usize) {
            *slot = true;
        }
        Ok(PortPair {
            rtp: self.first + 2 * idx,
        })
    }

    /// Returns a pair to the back of the free queue.
    pub fn release(&mut self, pair: PortPair) -> Result<(), PortPoolError> {
        let idx = self.index(pair.rtp)?;
        match self.in_use.get_mut(idx) {
            Some(slot) if *slot => {
                *slot = false;
                self.free.push_back(idx as u16);
                Ok(())
            }
            _ => Err(PortPoolError::NotAllocated(pair.rtp)),
        }
    }

    /// Whether `rtp` is currently handed out.
    pub fn is_allocated(&self, rtp: u16) -> bool {
        self.index(rtp)
            .ok()
            .and_then(|i| self.in_use.get(i).copied())
            .unwrap_or(false)
    }

    fn index(&self, rtp: u16) -> Result<usize, PortPoolError> {
        if rtp < self.first || (rtp - self.first) % 2 != 0 {
            return Err(PortPoolError::NotInPool(rtp));
        }
        let idx = ((rtp - self.first) / 2) as usize;
        if idx >= self.in_use.len() {
            return Err(PortPoolError::NotInPool(rtp));
        }
        Ok(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn even_rtp_odd_rtcp_within_range() {
        let mut p = PortPool::new(10001, 10010).unwrap();
        // 10002..=10009 pairs: 10002,10004,10006,10008 (10010's rtcp 10011 is out of range).
        assert_eq!(p.capacity(), 4);
        let all: Vec<_> = (0..4).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(
            all.iter().map(|x| x.rtp).collect::<Vec<_>>(),
            vec![10002, 10004, 10006, 10008]
        );
        assert!(all.iter().all(|x| x.rtp % 2 == 0 && x.rtcp() <= 10010));
    }

    #[test]
    fn exhaustion_is_an_error_and_release_recovers() {
        let mut p = PortPool::new(20000, 20003).unwrap();
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        assert_eq!(p.allocate(), Err(PortPoolError::Exhausted { pairs: 2 }));
        p.release(a).unwrap();
        assert_eq!(p.allocate().unwrap(), a);
        assert_ne!(a, b);
    }

    #[test]
    fn no_double_allocation_and_fifo_reuse() {
        let mut p = PortPool::new(30000, 30199).unwrap();
        let mut held = HashSet::new();
        for _ in 0..100 {
            assert!(held.insert(p.allocate().unwrap()), "pair handed out twice");
        }
        assert_eq!(p.available(), 0);
        let first = *held.iter().min().unwrap();
        let second = *held.iter().max().unwrap();
        p.release(first).unwrap();
        p.release(second).unwrap();
        // Least recently released comes back first.
        assert_eq!(p.allocate().unwrap(), first);
        assert_eq!(p.allocate().unwrap(), second);
    }

    #[test]
    fn bad_release_is_refused() {
        let mut p = PortPool::new(40000, 40009).unwrap();
        let a = p.allocate().unwrap();
        p.release(a).unwrap();
        assert_eq!(p.release(a), Err(PortPoolError::NotAllocated(a.rtp)));
        assert_eq!(
            p.release(PortPair { rtp: 40001 }),
            Err(PortPoolError::NotInPool(40001))
        );
        assert_eq!(
            p.release(PortPair { rtp: 50000 }),
            Err(PortPoolError::NotInPool(50000))
        );
        assert_eq!(
            p.release(PortPair { rtp: 2 }),
            Err(PortPoolError::NotInPool(2))
        );
        assert_eq!(p.available(), 5);
    }

    #[test]
    fn empty_and_edge_ranges() {
        assert!(matches!(
            PortPool::new(5000, 5000),
            Err(PortPoolError::EmptyRange { .. })
        ));
        assert!(matches!(
            PortPool::new(5001, 5002),
            Err(PortPoolError::EmptyRange { .. })
        ));
        assert!(matches!(
            PortPool::new(65535, 65535),
            Err(PortPoolError::EmptyRange { .. })
        ));
        assert_eq!(PortPool::new(65534, 65535).unwrap().capacity(), 1);
        let p = PortPool::new(0, 5).unwrap();
        assert_eq!(p.capacity(), 2, "port 0 is never handed out");
    }

    proptest::proptest! {
        #[test]
        fn random_ops_keep_invariants(ops in proptest::collection::vec(proptest::bool::ANY, 0..200)) {
            let mut p = PortPool::new(50000, 50019).unwrap();
            let mut held: Vec<PortPair> = Vec::new();
            for alloc in ops {
                if alloc {
                    match p.allocate() {
                        Ok(x) => { proptest::prop_assert!(!held.contains(&x)); held.push(x); }
                        Err(e) => proptest::prop_assert_eq!(held.len(), 10, "{}", e),
                    }
                } else if let Some(x) = held.pop() {
                    p.release(x).unwrap();
                }
                proptest::prop_assert_eq!(p.available() + held.len(), p.capacity());
            }
        }
    }
}
