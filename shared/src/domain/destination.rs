//! Where a caller's callbacks go: an HTTPS URL (a webhook endpoint), or a destination — an SQS
//! queue or an EventBridge event bus, in any account, named by its ARN. What a destination ARN
//! may be is decided here; whether courier may send to it is proved at registration.

use std::fmt;
use thiserror::Error;

/// Where one endpoint's deliveries are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackTarget {
    /// A signed POST to this URL.
    Url(String),
    /// A signed message on this SQS queue.
    Queue(ResourceArn),
    /// A signed event on this EventBridge bus.
    EventBus(ResourceArn),
}

impl CallbackTarget {
    /// The URL of a webhook endpoint; `None` for a destination.
    pub fn url(&self) -> Option<&str> {
        match self {
            Self::Url(url) => Some(url),
            Self::Queue(_) | Self::EventBus(_) => None,
        }
    }

    /// The ARN of a destination; `None` for a webhook endpoint.
    pub fn arn(&self) -> Option<&ResourceArn> {
        match self {
            Self::Url(_) => None,
            Self::Queue(arn) | Self::EventBus(arn) => Some(arn),
        }
    }
}

/// An SQS queue's or an event bus's ARN, checked: `arn:<partition>:sqs:<region>:<account>:<queue>`
/// or `arn:<partition>:events:<region>:<account>:event-bus/<bus>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceArn {
    /// The whole ARN, as given.
    arn: String,
    pub partition: String,
    pub region: String,
    pub account: String,
    /// The queue's or the bus's name.
    pub name: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum InvalidDestination {
    #[error("{0:?} is not an SQS queue ARN (arn:aws:sqs:<region>:<12-digit account>:<queue name>)")]
    NotAQueue(String),
    #[error(
        "{0:?} is not an EventBridge bus ARN (arn:aws:events:<region>:<12-digit account>:event-bus/<bus name>)"
    )]
    NotABus(String),
    #[error("{0} is a FIFO queue; FIFO destinations are not supported yet")]
    Fifo(String),
    #[error("{0} is in {1}; a destination must be in this stack's region, {2}")]
    OtherRegion(String, String, String),
    #[error("{0} is one of this stack's own queues or buses; name one of yours")]
    OwnResource(String),
    #[error(
        "{0} is in this stack's own account, which takes destinations only when the operator allows it (SameAccountDestinations)"
    )]
    SameAccount(String),
    #[error("give exactly one of sqs or eventBridge")]
    NotExactlyOne,
}

