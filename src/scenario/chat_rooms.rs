//! Who is in which chat room, and what a received frame is: the delivery accounting's pure part.
//!
//! Membership is a function of the connection index: member `c` of a run of `C` members joins
//! rooms `(c·K + j) mod R` for `j < K` (`--rooms R --rooms-per-conn K`), so every process and
//! every shard of a split run knows every room's size without talking to the others. A message
//! expects one delivery per other member of its room that is live when it is sent: members of
//! this process count from their join (the join's answer, or the upgrade without one) to their
//! close; members of other parts of a split run are taken as live for the whole load.
//!
//! Sender and receivers decide who was expected by one number, not by clocks: each room's count
//! is one word ([`RoomCount`]: live members, and joins so far). A member's join adds to both and
//! gives it its join number in the room; a sender reads the word once, expects its live members
//! (less itself) and puts the joins it saw in the message's mark ([`Mark::epoch`]). A receiver of
//! this process was among the live members that sender counted exactly when its own join number
//! is not above the mark's ([`counted_in`]); otherwise the copy is one from before its join.
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

/// A room's count in one word (so that a sender reads both halves at once): live members in the
/// low 32 bits, joins so far in the high 32 (wrapping). A join adds [`RoomCount::JOIN`], a
/// close subtracts [`RoomCount::LEAVE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoomCount(pub u64);

impl RoomCount {
    pub const JOIN: u64 = (1 << 32) | 1;
    pub const LEAVE: u64 = 1;

    /// Members live in the room now.
    pub fn live(self) -> u32 {
        self.0 as u32
    }

    /// Joins to the room so far (wrapping): after a join, that member's join number.
    pub fn joins(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The join number of a member whose join found the room at `self`.
    pub fn next_join(self) -> u32 {
        self.joins().wrapping_add(1)
    }
}

/// Whether the member whose join to a room was the `joined`-th was among the live members a
/// sender counted when it saw `seen` joins to that room: its join came first. Compared as serial
/// numbers (RFC 1982), so the 32-bit join count may wrap.
pub fn counted_in(seen: u32, joined: u32) -> bool {
    (seen.wrapping_sub(joined) as i32) >= 0
}

/// Message ids a member received last: a copy of one of them is a duplicate.
const RECENT: usize = 16;

/// What one member knows to classify the frames it receives.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub conn: u64,
    /// When this member joined, ns after the run's start: a message of a room it is not in (a
    /// server that relays more than the room) sent earlier did not expect it.
    pub joined_ns: u64,
    /// (room, this member's join number in it) for each of its rooms.
    pub joins: Vec<(u64, u32)>,
    recent: [u64; RECENT],
    next: usize,
}

impl Receiver {
    pub fn new(conn: u64, joined_ns: u64, joins: Vec<(u64, u32)>) -> Receiver {
        Receiver { conn, joined_ns, joins, recent: [u64::MAX; RECENT], next: 0 }
    }

