//! Who is in which chat room, and what a received frame is: the delivery accounting's pure part.
//!
//! Membership is a function of the connection index: member `c` of a run of `C` members joins
//! rooms `(c·K + j) mod R` for `j < K` (`--rooms R --rooms-per-conn K`), so every process and
//! every shard of a split run knows every room's size without talking to the others. A message
//! expects one delivery per other member of its room that is live when it is sent: members of
//! this process count from their join (the join's answer, or the upgrade without one) to their
//! close; members of other parts of a split run are taken as live for the whole load.
//!
//! Pure: no I/O, no clock, no stats.

use crate::config::ChatConfig;
use crate::stats::Arrival;

use crate::proto::template::{find_marks, Mark};

/// The rooms of a run and the part of its members this process drives.
#[derive(Clone, Debug)]
pub struct Rooms {
    pub rooms: u64,
    pub per_conn: u64,
    /// Members in the whole run.
    pub total: u64,
    /// This process's members: `first..first + len`.
    pub first: u64,
    pub len: u64,
}

impl Rooms {
    pub fn of(c: &ChatConfig) -> Rooms {
        Rooms { rooms: c.rooms, per_conn: c.rooms_per_conn, total: c.total, first: c.first, len: c.len }
    }

    /// The `j`-th room of member `conn`.
    pub fn room(&self, conn: u64, j: u64) -> u64 {
        (conn * self.per_conn + j % self.per_conn) % self.rooms
    }

    /// Members of `room` among the first `n` membership slots (slot `x` = member `x / K`).
    fn below(&self, room: u64, n: u64) -> u64 {
        n / self.rooms + u64::from(room < n % self.rooms)
    }

    /// Members of `room` in the whole run.
    pub fn size(&self, room: u64) -> u64 {
        self.below(room, self.total * self.per_conn)
    }

    /// Members of `room` driven by other processes (or shards).
    pub fn remote(&self, room: u64) -> u64 {
        let k = self.per_conn;
        let local = self.below(room, (self.first + self.len) * k) - self.below(room, self.first * k);
        self.size(room) - local
    }

    /// Whether `conn` is driven by this process.
    pub fn is_local(&self, conn: u64) -> bool {
        (self.first..self.first + self.len).contains(&conn)
    }
}

/// Message ids a member received last: a copy of one of them is a duplicate.
const RECENT: usize = 16;

/// What one member knows to classify the frames it receives.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub conn: u64,
    /// When this member joined, ns after the run's start: earlier messages did not expect it.
    pub joined_ns: u64,
    recent: [u64; RECENT],
    next: usize,
}

impl Receiver {
    pub fn new(conn: u64, joined_ns: u64) -> Receiver {
        Receiver { conn, joined_ns, recent: [u64::MAX; RECENT], next: 0 }
    }

    /// Classifies a data frame received `now_ns` after the run's start.
    pub fn classify(&mut self, frame: &[u8], now_ns: u64, timeout_ns: u64, rooms: &Rooms) -> Arrival {
        let Some(m) = find_marks(frame).next() else { return Arrival::Unmarked };
        if u64::from(m.sender) == self.conn {
            return Arrival::ToSelf;
        }
        let id = id(&m);
        if self.recent.contains(&id) {
            return Arrival::Duplicate;
        }
        // Times of other processes are on their own clocks: only local senders are compared.
        if rooms.is_local(u64::from(m.sender)) && sent_ns(&m) < self.joined_ns {
            return Arrival::BeforeJoin;
        }
        self.recent[self.next] = id;
        self.next = (self.next + 1) % RECENT;
        let corrected_ns = now_ns.saturating_sub(m.intended_ns);
        let service_ns = now_ns.saturating_sub(sent_ns(&m));
        Arrival::Other { corrected_ns, service_ns, late: corrected_ns > timeout_ns }
    }
}

/// A chat message's identity: its sender and number (the high half of the mark's `seq`).
fn id(m: &Mark) -> u64 {
    (u64::from(m.sender) << 32) | (m.seq >> 32)
}

/// When a chat message was actually sent: its intended time plus the lateness in the low half of
/// the mark's `seq`.
fn sent_ns(m: &Mark) -> u64 {
    m.intended_ns.saturating_add(m.seq & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(rooms: u64, per_conn: u64, total: u64, first: u64, len: u64) -> Rooms {
        Rooms { rooms, per_conn, total, first, len }
    }

    #[test]
    fn room_sizes_follow_from_the_connection_index() {
        // 10 members, 4 rooms, one each: rooms 0 and 1 have 3, rooms 2 and 3 have 2
        let r = rooms(4, 1, 10, 0, 10);
        let counted = |room| (0..10).filter(|c| r.room(*c, 0) == room).count() as u64;
        for room in 0..4 {
            assert_eq!(r.size(room), counted(room), "room {room}");
            assert_eq!(r.remote(room), 0);
        }
        assert_eq!((r.size(0), r.size(3)), (3, 2));
        // 5 members in 7 rooms, 3 rooms each: a member's rooms differ, sizes add up to 15
        let r = rooms(7, 3, 5, 0, 5);
        for c in 0..5 {
            let mine: Vec<u64> = (0..3).map(|j| r.room(c, j)).collect();
            assert!(mine[0] != mine[1] && mine[1] != mine[2] && mine[0] != mine[2], "{mine:?}");
        }
        assert_eq!((0..7).map(|room| r.size(room)).sum::<u64>(), 15);
        for room in 0..7 {
            let counted = (0..5).filter(|c| (0..3).any(|j| r.room(*c, j) == room)).count() as u64;
            assert_eq!(r.size(room), counted, "room {room}");
        }
        // the second of two processes (members 5..10): the others are remote
        let r = rooms(4, 1, 10, 5, 5);
        for room in 0..4 {
            let remote = (0..5).filter(|c| r.room(*c, 0) == room).count() as u64;
            assert_eq!(r.remote(room), remote, "room {room}");
        }
        assert!(r.is_local(5) && !r.is_local(4) && !r.is_local(10));
    }

    #[test]
    fn frames_are_classified_by_their_mark() {
        let r = rooms(2, 1, 4, 0, 4);
        let mut me = Receiver::new(1, 1_000);
        let frame = |sender: u32, n: u64, intended_ns: u64| {
            let mut f = br#"{"type":"message","from":"u3","content":"Zm4Kx"#.to_vec();
            Mark { sender, seq: (n << 32) | 10, intended_ns }.encode(&mut f);
            f.extend_from_slice(br#"","ts":1}"#);
            f
        };
        assert_eq!(me.classify(br#"{"type":"joined"}"#, 5_000, 100, &r), Arrival::Unmarked);
        assert_eq!(me.classify(&frame(1, 0, 2_000), 5_000, 10_000, &r), Arrival::ToSelf);
        assert_eq!(
            me.classify(&frame(3, 0, 2_000), 5_000, 10_000, &r),
            Arrival::Other { corrected_ns: 3_000, service_ns: 2_990, late: false }
        );
        assert_eq!(me.classify(&frame(3, 0, 2_000), 6_000, 10_000, &r), Arrival::Duplicate);
        assert_eq!(
            me.classify(&frame(3, 1, 2_000), 20_000, 10_000, &r),
            Arrival::Other { corrected_ns: 18_000, service_ns: 17_990, late: true }
        );
        // sent before this member joined: not expected of it
        assert_eq!(me.classify(&frame(2, 0, 100), 5_000, 10_000, &r), Arrival::BeforeJoin);
    }
}
