//! The body of both POSTs: `{"type": "<job type>", "payload": <any JSON>, "delaySeconds": n}`.

use serde_json::Value;
use thiserror::Error;

/// A validated request to run one job type over a payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub job_type: String,
    pub payload: Value,
    /// Instead of `payload`: an upload of the caller's (`up_…`), as given: whether it exists
    /// and is theirs is the intake's call.
    pub payload_ref: Option<String>,
    /// Hold the work this long before it becomes available to the processor (SQS delay).
    pub delay_seconds: u32,
    /// Run it at this instant instead (how far ahead it may be is the intake's call).
    pub run_at: Option<time::OffsetDateTime>,
    /// The caller's webhook endpoint or destination to deliver the outcome to (callback
    /// pattern; jobs only), as given: whether it exists and is theirs is the intake's call.
    pub callback_endpoint: Option<NamedCallback>,
}

/// A callback as a body names it: `{"endpointId": …}` or `{"destinationId": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedCallback {
    pub kind: super::EndpointKind,
    pub id: String,
}

impl NamedCallback {
    /// The body's field that named it.
    pub fn field(&self) -> &'static str {
        match self.kind {
            super::EndpointKind::Webhook => "callback.endpointId",
            super::EndpointKind::Destination => "callback.destinationId",
        }
    }
}

/// SQS's longest message delay.
pub const MAX_DELAY_SECONDS: u32 = 900;

#[derive(Debug, Error, PartialEq)]
pub enum SubmissionError {
    #[error("the request body must be a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Shape(String),
}

impl Submission {
    /// Checks the shape only; whether the job type exists is the registry's call.
    pub fn from_json(value: Value) -> Result<Self, SubmissionError> {
        if !value.is_object() {
            return Err(SubmissionError::NotAnObject);
        }
        // Optional fields are left out, not null: the documented types admit no null.
        for field in ["delaySeconds", "callback", "payloadRef", "runAt"] {
            if value.get(field).is_some_and(Value::is_null) {
                return Err(SubmissionError::Shape(format!(
                    "{field} must be left out rather than null"
                )));
            }
        }
        let wire: courier_protocol::rest::Submission =
            serde_json::from_value(courier_protocol::json::whole_numbers_as_integers(value))
                .map_err(|e| SubmissionError::Shape(e.to_string()))?;
        let delay_seconds = wire.delay_seconds.unwrap_or(0);
        if wire.payload_ref.is_some() && value_has_payload(&wire.payload) {
            return Err(SubmissionError::Shape(
                "give payload or payloadRef, not both".into(),
            ));
        }
        let run_at = match &wire.run_at {
            None => None,
            Some(_) if wire.delay_seconds.is_some() => {
                return Err(SubmissionError::Shape(
                    "give delaySeconds or runAt, not both".into(),
                ));
            }
            Some(raw) => Some(
                time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        SubmissionError::Shape(format!(
                            "runAt: {raw:?} is not an RFC 3339 date-time (e.g. 2026-12-24T09:00:00Z)"
                        ))
                    })?,
            ),
        };
        if delay_seconds > MAX_DELAY_SECONDS {
            return Err(SubmissionError::Shape(format!(
                "delaySeconds must be from 0 to {MAX_DELAY_SECONDS}"
            )));
        }
        let callback_endpoint = match wire.callback {
            None => None,
            Some(spec) => Some(match (spec.endpoint_id, spec.destination_id) {
                (Some(id), None) => NamedCallback {
                    kind: super::EndpointKind::Webhook,
                    id,
                },
                (None, Some(id)) => NamedCallback {
                    kind: super::EndpointKind::Destination,
                    id,
                },
                _ => {
                    return Err(SubmissionError::Shape(
                        "callback must name exactly one of endpointId or destinationId".into(),
                    ));
                }
            }),
        };
        Ok(Self {
            job_type: wire.job_type,
            payload: wire.payload,
            payload_ref: wire.payload_ref,
            run_at,
            delay_seconds,
            callback_endpoint,
        })
    }
}