/// The parts of `arn:<partition>:<service>:<region>:<account>:<resource>`.
fn split(raw: &str, service: &str) -> Option<(String, String, String, String)> {
    let mut parts = raw.splitn(6, ':');
    let (arn, partition, found, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let partition_ok = partition == "aws" || partition.starts_with("aws-");
    let region_ok = !region.is_empty()
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (arn == "arn" && found == service && partition_ok && region_ok && account_ok).then(|| {
        (
            partition.to_owned(),
            region.to_owned(),
            account.to_owned(),
            resource.to_owned(),
        )
    })
}

impl ResourceArn {
    /// A standard queue's ARN. Queue names are 1–80 letters, digits, `-` and `_`
    /// (a FIFO queue's end in `.fifo`, refused for now).
    pub fn queue(raw: &str) -> Result<Self, InvalidDestination> {
        let not_a_queue = || InvalidDestination::NotAQueue(raw.to_owned());
        let (partition, region, account, name) = split(raw, "sqs").ok_or_else(not_a_queue)?;
        if let Some(stem) = name.strip_suffix(".fifo")
            && valid_queue_name(stem)
        {
            return Err(InvalidDestination::Fifo(raw.to_owned()));
        }
        if !valid_queue_name(&name) {
            return Err(not_a_queue());
        }
        Ok(Self {
            arn: raw.to_owned(),
            partition,
            region,
            account,
            name,
        })
    }

    /// An event bus's ARN. Bus names are 1–256 letters, digits, `.`, `-`, `_` and `/`.
    pub fn event_bus(raw: &str) -> Result<Self, InvalidDestination> {
        let not_a_bus = || InvalidDestination::NotABus(raw.to_owned());
        let (partition, region, account, resource) = split(raw, "events").ok_or_else(not_a_bus)?;
        let name = resource.strip_prefix("event-bus/").ok_or_else(not_a_bus)?;
        let valid = (1..=256).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-_/".contains(&b));
        if !valid {
            return Err(not_a_bus());
        }
        Ok(Self {
            arn: raw.to_owned(),
            partition,
            region,
            account,
            name: name.to_owned(),
        })
    }

    /// The queue's URL, as SQS's API takes it (for any account).
    pub fn queue_url(&self) -> String {
        let domain = match self.partition.as_str() {
            "aws-cn" => "amazonaws.com.cn",
            _ => "amazonaws.com",
        };
        format!(
            "https://sqs.{}.{domain}/{}/{}",
            self.region, self.account, self.name
        )
    }
}

fn valid_queue_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl fmt::Display for ResourceArn {
    /// The ARN as it was given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_arns_are_read_into_their_parts() {
        let arn = ResourceArn::queue("arn:aws:sqs:eu-west-1:123456789012:results_1").unwrap();
        assert_eq!(
            (arn.region.as_str(), arn.account.as_str(), arn.name.as_str()),
            ("eu-west-1", "123456789012", "results_1")
        );
        assert_eq!(
            arn.queue_url(),
            "https://sqs.eu-west-1.amazonaws.com/123456789012/results_1"
        );
        assert_eq!(
            arn.to_string(),
            "arn:aws:sqs:eu-west-1:123456789012:results_1"
        );
    }

    #[test]
    fn what_is_not_a_standard_queue_is_refused_precisely() {
        for bad in [
            "",
            "results",
            "https://sqs.us-east-1.amazonaws.com/123456789012/results",
            "arn:aws:sns:us-east-1:123456789012:results",
            "arn:aws:sqs:us-east-1:12345:results",
            "arn:aws:sqs:US-EAST-1:123456789012:results",
            "arn:aws:sqs:us-east-1:123456789012:",
            "arn:aws:sqs:us-east-1:123456789012:a/b",
            "arn:other:sqs:us-east-1:123456789012:results",
        ] {
            assert_eq!(
                ResourceArn::queue(bad),
                Err(InvalidDestination::NotAQueue(bad.into())),
                "{bad:?}"
            );
        }
        let long = format!("arn:aws:sqs:us-east-1:123456789012:{}", "q".repeat(81));
        assert!(ResourceArn::queue(&long).is_err());
        let fifo = "arn:aws:sqs:us-east-1:123456789012:results.fifo";
        assert_eq!(
            ResourceArn::queue(fifo),
            Err(InvalidDestination::Fifo(fifo.into()))
        );
    }

    #[test]
    fn bus_arns_are_read_into_their_parts() {
        let arn =
            ResourceArn::event_bus("arn:aws:events:us-east-1:123456789012:event-bus/orders.v1")
                .unwrap();
        assert_eq!(arn.name, "orders.v1");
        assert_eq!(
            arn.to_string(),
            "arn:aws:events:us-east-1:123456789012:event-bus/orders.v1"
        );
        for bad in [
            "arn:aws:events:us-east-1:123456789012:rule/orders",
            "arn:aws:events:us-east-1:123456789012:event-bus/",
            "arn:aws:events:us-east-1:123456789012:event-bus/a b",
            "arn:aws:sqs:us-east-1:123456789012:event-bus/orders",
        ] {
            assert_eq!(
                ResourceArn::event_bus(bad),
                Err(InvalidDestination::NotABus(bad.into())),
                "{bad:?}"
            );
        }
    }
}
