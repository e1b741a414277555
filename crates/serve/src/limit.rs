//! Rate limiting per client IP: a token bucket per address (`governor`), answering 429
//! with `Retry-After` when a client's bucket is empty.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::api::ApiError;

pub struct Limiter {
    inner: Option<DefaultKeyedRateLimiter<IpAddr>>,
    seen: AtomicU64,
}

impl Limiter {
    /// `per_second` requests per second per IP with bursts of `burst`; 0: no limit.
    pub fn new(per_second: u32, burst: u32) -> Limiter {
        let inner = NonZeroU32::new(per_second).map(|r| {
            let burst = NonZeroU32::new(burst).unwrap_or(r);
            RateLimiter::keyed(Quota::per_second(r).allow_burst(burst))
        });
        Limiter {
            inner,
            seen: AtomicU64::new(0),
        }
    }

    /// `Err(seconds to wait)` when `ip` has used its budget.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let Some(l) = &self.inner else {
            return Ok(());
        };
        // Forget idle clients now and then, so a flood from many addresses cannot grow
        // the table without bound.
        if self.seen.fetch_add(1, Ordering::Relaxed) % 65_536 == 65_535 {
            l.retain_recent();
            l.shrink_to_fit();
        }
        l.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }
}

/// The bucket a peer draws from: its IPv4 address, or its IPv6 /64 (one subscriber's
/// network: a client must not get 2^64 fresh buckets by changing its low bits).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
        v4 => v4,
    }
}

pub async fn middleware(State(l): State<Arc<Limiter>>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| client_key(c.0.ip()));
    match l.check(ip) {
        Ok(()) => next.run(req).await,
        Err(wait) => ApiError::rate_limited(wait.max(1)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_waits_others_are_untouched() {
        let l = Limiter::new(1, 2);
        let a = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let b = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(l.check(a), Ok(()));
        assert_eq!(l.check(a), Ok(()));
        assert_eq!(l.check(a), Err(1));
        assert_eq!(l.check(b), Ok(()));
        // Two addresses of one IPv6 /64 share a bucket.
        let x: IpAddr = "2001:db8::1".parse().unwrap();
        let y: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        assert_eq!(client_key(x), client_key(y));
        assert_ne!(
            client_key(x),
            client_key("2001:db8:0:1::1".parse().unwrap())
        );
        let off = Limiter::new(0, 0);
        for _ in 0..1000 {
            assert_eq!(off.check(a), Ok(()));
        }
    }
}