/// Whether a body gave a payload (left out, it reads as null).
fn value_has_payload(payload: &Value) -> bool {
    !payload.is_null()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_type_and_payload() {
        let s = Submission::from_json(json!({"type": "echo", "payload": {"a": 1}})).unwrap();
        assert_eq!(s.job_type, "echo");
        assert_eq!(s.payload, json!({"a": 1}));
    }

    #[test]
    fn delay_is_optional_and_bounded() {
        let s = Submission::from_json(json!({"type": "echo", "delaySeconds": 5})).unwrap();
        assert_eq!(s.delay_seconds, 5);
        assert_eq!(
            Submission::from_json(json!({"type": "echo"}))
                .unwrap()
                .delay_seconds,
            0
        );
        assert!(Submission::from_json(json!({"type": "echo", "delaySeconds": 901})).is_err());
        assert!(Submission::from_json(json!({"type": "echo", "delaySeconds": -1})).is_err());
        assert!(Submission::from_json(json!({"type": "echo", "delaySeconds": null})).is_err());
        assert!(Submission::from_json(json!({"type": "echo", "callback": null})).is_err());
    }

    #[test]
    fn a_callback_names_exactly_one_endpoint_or_destination() {
        let named = |callback: Value| {
            Submission::from_json(json!({"type": "echo", "callback": callback}))
                .map(|s| s.callback_endpoint.unwrap())
        };
        let endpoint = named(json!({"endpointId": "ep_1"})).unwrap();
        assert_eq!(
            (endpoint.kind, endpoint.id.as_str(), endpoint.field()),
            (
                super::super::EndpointKind::Webhook,
                "ep_1",
                "callback.endpointId"
            )
        );
        let destination = named(json!({"destinationId": "dst_1"})).unwrap();
        assert_eq!(destination.kind, super::super::EndpointKind::Destination);
        for bad in [
            json!({}),
            json!({"endpointId": "ep_1", "destinationId": "dst_1"}),
            json!({"url": "https://example.com"}),
        ] {
            assert!(named(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_payload_ref_stands_instead_of_a_payload() {
        let s = Submission::from_json(json!({"type": "echo", "payloadRef": "up_1"})).unwrap();
        assert_eq!(s.payload_ref.as_deref(), Some("up_1"));
        assert_eq!(s.payload, Value::Null);
        for bad in [
            json!({"type": "echo", "payloadRef": "up_1", "payload": {"a": 1}}),
            json!({"type": "echo", "payloadRef": null}),
            json!({"type": "echo", "payloadRef": 5}),
        ] {
            assert!(Submission::from_json(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn run_at_is_an_rfc_3339_instant_and_never_beside_a_delay() {
        let s =
            Submission::from_json(json!({"type": "echo", "runAt": "2027-01-01T09:00:00+01:00"}))
                .unwrap();
        assert_eq!(
            s.run_at,
            Some(time::macros::datetime!(2027-01-01 08:00 UTC))
        );
        for bad in [
            json!({"type": "echo", "runAt": "tomorrow"}),
            json!({"type": "echo", "runAt": "2027-01-01 09:00"}),
            json!({"type": "echo", "runAt": "2027-01-01T09:00:00Z", "delaySeconds": 5}),
            json!({"type": "echo", "runAt": null}),
        ] {
            assert!(Submission::from_json(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn payload_defaults_to_null() {
        let s = Submission::from_json(json!({"type": "echo"})).unwrap();
        assert_eq!(s.payload, Value::Null);
    }

    #[test]
    fn rejects_wrong_shapes_precisely() {
        assert_eq!(
            Submission::from_json(json!([1])),
            Err(SubmissionError::NotAnObject)
        );
        let missing = Submission::from_json(json!({"payload": 1})).unwrap_err();
        assert!(
            missing.to_string().contains("missing field `type`"),
            "{missing}"
        );
        let wrong = Submission::from_json(json!({"type": 5})).unwrap_err();
        assert!(wrong.to_string().contains("invalid type"), "{wrong}");
        let extra = Submission::from_json(json!({"type": "echo", "priority": 1})).unwrap_err();
        assert!(
            extra.to_string().contains("unknown field `priority`"),
            "{extra}"
        );
    }
}
