//! `courier job-types`: a job-types document checked as a deployment reads it, and published
//! for one (uploaded under its digest, with the template parameters derived from it).

use courier_jobs::declared::{self, DeploymentLimits, JobTypesDocument, Target};
use std::time::Duration;

/// The names a deployment's compiled catalog holds, which a declared type may not take.
pub fn compiled_names(examples: bool) -> Vec<&'static str> {
    let aws = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    // A deployed function always has a table, so `ledger` is registered wherever the
    // examples are: any name stands in for it here.
    let options = courier_jobs::CatalogOptions {
        examples,
        ledger_table: Some("courier".into()),
    };
    courier_jobs::catalog(&options, &aws).names().collect()
}

/// The document, or every problem as `pointer: message` lines.
pub fn check(
    text: &str,
    claim_lifetime: Duration,
    compiled: &[&str],
    plain_http_hosts: &[&str],
) -> Result<JobTypesDocument, String> {
    let limits = DeploymentLimits {
        claim_lifetime,
        compiled,
        plain_http_hosts,
    };
    declared::parse(text, limits).map_err(|problems| {
        problems
            .iter()
            .map(|p| {
                let at = if p.pointer.is_empty() {
                    "(document)"
                } else {
                    &p.pointer
                };
                format!("{at}: {}", p.message)
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// `N job types declared: a, b`.
pub fn summary(document: &JobTypesDocument) -> String {
    let names: Vec<&str> = document.types.keys().map(String::as_str).collect();
    format!("{} job types declared: {}", names.len(), names.join(", "))
}

/// Where a caller's account and region put a function, for the processor's policy: an ARN as
/// it is, a name (with its version or alias) as the ARN it has there. Sorted, no repeats.
pub fn lambda_target_arns(
    document: &JobTypesDocument,
    partition: &str,
    region: &str,
    account: &str,
) -> Vec<String> {
    let mut arns: Vec<String> = document
        .types
        .values()
        .filter_map(|t| match &t.target {
            Target::Lambda(function) if function.starts_with("arn:") => Some(function.clone()),
            Target::Lambda(function) => Some(format!(
                "arn:{partition}:lambda:{region}:{account}:function:{function}"
            )),
            Target::Http(_) => None,
        })
        .collect();
    arns.sort();
    arns.dedup();
    arns
}

/// The object key a document is published under: named by its digest, so a changed document
/// is a new key (and a redeploy) and an unchanged one changes nothing.
pub fn object_key(prefix: &str, text: &str) -> String {
    format!(
        "{}/{}.json",
        prefix.trim_end_matches('/'),
        declared::document_digest(text)
    )
}

/// Where a stack keeps a declared HTTP target's signing secrets (an SSM SecureString: one or
/// more `whsec_` secrets, separated by spaces, the first the newest).
pub fn secret_parameter(stack: &str, job_type: &str) -> String {
    format!("/courier/{stack}/targets/{job_type}")
}

fn new_secret() -> String {
    let key: [u8; 32] = rand::random();
    courier_client::webhook::Secret::from_bytes(key.to_vec())
        .expect("32 bytes make a secret")
        .to_whsec()
}

fn ssm_client(aws: &aws_config::SdkConfig) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(aws)
}

/// Gives every HTTP target of the document a signing secret if it has none yet: the types
/// that got one.
pub async fn ensure_secrets(
    aws: &aws_config::SdkConfig,
    stack: &str,
    document: &JobTypesDocument,
) -> Result<Vec<String>, String> {
    let ssm = ssm_client(aws);
    let mut created = Vec::new();
    for (name, declared) in &document.types {
        if !matches!(declared.target, Target::Http(_)) {
            continue;
        }
        let parameter = secret_parameter(stack, name);
        let put = ssm
            .put_parameter()
            .name(&parameter)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .value(new_secret())
            .overwrite(false)
            .send()
            .await;
        match put {
            Ok(_) => created.push(name.clone()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_parameter_already_exists()) => {}
            Err(e) => {
                return Err(format!(
                    "creating {parameter}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(e)
                ));
            }
        }
    }
    Ok(created)
}

/// What `courier job-types secret` does to a target's secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretAction {
    Show,
    /// A new secret first; the others keep signing until retired.
    Rotate,
    /// Only the newest secret signs from now on.
    Retire,
}

/// The secrets after `action`, newest first.
pub async fn secret(
    aws: &aws_config::SdkConfig,
    stack: &str,
    job_type: &str,
    action: SecretAction,
) -> Result<Vec<String>, String> {
    let ssm = ssm_client(aws);
    let parameter = secret_parameter(stack, job_type);
    let current = ssm
        .get_parameter()
        .name(&parameter)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "reading {parameter}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        })?;
    let mut secrets: Vec<String> = current
        .parameter()
        .and_then(|p| p.value())
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    match action {
        SecretAction::Show => return Ok(secrets),
        SecretAction::Rotate => secrets.insert(0, new_secret()),
        SecretAction::Retire => {
            let changed = current
                .parameter()
                .and_then(|p| p.last_modified_date())
                .map(|at| at.secs());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            retire_allowed(changed, now)?;
            secrets.truncate(1)
        }
    }
    ssm.put_parameter()
        .name(&parameter)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .value(secrets.join(" "))
        .overwrite(true)
        .send()
        .await
        .map_err(|e| {
            format!(
                "writing {parameter}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(e)
            )
        })?;
    Ok(secrets)
}

/// How long courier's instances keep a target's secrets (its processor reads them again after
/// that): until then an instance may still sign with only the old ones.
pub const SECRETS_KEPT_FOR_SECONDS: i64 = 300;

/// Retiring the older secrets is safe once every instance has read the rotated list.
pub fn retire_allowed(last_changed: Option<i64>, now: i64) -> Result<(), String> {
    match last_changed {
        Some(at) if now - at < SECRETS_KEPT_FOR_SECONDS => Err(format!(
            "the secrets changed {} s ago; courier's instances keep them up to {} s, so retire \
             the older ones after that (the service must hold the newest one first)",
            now - at,
            SECRETS_KEPT_FOR_SECONDS
        )),
        _ => Ok(()),
    }
}

/// What `publish` derived: the template parameters to deploy with.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Published {
    pub job_types_object: String,
    pub job_type_lambda_targets: String,
}

impl Published {
    /// As `sam deploy --parameter-overrides` takes them.
    pub fn overrides(&self) -> String {
        format!(
            "JobTypesObject={} JobTypeLambdaTargets={}",
            self.job_types_object, self.job_type_lambda_targets
        )
    }
}

/// Uploads a checked document and derives the parameters from it and the caller's account.
pub async fn publish(
    aws: &aws_config::SdkConfig,
    document: &JobTypesDocument,
    text: &str,
    bucket: &str,
    prefix: &str,
) -> Result<Published, String> {
    let identity = aws_sdk_sts::Client::new(aws)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            format!(
                "who am I (STS): {}",
                aws_sdk_sts::error::DisplayErrorContext(e)
            )
        })?;
    let account = identity.account().unwrap_or_default();
    let partition = identity
        .arn()
        .and_then(|arn| arn.split(':').nth(1))
        .unwrap_or("aws");
    let region = aws
        .region()
        .map(ToString::to_string)
        .ok_or("no AWS region: set --region or AWS_REGION")?;
    let key = object_key(prefix, text);
    let mut s3 = aws_sdk_s3::config::Builder::from(aws);
    if aws.endpoint_url().is_some() {
        s3 = s3.force_path_style(true); // an emulator serves buckets under paths
    }
    aws_sdk_s3::Client::from_conf(s3.build())
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(text.as_bytes().to_vec().into())
        .send()
        .await
        .map_err(|e| {
            format!(
                "uploading s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
    Ok(Published {
        job_types_object: format!("{bucket}/{key}"),
        job_type_lambda_targets: lambda_target_arns(document, partition, &region, account)
            .join(","),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn check_names_the_declared_types_or_every_problem_by_pointer() {
        let good = r#"{"jobTypes": {"resize": {"target": {"lambda": "resize-fn"}},
                                     "mail": {"target": {"http": "https://mail.example/send"}}}}"#;
        let document = check(good, DAY, &[], &[]).unwrap();
        assert_eq!(summary(&document), "2 job types declared: mail, resize");
        let bad = r#"{"jobTypes": {"resize": {"target": {"lambda": "resize-fn"},
                                              "timeoutSeconds": 90000, "colour": 1}}}"#;
        let problems = check(bad, DAY, &[], &[]).unwrap_err();
        assert!(problems.starts_with("/jobTypes/resize: "), "{problems}");
    }

    #[test]
    fn a_compiled_types_name_is_refused() {
        let names = compiled_names(true);
        // Every name a deployed function registers (they all have a table for `ledger`).
        for name in ["echo", "fail", "flaky", "ledger", "sha256", "sleep"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let clash = r#"{"jobTypes": {"echo": {"target": {"lambda": "f"}}}}"#;
        assert!(
            check(clash, DAY, &names, &[])
                .unwrap_err()
                .starts_with("/jobTypes/echo: ")
        );
        assert!(check(clash, DAY, &compiled_names(false), &[]).is_ok());
    }

    #[test]
    fn the_processor_may_invoke_exactly_the_declared_functions() {
        let text = r#"{"jobTypes": {
            "a": {"target": {"lambda": "resize"}},
            "b": {"target": {"lambda": "resize"}},
            "c": {"target": {"lambda": "thumbs:live"}},
            "d": {"target": {"lambda": "arn:aws:lambda:eu-west-1:111122223333:function:other"}},
            "e": {"target": {"http": "https://worker.example/x"}}}}"#;
        let document = check(text, DAY, &[], &[]).unwrap();
        assert_eq!(
            lambda_target_arns(&document, "aws", "us-east-1", "000000000000"),
            [
                "arn:aws:lambda:eu-west-1:111122223333:function:other",
                "arn:aws:lambda:us-east-1:000000000000:function:resize",
                "arn:aws:lambda:us-east-1:000000000000:function:thumbs:live",
            ]
        );
    }

    #[test]
    fn a_targets_secret_lives_under_its_stacks_prefix() {
        assert_eq!(
            secret_parameter("courier-prod", "transcode"),
            "/courier/courier-prod/targets/transcode"
        );
        let secret = new_secret();
        assert!(
            courier_client::webhook::Secret::parse(&secret).is_ok(),
            "{secret}"
        );
        assert_ne!(secret, new_secret());
    }

    #[test]
    fn older_secrets_are_retired_only_once_every_instance_has_the_new_one() {
        assert!(retire_allowed(Some(1_000), 1_100).is_err());
        assert!(retire_allowed(Some(1_000), 1_000 + SECRETS_KEPT_FOR_SECONDS).is_ok());
        assert!(retire_allowed(None, 0).is_ok());
    }

    #[test]
    fn a_document_is_published_under_its_digest() {
        let a = object_key("courier/job-types/", "{}");
        assert!(
            a.starts_with("courier/job-types/") && a.ends_with(".json"),
            "{a}"
        );
        assert_eq!(a, object_key("courier/job-types", "{}"));
        assert_ne!(a, object_key("courier/job-types", "{ }"));
    }
}
