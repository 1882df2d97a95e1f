//! Which callback URLs courier will call. Checked at submission and again at delivery, because a
//! name can resolve differently later (DNS rebinding): only global addresses are allowed, unless
//! the host is on an explicit allow-list (local development and tests).
//!
//! URLs are parsed by the WHATWG rules (`url` crate), so every spelling of an IPv4 address
//! (decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, short `127.1`) arrives here as the
//! address it means.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use thiserror::Error;
use url::{Host, Url};

/// The longest callback URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// The longest a name lookup may take: past it, the name is unresolvable for now, not for good.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlRejected {
    #[error("the URL is not a valid absolute URL: {0}")]
    Malformed(String),
    #[error("the URL must be at most {MAX_URL_LEN} characters")]
    TooLong,
    #[error("the URL must use https (or http where allowed), not {0}")]
    Scheme(String),
    #[error("the URL must use https")]
    HttpNotAllowed,
    #[error("the URL must not contain credentials (user:password@)")]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error(
        "the URL points at a non-public address ({0}): loopback, private, link-local, unique-local, multicast and metadata addresses are refused"
    )]
    ForbiddenAddress(IpAddr),
    #[error("the URL host {0} does not resolve")]
    Unresolvable(String),
    /// The resolver did not answer (timed out, or a temporary failure): retry later.
    #[error("the URL host {0} could not be resolved just now ({1}); retry")]
    ResolverUnavailable(String, String),
}

impl UrlRejected {
    /// True when the same URL may pass later: the resolver failed, not the URL.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::ResolverUnavailable(..))
    }
}

/// What a name lookup's failure means. The system resolver reports only a message: a name
/// that does not exist (`EAI_NONAME`, `EAI_NODATA`) is an answer; anything else (`EAI_AGAIN`,
/// `EAI_FAIL`, a broken resolver configuration) is the resolver failing, so it may pass later.
fn lookup_failed(host: &str, error: &std::io::Error) -> UrlRejected {
    let text = error.to_string();
    let no_such_name = [
        "Name or service not known",
        "No address associated with hostname",
        "nodename nor servname provided",
    ];
    match no_such_name.iter().any(|answer| text.contains(answer)) {
        true => UrlRejected::Unresolvable(host.to_owned()),
        false => UrlRejected::ResolverUnavailable(host.to_owned(), text),
    }
}

/// The addresses `host` resolves to, within [`DNS_TIMEOUT`].
pub async fn look_up(host: &str, port: u16) -> Result<Vec<IpAddr>, UrlRejected> {
    match tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host, port))).await {
        Err(_) => Err(UrlRejected::ResolverUnavailable(
            host.to_owned(),
            format!("no answer within {} s", DNS_TIMEOUT.as_secs()),
        )),
        Ok(Err(error)) => Err(lookup_failed(host, &error)),
        Ok(Ok(found)) => Ok(found.map(|address| address.ip()).collect()),
    }
}

/// The rules, from configuration.
#[derive(Debug, Clone, Default)]
pub struct SsrfPolicy {
    /// Allow `http://` (local development); production callbacks are `https://` only.
    pub allow_http: bool,
    /// Hosts exempt from the address check, exactly as they appear in URLs (`127.0.0.1`,
    /// `localhost`). The only way around the guard.
    pub allowed_hosts: Vec<String>,
}

/// A URL that passed the syntactic checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackUrl(Url);

