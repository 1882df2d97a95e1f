//! Every queue in the template is watched: each has an alarm and a place on the dashboard.
//! Queues that are read (work, callbacks, the dead-letter inboxes) alarm on the age of their
//! oldest message, dead-letter queues on holding anything, and the dead-letter inboxes — where a
//! failing reader would otherwise leave jobs unended for days, unseen — on both depth and age.
//! (The emulator does not evaluate alarms, so they are held to this here.)

const TEMPLATE: &str = include_str!("../../template.yaml");

/// The template's resources: (name, its lines), in order.
fn resources() -> Vec<(String, String)> {
    let body = TEMPLATE
        .split("\nResources:\n")
        .nth(1)
        .expect("a Resources section");
    let body = body.split("\nOutputs:\n").next().unwrap();
    let mut resources: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        let top =
            line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':');
        if top && !line.trim_start().starts_with('#') {
            resources.push((line.trim().trim_end_matches(':').to_owned(), String::new()));
        } else if let Some((_, text)) = resources.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    resources
}

fn of_type<'a>(resources: &'a [(String, String)], kind: &str) -> Vec<&'a (String, String)> {
    let wanted = format!("Type: {kind}\n");
    resources
        .iter()
        .filter(|(_, text)| text.contains(&wanted))
        .collect()
}

/// The metrics the alarms watch on `queue`.
fn alarmed_metrics(resources: &[(String, String)], queue: &str) -> Vec<String> {
    let dimension = format!("!GetAtt {queue}.QueueName}}");
    of_type(resources, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, text)| text.contains(&dimension))
        .filter_map(|(_, text)| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix("MetricName: "))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn every_queue_has_its_alarms_and_a_place_on_the_dashboard() {
    let resources = resources();
    let queues: Vec<&str> = of_type(&resources, "AWS::SQS::Queue")
        .into_iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert!(queues.len() >= 8, "{queues:?}");
    let dashboard = &of_type(&resources, "AWS::CloudWatch::Dashboard")[0].1;
    for queue in queues {
        let metrics = alarmed_metrics(&resources, queue);
        let depth = metrics
            .iter()
            .any(|m| m == "ApproximateNumberOfMessagesVisible");
        let age = metrics.iter().any(|m| m == "ApproximateAgeOfOldestMessage");
        if queue.ends_with("DeadLetterInbox") {
            assert!(
                depth && age,
                "{queue}: depth and age alarms, found {metrics:?}"
            );
        } else if queue.ends_with("DeadLetterQueue") {
            assert!(depth, "{queue}: a depth alarm, found {metrics:?}");
        } else {
            assert!(age, "{queue}: an age alarm, found {metrics:?}");
        }
        assert!(
            dashboard.contains(&format!("${{{queue}.QueueName}}")),
            "{queue} is not on the dashboard"
        );
    }
}
