//! Region failover on LiveKit Cloud, as `livekit_api`'s client does it: a call that fails on
//! the network or with a 5xx is tried again on the project's next region, up to three
//! attempts in all, after 200 ms, then 400 ms. The regions come from the project's
//! `/settings/regions` (asked on the first failure, with the call's token, and kept for a few
//! seconds for the whole process). Only for Cloud hosts, and only when a call's budget is at
//! least five seconds: a shorter one would spend it failing over in lockstep with every other
//! client.

use std::sync::OnceLock;
use std::time::Duration;

use livekit_region::{Cached, RegionCache, RegionsResponse};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Url;

/// Attempts of a call on Cloud, the first included.
const MAX_ATTEMPTS: u32 = 3;
/// The pause before the second attempt; it doubles each time.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// The shortest call budget that fails over.
const MIN_FAILOVER_TIMEOUT: Duration = Duration::from_secs(5);
/// Budget of the region listing.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(2);

/// How many attempts a call to one server gets.
#[derive(Debug, Clone, Copy)]
pub(super) struct Failover {
    attempts: u32,
    backoff: Duration,
}

impl Failover {
    /// Three attempts for a LiveKit Cloud host and a budget of five seconds or more; one
    /// otherwise.
    pub(super) fn for_host(host: Option<&str>, timeout: Duration) -> Self {
        let cloud = host.is_some_and(livekit_region::is_cloud_host);
        let attempts = if cloud && timeout >= MIN_FAILOVER_TIMEOUT {
            MAX_ATTEMPTS
        } else {
            1
        };
        Self {
            attempts,
            backoff: BACKOFF_BASE,
        }
    }

    /// Failover for any host (tests stand in for Cloud on loopback).
    #[cfg(test)]
    pub(super) fn always(attempts: u32, backoff: Duration) -> Self {
        Self { attempts, backoff }
    }

    /// Moves `attempt` on to the next region not tried yet, after a pause. False when the
    /// attempts are spent or no other region is known: the failure stands.
    pub(super) async fn next(
        &self,
        attempt: &mut Attempt,
        client: &reqwest::Client,
        headers: &HeaderMap,
    ) -> bool {
        if attempt.number + 1 >= self.attempts {
            return false;
        }
        if attempt.regions.is_none() {
            attempt.regions = Some(region_urls(&attempt.original, client, headers).await);
        }
        let regions = attempt.regions.as_deref().unwrap_or_default();
        let Some(next) = untried(regions, &attempt.tried) else {
            return false;
        };
        tracing::warn!(
            failed = attempt.current.host_str().unwrap_or_default(),
            next = next.host_str().unwrap_or_default(),
            "LiveKit call failed; trying the project's next region"
        );
        tokio::time::sleep(self.backoff * 2u32.saturating_pow(attempt.number)).await;
        attempt.tried.push(host_key(&next));
        attempt.current = next;
        attempt.number += 1;
        true
    }
}

/// Where a call stands: the server it goes to now and those it tried.
#[derive(Debug)]
pub(super) struct Attempt {
    original: Url,
    current: Url,
    number: u32,
    tried: Vec<String>,
    regions: Option<Vec<String>>,
}

impl Attempt {
    /// A call's first attempt, on the configured server.
    pub(super) fn first(server: &Url) -> Self {
        Self {
            original: server.clone(),
            current: server.clone(),
            number: 0,
            tried: vec![host_key(server)],
            regions: None,
        }
    }

    /// The server this attempt goes to.
    pub(super) fn server(&self) -> &Url {
        &self.current
    }
}

/// A server as `host:port`, to tell regions apart.
fn host_key(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

/// The first region whose server was not tried.
fn untried(regions: &[String], tried: &[String]) -> Option<Url> {
    regions
        .iter()
        .filter_map(|raw| Url::parse(raw).ok())
        .filter(|url| url.host_str().is_some())
        .find(|url| !tried.contains(&host_key(url)))
}

/// The regions of `server`'s project as `http(s)://` URLs: cached for the process, asked
/// again when stale (the stale list, or none, if that fails).
async fn region_urls(server: &Url, client: &reqwest::Client, headers: &HeaderMap) -> Vec<String> {
    static CACHE: OnceLock<RegionCache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| RegionCache::new(RegionCache::DEFAULT_TTL));
    let key = host_key(server);
    let stale = match cache.get(&key) {
        Cached::Fresh(urls) => return urls,
        Cached::Stale(urls) => Some(urls),
        Cached::Miss => None,
    };
    match fetch_regions(server, client, headers).await {
        Some((urls, max_age)) => {
            if max_age != Some(Duration::ZERO) {
                cache.insert(key, urls.clone(), max_age);
            }
            urls
        }
        None => stale.unwrap_or_default(),
    }
}

/// `GET /settings/regions` with the call's token: the region URLs and how long to keep them.
async fn fetch_regions(
    server: &Url,
    client: &reqwest::Client,
    headers: &HeaderMap,
) -> Option<(Vec<String>, Option<Duration>)> {
    let mut url = server.clone();
    url.set_path("/settings/regions");
    let mut headers = headers.clone();
    headers.remove(CONTENT_TYPE);
    let answer = client
        .get(url)
        .headers(headers)
        .timeout(DISCOVERY_TIMEOUT)
        .send()
        .await
        .ok()
        .filter(|answer| answer.status().is_success())?;
    let max_age = answer
        .headers()
        .get("cache-control")
        .and_then(|value| value.to_str().ok())
        .and_then(livekit_region::parse_max_age);
    let listed: RegionsResponse = serde_json::from_slice(&answer.bytes().await.ok()?).ok()?;
    let urls = listed
        .regions
        .into_iter()
        .filter(|region| !region.url.is_empty())
        .map(|region| super::http_scheme(&region.url))
        .collect();
    Some((urls, max_age))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cloud_hosts_with_a_long_enough_budget_fail_over() {
        let five = Duration::from_secs(5);

        assert_eq!(
            Failover::for_host(Some("p.livekit.cloud"), five).attempts,
            3
        );
        assert_eq!(
            Failover::for_host(Some("p.eu.livekit.run"), five).attempts,
            3
        );
        assert_eq!(
            Failover::for_host(Some("p.livekit.cloud"), Duration::from_secs(4)).attempts,
            1
        );
        assert_eq!(
            Failover::for_host(Some("livekit.example.com"), five).attempts,
            1
        );
        assert_eq!(Failover::for_host(None, five).attempts, 1);
    }

    #[test]
    fn the_next_region_is_the_first_not_tried() {
        let tried = vec!["a.livekit.cloud:443".to_owned()];
        let regions = [
            "not a url".to_owned(),
            "https://a.livekit.cloud".to_owned(),
            "https://b.livekit.cloud".to_owned(),
        ];

        let next = untried(&regions, &tried).unwrap();

        assert_eq!(next.host_str(), Some("b.livekit.cloud"));
        assert_eq!(untried(&regions[..2], &tried), None);
    }
}