    /// Whether the sender of local message `m` counted this member among its room's live
    /// members: by the mark's join count for the message's room (the sender's rooms turn with
    /// its message number); by time for a room this member is not in.
    fn expected_by(&self, m: &Mark, rooms: &Rooms) -> bool {
        let room = rooms.room(u64::from(m.sender), (m.seq >> 32) % rooms.per_conn.max(1));
        match self.joins.iter().rev().find(|(r, _)| *r == room) {
            Some((_, joined)) => counted_in(m.epoch, *joined),
            None => sent_ns(m) >= self.joined_ns,
        }
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
        // Counts of other processes are their own: only local senders are compared.
        if rooms.is_local(u64::from(m.sender)) && !self.expected_by(&m, rooms) {
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
        // member 1 is in room 1 (with member 3), its join there the 5th
        let mut me = Receiver::new(1, 1_000, vec![(1, 5)]);
        let frame = |sender: u32, n: u64, intended_ns: u64| {
            let mut f = br#"{"type":"message","from":"u3","content":"Zm4Kx"#.to_vec();
            Mark { sender, seq: (n << 32) | 10, intended_ns, epoch: if intended_ns < 1_000 { 4 } else { 5 } }.encode(&mut f);
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
        // sent before this member joined: not expected of it (room 0: by time; room 1: the
        // sender saw 4 joins, this member's was the 5th)
        assert_eq!(me.classify(&frame(2, 0, 100), 5_000, 10_000, &r), Arrival::BeforeJoin);
        assert_eq!(me.classify(&frame(3, 2, 100), 5_000, 10_000, &r), Arrival::BeforeJoin);
    }

    /// One room's word as the workers share it, driven by hand in every order that matters: a
    /// sender's read against a member's join. Whatever the clocks say, a copy counts as a
    /// delivery exactly when the sender's expected count included its receiver.
    #[test]
    fn sender_and_receiver_decide_by_the_same_join_count() {
        let r = rooms(1, 1, 4, 0, 4);
        let join = |word: &mut RoomCount| {
            let mine = word.next_join();
            word.0 = word.0.wrapping_add(RoomCount::JOIN);
            mine
        };
        let leave = |word: &mut RoomCount| word.0 -= RoomCount::LEAVE;
        // a copy of message 0 of member 0, sent after reading `seen`, as member 1 classifies it
        let copy = |seen: RoomCount, joined: u32, joined_ns: u64, sent_ns: u64| {
            let mut f = Vec::new();
            Mark { sender: 0, seq: 0, intended_ns: sent_ns, epoch: seen.joins() }.encode(&mut f);
            Receiver::new(1, joined_ns, vec![(0, joined)]).classify(&f, sent_ns + 50, 1_000_000, &r)
        };
        let expected = |seen: RoomCount| u64::from(seen.live()).saturating_sub(1) + r.remote(0);
        let delivered = |a: Arrival| u64::from(matches!(a, Arrival::Other { .. }));

        // the sender (member 0) is in; member 1 joins before the sender reads: expected, delivered
        let mut word = RoomCount(0);
        join(&mut word);
        let m1 = join(&mut word);
        let seen = word;
        assert_eq!((expected(seen), delivered(copy(seen, m1, 100, 200))), (1, 1));

        // the race: the sender reads, then member 1 joins on another thread, its join time
        // taken just before the send time: by time it would be a delivery the count did not
        // include; by the join count it is a copy from before its join
        let mut word = RoomCount(0);
        join(&mut word);
        let seen = word;
        let m1 = join(&mut word);
        assert_eq!(expected(seen), 0);
        assert_eq!(copy(seen, m1, 199, 200), Arrival::BeforeJoin, "joined at 199 ns, sent at 200 ns");
        // ... and the other way round: counted, its join time after the send time: a delivery
        let mut word = RoomCount(0);
        join(&mut word);
        let m1 = join(&mut word);
        assert_eq!((expected(word), delivered(copy(word, m1, 300, 200))), (1, 1));

        // member 1 leaves and joins again after the sender's read: the new membership was not
        // counted (the old one was, and its copy is lost with it)
        let mut word = RoomCount(0);
        join(&mut word);
        let _old = join(&mut word);
        let seen = word;
        leave(&mut word);
        let again = join(&mut word);
        assert_eq!(expected(seen), 1);
        assert_eq!(copy(seen, again, 0, 200), Arrival::BeforeJoin);
        assert_eq!((word.live(), word.joins()), (2, 3));

        // the 32-bit join count wraps: still one decision
        let mut word = RoomCount(u64::from(u32::MAX - 1) << 32);
        join(&mut word);
        let seen = word;
        let late = join(&mut word);
        assert_eq!((seen.joins(), late), (u32::MAX, 0));
        assert_eq!(copy(seen, late, 0, 200), Arrival::BeforeJoin);
        let m2 = join(&mut word);
        assert_eq!(delivered(copy(word, m2, 0, 200)), 1);
        assert!(counted_in(5, 5) && counted_in(6, 5) && !counted_in(4, 5) && counted_in(1, u32::MAX));

        // every interleaving of a sender's read with 3 joins: the copies delivered are exactly
        // the deliveries the sender expected
        for read_at in 0..=3 {
            let mut word = RoomCount(0);
            join(&mut word); // the sender
            let mut members = Vec::new();
            let mut seen = word;
            for step in 0..=3 {
                if step == read_at {
                    seen = word;
                }
                if step < 3 {
                    members.push(join(&mut word));
                }
            }
            let got: u64 = members.iter().map(|m| delivered(copy(seen, *m, 0, 200))).sum();
            assert_eq!(got, expected(seen), "read before join {read_at}");
        }
    }
}