impl CallbackUrl {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    pub fn host(&self) -> String {
        self.0.host_str().unwrap_or_default().to_owned()
    }

    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

impl SsrfPolicy {
    fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    /// Everything that can be told from the URL alone: scheme, credentials, and literal
    /// addresses.
    pub fn check_url(&self, raw: &str) -> Result<CallbackUrl, UrlRejected> {
        if raw.len() > MAX_URL_LEN {
            return Err(UrlRejected::TooLong);
        }
        let url = Url::parse(raw).map_err(|e| UrlRejected::Malformed(e.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(UrlRejected::HttpNotAllowed),
            other => return Err(UrlRejected::Scheme(other.to_owned())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRejected::Credentials);
        }
        let host = url.host_str().ok_or(UrlRejected::NoHost)?.to_owned();
        if !self.host_allowed(&host) {
            let literal = match url.host() {
                Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| is_forbidden(*ip)) {
                return Err(UrlRejected::ForbiddenAddress(ip));
            }
        }
        Ok(CallbackUrl(url))
    }

    /// The addresses a name resolved to, checked: every one must be allowed (one bad answer
    /// is enough to refuse). The caller connects only to what this returns.
    pub fn check_addresses(
        &self,
        url: &CallbackUrl,
        addresses: &[IpAddr],
    ) -> Result<Vec<SocketAddr>, UrlRejected> {
        if addresses.is_empty() {
            return Err(UrlRejected::Unresolvable(url.host()));
        }
        if !self.host_allowed(&url.host())
            && let Some(bad) = addresses.iter().find(|ip| is_forbidden(**ip))
        {
            return Err(UrlRejected::ForbiddenAddress(*bad));
        }
        Ok(addresses
            .iter()
            .map(|ip| SocketAddr::new(*ip, url.port()))
            .collect())
    }

    /// Resolves the URL's host and checks every address.
    pub async fn resolve(&self, url: &CallbackUrl) -> Result<Vec<SocketAddr>, UrlRejected> {
        let addresses: Vec<IpAddr> = match url.url().host() {
            Some(Host::Ipv4(ip)) => vec![IpAddr::V4(ip)],
            Some(Host::Ipv6(ip)) => vec![IpAddr::V6(ip)],
            _ => look_up(&url.host(), url.port()).await?,
        };
        self.check_addresses(url, &addresses)
    }
}

/// True for every address a callback must never reach.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, cloud metadata included
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let segments = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    match segments[0] {
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
        0x0064 if segments[1] == 0xff9b => forbidden_v4(embedded_v4(segments[6], segments[7])),
        // 6to4 (2002::/16) reaches the IPv4 address in bits 16..48.
        0x2002 => forbidden_v4(embedded_v4(segments[1], segments[2])),
        // Teredo (2001::/32) and documentation (2001:db8::/32).
        0x2001 if segments[1] == 0 || segments[1] == 0x0db8 => true,
        // Otherwise only global unicast (2000::/3) is public; this excludes ::, ::1,
        // IPv4-compatible ::a.b.c.d, unique-local fc00::/7 (AWS IMDS fd00:ec2::254),
        // link-local fe80::/10, site-local and multicast ff00::/8.
        first => first & 0xe000 != 0x2000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> SsrfPolicy {
        SsrfPolicy::default()
    }

    #[test]
    fn refuses_hostile_urls_whatever_their_spelling() {
        let policy = SsrfPolicy {
            allow_http: true,
            allowed_hosts: vec![],
        };
        let forbidden = [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0x7f.0.0.1/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://0.0.0.0:8080/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.0.10/",
            "http://100.64.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://169.254.170.2/v2/credentials",
            "http://224.0.0.1/",
            "http://255.255.255.255/",
            "http://[::1]/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::127.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://[fc00::1]/",
            "http://[fe80::1]/",
            "http://[ff02::1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:7f00:1::]/",
            "http://[2001:db8::1]/",
        ];
        for url in forbidden {
            let rejected = policy.check_url(url);
            assert!(
                matches!(rejected, Err(UrlRejected::ForbiddenAddress(_))),
                "{url}: {rejected:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_schemes_credentials_and_garbage() {
        let cases = [
            ("http://example.com/", UrlRejected::HttpNotAllowed),
            ("ftp://example.com/", UrlRejected::Scheme("ftp".into())),
            ("file:///etc/passwd", UrlRejected::Scheme("file".into())),
            (
                "gopher://example.com:70/",
                UrlRejected::Scheme("gopher".into()),
            ),
            ("https://user:pw@example.com/", UrlRejected::Credentials),
            ("https://example.com@127.0.0.1/", UrlRejected::Credentials),
            (
                "https://hooks.example.com:443@10.0.0.1/",
                UrlRejected::Credentials,
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(strict().check_url(url), Err(expected), "{url}");
        }
        for garbage in ["not a url", "/relative/path", "https://", "https://[::1"] {
            assert!(strict().check_url(garbage).is_err(), "{garbage}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(strict().check_url(&long), Err(UrlRejected::TooLong));
    }

    #[test]
    fn accepts_public_https_urls() {
        for url in [
            "https://example.com/hooks/courier?x=1",
            "https://93.184.216.34/cb",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/cb",
            "https://8.8.8.8:8443/",
        ] {
            assert!(strict().check_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn the_allow_list_is_the_only_way_around() {
        let local = SsrfPolicy {
            allow_http: true,
            allowed_hosts: vec!["127.0.0.1".into(), "localhost".into()],
        };
        assert!(local.check_url("http://127.0.0.1:9000/cb").is_ok());
        assert!(matches!(
            local.check_url("http://127.0.0.2/cb"),
            Err(UrlRejected::ForbiddenAddress(_))
        ));
        let url = local.check_url("http://localhost:9000/cb").unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            local.check_addresses(&url, &[loopback]).unwrap(),
            vec!["127.0.0.1:9000".parse().unwrap()]
        );
    }

    #[test]
    fn a_name_resolving_to_any_forbidden_address_is_refused() {
        let url = strict().check_url("https://rebind.example.com/cb").unwrap();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        assert_eq!(
            strict().check_addresses(&url, &[public]).unwrap(),
            vec!["93.184.216.34:443".parse().unwrap()]
        );
        assert_eq!(
            strict().check_addresses(&url, &[public, metadata]),
            Err(UrlRejected::ForbiddenAddress(metadata))
        );
        assert_eq!(
            strict().check_addresses(&url, &[]),
            Err(UrlRejected::Unresolvable("rebind.example.com".into()))
        );
    }

    #[test]
    fn a_name_that_does_not_exist_is_refused_and_a_failing_resolver_is_temporary() {
        let failure = |text: &str| {
            std::io::Error::other(format!("failed to lookup address information: {text}"))
        };
        for answer in [
            "Name or service not known",
            "No address associated with hostname",
        ] {
            let refused = lookup_failed("gone.example", &failure(answer));
            assert_eq!(refused, UrlRejected::Unresolvable("gone.example".into()));
            assert!(!refused.is_temporary());
        }
        for failing in [
            "Temporary failure in name resolution",
            "Non-recoverable failure in name resolution",
            "System error",
        ] {
            assert!(
                lookup_failed("h.example", &failure(failing)).is_temporary(),
                "{failing}"
            );
        }
    }

    #[tokio::test]
    async fn a_name_that_does_not_exist_is_an_answer() {
        assert_eq!(
            look_up("no-such-host.invalid", 443).await,
            Err(UrlRejected::Unresolvable("no-such-host.invalid".into()))
        );
    }

    #[tokio::test]
    async fn resolving_localhost_is_refused_without_the_allow_list() {
        let policy = SsrfPolicy {
            allow_http: true,
            allowed_hosts: vec![],
        };
        let url = policy.check_url("http://localhost:9/").unwrap();
        assert!(matches!(
            policy.resolve(&url).await,
            Err(UrlRejected::ForbiddenAddress(_))
        ));
    }
}
