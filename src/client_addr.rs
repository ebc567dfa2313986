//! The client's address as throttles see it: the TCP peer, or what a trusted proxy forwarded.
//!
//! `X-Forwarded-For` and `Forwarded` are trusted only when the peer is in
//! `--trusted-proxies`; anyone can send those headers to a server reached
//! directly. The chain is read from the right, skipping trusted proxies, so
//! a client cannot hide behind an address it prepends itself.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::app::AppState;

/// The client's address; `None` only when the request did not come through
/// a socket (router-only tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Ok(Self(peer.map(|peer| {
            client_ip(peer, &parts.headers, &state.settings.trusted_proxies)
        })))
    }
}

impl ClientAddr {
    /// The address as stored in throttling tables.
    pub fn as_text(&self) -> Option<String> {
        self.0.map(|ip| canonical(ip).to_string())
    }
}

/// IPv4 clients seen through an IPv6 socket (`::ffff:a.b.c.d`) count as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = canonical(ip);
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client behind `peer`: the right-most forwarded address that is not a
/// trusted proxy. An unparseable or obfuscated hop ends the walk at the proxy
/// that reported it.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return canonical(peer);
    }
    let chain = if headers.contains_key("forwarded") {
        forwarded_for(headers)
    } else {
        x_forwarded_for(headers)
    };
    let mut client = peer;
    for hop in chain.into_iter().rev() {
        let Some(ip) = hop else { break };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    canonical(client)
}

/// Every comma-separated element of every `name` header, left to right, read by `hop`.
fn hops(headers: &HeaderMap, name: &str, hop: impl Fn(&str) -> Option<IpAddr>) -> Vec<Option<IpAddr>> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| {
            value
                .to_str()
                .unwrap_or("?")
                .split(',')
                .map(&hop)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every hop of every `X-Forwarded-For` header.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    hops(headers, "x-forwarded-for", |element| parse_hop(element.trim()))
}

/// The `for=` parameter of every element of every `Forwarded` header (RFC 7239).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    hops(headers, "forwarded", |element| {
        element
            .split(';')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
            .and_then(|(_, value)| parse_hop(value.trim().trim_matches('"')))
    })
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`; anything else is `None`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(address) = hop.parse::<SocketAddr>() {
        return Some(address.ip());
    }
    hop.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

/// Parses `--trusted-proxies`: addresses or CIDR ranges.
pub fn parse_trusted(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{value}` is not an IP address or CIDR range such as 10.0.0.0/8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| parse_trusted(n).unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_are_ignored_from_untrusted_peers() {
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(client_ip(ip("203.0.113.9"), &h, &[]), ip("203.0.113.9"));
        assert_eq!(
            client_ip(ip("203.0.113.9"), &h, &nets(&["10.0.0.0/8"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = nets(&["10.0.0.0/8", "127.0.0.1"]);
        // The client prepended a fake address; the proxy appended the real one.
        let h = headers(&[("x-forwarded-for", "9.9.9.9, 198.51.100.7, 10.1.1.1")]);
        assert_eq!(client_ip(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.7"));
        // Several header lines form one list.
        let h = headers(&[
            ("x-forwarded-for", "9.9.9.9"),
            ("x-forwarded-for", "198.51.100.8"),
        ]);
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.8"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn rfc_7239_forwarded_is_understood() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=https, For=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("2001:db8:cafe::17"));
        // An obfuscated hop stops the walk at the proxy that reported it.
        let h = headers(&[("forwarded", "for=192.0.2.60, for=_hidden")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn mapped_ipv4_counts_as_ipv4() {
        let trusted = nets(&["127.0.0.1"]);
        assert_eq!(
            client_ip(
                ip("::ffff:127.0.0.1"),
                &headers(&[("x-forwarded-for", "192.0.2.1")]),
                &trusted
            ),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_ip(ip("::ffff:192.0.2.2"), &HeaderMap::new(), &[]),
            ip("192.0.2.2")
        );
    }

    #[test]
    fn trusted_proxy_settings_parse_or_explain() {
        assert!(parse_trusted("10.0.0.0/8").is_ok());
        assert!(parse_trusted("::1").is_ok());
        assert!(parse_trusted("proxy.local").unwrap_err().contains("CIDR"));
    }
}
