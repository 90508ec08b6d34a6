//! The limiter's tables under a flood of distinct keys: 200,000 IPv6 /64 networks, each
//! failing a login of its own. The tables stay within `max_keys`, the memory they hold
//! stays bounded (measured by a counting allocator, so the figure is exact and does not
//! depend on the machine's load), and a full table fails closed: it keeps the lock-outs
//! it holds and refuses what it cannot count, except pairs that have logged in before.

use regway::config::LimitsConfig;
use regway::engine::limits::Limiter;
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const FLOOD: u32 = 200_000;

fn network(i: u32) -> IpAddr {
    let [a, b, c, d] = i.to_be_bytes();
    IpAddr::V6(Ipv6Addr::new(
        0x2001,
        0xdb8,
        u16::from_be_bytes([a, b]),
        u16::from_be_bytes([c, d]),
        0,
        0,
        0,
        1,
    ))
}

#[test]
fn two_hundred_thousand_keys_stay_bounded_and_fail_closed() {
    // The defaults, with a window of a day so that no key goes idle (and is dropped)
    // while the test runs, however slow the machine.
    let cfg = LimitsConfig {
        lockout_window_s: 86_400,
        ..LimitsConfig::default()
    };
    let before = LIVE.load(Ordering::Relaxed);
    let l = Limiter::new(&cfg);
    // Before the flood: one address locked out, one partner's panel logged in.
    let locked = l.attempt("192.0.2.1".parse().unwrap(), "acme");
    for _ in 0..cfg.lockout_failures {
        let _ = l.failed_login(&locked, "acme");
    }
    assert!(l.check_locked(&locked).is_err());
    let panel = l.attempt("203.0.113.5".parse().unwrap(), "acme");
    l.logged_in(&panel);

    let (mut counted, mut refused) = (0u32, 0u32);
    for i in 0..FLOOD {
        let login = format!("user{i}");
        let a = l.attempt(network(i), &login);
        if l.check_locked(&a).is_err() {
            refused += 1;
            // Requests without valid credentials fill their own table too.
            let _ = l.anonymous(network(i));
            continue;
        }
        counted += 1;
        let _ = l.failed_login(&a, &login);
    }
    let used = LIVE.load(Ordering::Relaxed) - before;
    let keys = l.keys();
    eprintln!(
        "{FLOOD} distinct keys: {counted} counted, {refused} refused, {keys} keys held, \
         {:.1} MiB allocated (max_keys {})",
        used as f64 / (1 << 20) as f64,
        cfg.max_keys
    );
    // The failure table and the anonymous table, each at most max_keys, and the pair.
    assert!(keys <= 2 * cfg.max_keys + 1, "{keys} keys");
    assert!(refused > 0, "the table never filled");
    assert!(
        used < 32 << 20,
        "{used} bytes for {FLOOD} keys: memory is not bounded"
    );
    // Fail closed: the old lock-out is still there, a new address is refused, the
    // partner's panel still gets its password checked.
    let e = l.check_locked(&locked).unwrap_err();
    assert!(e.message.contains("locked out"), "{}", e.message);
    let fresh = l.attempt("198.51.100.7".parse().unwrap(), "acme");
    let e = l.check_locked(&fresh).unwrap_err();
    assert_eq!(e.code, regway::error::Code::RateLimited);
    assert!(l.check_locked(&panel).is_ok());
    // Housekeeping drops nothing that is still counting.
    l.housekeeping();
    assert!(l.check_locked(&fresh).is_err());
}
