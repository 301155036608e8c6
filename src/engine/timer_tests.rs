use super::*;

/// Waiters named by a number, woken into a list: the heap's order without a runtime.
fn fired(t: &mut Timers<u32>, now: u64) -> Vec<u32> {
    let mut v = Vec::new();
    t.fire_due(now, |_, w| v.push(w));
    v
}

#[test]
fn waiters_fire_in_deadline_order_and_only_when_due() {
    let mut t = Timers::default();
    let c = t.insert(3_000, 3);
    let a = t.insert(1_000, 1);
    let b = t.insert(2_000, 2);
    assert_eq!(t.earliest(), Some(1_000));
    assert_eq!(fired(&mut t, 999), Vec::<u32>::new());
    assert_eq!(t.state(a), Wait::Pending);
    assert_eq!(fired(&mut t, 1_000), vec![1]);
    assert_eq!((t.state(a), t.state(b)), (Wait::Fired, Wait::Pending));
    assert_eq!(t.earliest(), Some(2_000));
    assert_eq!(fired(&mut t, 10_000), vec![2, 3]);
    assert_eq!(t.state(c), Wait::Fired);
    assert_eq!(t.earliest(), None);
    // fired waiters stay known until their sleep is dropped
    assert_eq!(t.len(), 3);
    for k in [a, b, c] {
        t.remove(k);
        assert_eq!(t.state(k), Wait::Gone);
    }
    assert!(t.is_empty());
}

#[test]
fn equal_deadlines_fire_in_registration_order() {
    let mut t = Timers::default();
    for i in 0..5 {
        t.insert(500, i);
    }
    t.insert(499, 99);
    assert_eq!(fired(&mut t, 500), vec![99, 0, 1, 2, 3, 4]);
}

#[test]
fn a_cancelled_waiter_never_fires_and_its_slot_is_reused_safely() {
    let mut t = Timers::default();
    let a = t.insert(100, 1);
    let b = t.insert(200, 2);
    t.remove(a);
    assert_eq!(t.state(a), Wait::Gone);
    assert_eq!(t.earliest(), Some(200), "a cancelled deadline is skipped");
    // the freed slot takes a new waiter: the old handle does not see it
    let c = t.insert(50, 3);
    assert_eq!(t.state(a), Wait::Gone);
    t.remove(a); // removing a stale handle changes nothing
    assert_eq!(t.state(c), Wait::Pending);
    t.set_waker(c, 30);
    assert_eq!(fired(&mut t, 1_000), vec![30, 2]);
    assert_eq!((t.state(b), t.state(c)), (Wait::Fired, Wait::Fired));
}

#[test]
fn fire_all_wakes_everyone_whatever_their_deadline() {
    let mut t = Timers::default();
    let keys: Vec<Key> = (0..4).map(|i| t.insert(u64::MAX - i, i as u32)).collect();
    let mut v = Vec::new();
    t.fire_all(|_, w| v.push(w));
    assert_eq!(v, vec![3, 2, 1, 0]);
    assert!(keys.iter().all(|&k| t.state(k) == Wait::Fired));
}

/// Runs `f` on an io_uring runtime (when this machine can build one) and on an epoll runtime.
fn on_both_drivers(f: fn() -> std::pin::Pin<Box<dyn Future<Output = ()>>>) -> usize {
    use monoio::{IoUringDriver, LegacyDriver, RuntimeBuilder};
    let mut ran = 0;
    if crate::engine::runtime::io_uring_usable() {
        let mut rt = RuntimeBuilder::<IoUringDriver>::new().enable_timer().build().unwrap();
        rt.block_on(f());
        ran += 1;
    }
    let mut rt = RuntimeBuilder::<LegacyDriver>::new().enable_timer().build().unwrap();
    rt.block_on(f());
    ran + 1
}

#[test]
fn sleeps_end_at_their_deadline_never_before_on_both_drivers() {
    for mode in [Pacing::Sleep, Pacing::Spin] {
        MODE.with(|m| m.set(mode));
        let ran = on_both_drivers(|| {
            Box::pin(async {
                let timer = Timer::start(MODE.with(Cell::get)).unwrap();
                assert!(crate::sys::timer_slack().unwrap() <= TIMER_SLACK_NS);
                // several tasks at once, deadlines interleaved, plus one already past
                let mut handles = Vec::new();
                for i in 0..6u64 {
                    let t = Rc::clone(&timer);
                    handles.push(monoio::spawn(async move {
                        let deadline = clock::now_ns() + 300_000 + (i % 3) * 200_000;
                        for k in 0..3 {
                            let d = deadline + k * 250_000;
                            t.sleep_until(d).await;
                            assert!(clock::now_ns() >= d, "woke before its deadline");
                        }
                    }));
                }
                timer.sleep_until(0).await;
                for h in handles {
                    h.await;
                }
                // a dropped sleep leaves nothing behind
                {
                    let s = timer.sleep_until(clock::now_ns() + 1_000_000_000);
                    let _ = monoio::time::timeout(std::time::Duration::from_millis(2), s).await;
                }
                assert!(timer.waiters.borrow().is_empty());
                // stop: a far sleeper wakes at once
                let t = Rc::clone(&timer);
                let far = monoio::spawn(async move { t.sleep_until(u64::MAX).await });
                monoio::time::sleep(std::time::Duration::from_millis(2)).await;
                timer.close();
                far.await;
            })
        });
        assert!(ran >= 1);
    }
}

thread_local! {
    static MODE: Cell<Pacing> = const { Cell::new(Pacing::Sleep) };
}

/// One waiter at a time (one connection): every wake comes from the fd or the timer's own
/// polling, none from another registration; a lost wake-up would stop it for good (the bound is
/// a liveness check, 250× the nominal 20 ms, not a timing).
#[test]
fn a_lone_sleeper_is_woken_at_every_deadline_on_both_drivers() {
    for mode in [Pacing::Sleep, Pacing::Spin] {
        MODE.with(|m| m.set(mode));
        on_both_drivers(|| {
            Box::pin(async {
                let timer = Timer::start(MODE.with(Cell::get)).unwrap();
                let t0 = clock::now_ns();
                let run = async {
                    for k in 1..=40u64 {
                        let d = t0 + k * 500_000;
                        timer.sleep_until(d).await;
                        assert!(clock::now_ns() >= d, "woke before its deadline");
                    }
                };
                let done = monoio::time::timeout(std::time::Duration::from_secs(5), run).await;
                assert!(done.is_ok(), "{:?}: a sleeper was never woken", MODE.with(Cell::get));
                timer.close();
            })
        });
    }
}
