//! A caller's lists (their jobs, their webhook endpoints) through the table's `ByOwner` index:
//! partition `owner`, sort `listedAt` = `<kind>|<createdAt>|<id>`, so one caller's items of
//! one kind sit together, newest last, and a page never reads another caller's partition.
//!
//! The index projects its keys only: an entry is written when its item is created and never
//! again (DynamoDB bills a write to an index whenever a projected attribute changes, so a
//! projected `status` would cost a write on every move of every job). A page's candidates are
//! read (`BatchGetItem`, eventually consistent, only the attributes a page shows) and filtered
//! here.

use super::{port_error, s};
use crate::application::ports::{ListPosition, PortError};
use crate::domain::Principal;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// The index, as `template.yaml` declares it.
pub(super) const INDEX: &str = "ByOwner";
/// The index's sort key attribute.
pub(super) const LISTED_AT: &str = "listedAt";
/// Index entries one page reads at most, over a few queries: a filter that matches little
/// ends a page short (with a cursor) instead of reading the caller's whole history.
const MOST_READ_PER_PAGE: i32 = 500;
const READ_PER_QUERY: i32 = 100;

/// What a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listed {
    Jobs,
    Endpoints,
    Destinations,
    Schedules,
}

impl Listed {
    fn prefix(self) -> &'static str {
        match self {
            Self::Jobs => "job|",
            Self::Endpoints => "endpoint|",
            Self::Destinations => "destination|",
            Self::Schedules => "schedule|",
        }
    }

    fn table_key(self, id: &str) -> String {
        match self {
            Self::Jobs => format!("JOB#{id}"),
            Self::Endpoints | Self::Destinations => format!("ENDPOINT#{id}"),
            Self::Schedules => format!("SCHEDULE#{id}"),
        }
    }
}

/// The sort key of an item created at `created_at` (courier's fixed-width UTC format).
pub(super) fn key(kind: Listed, created_at: &str, id: &str) -> String {
    format!("{}{created_at}|{id}", kind.prefix())
}

fn position_of(kind: Listed, listed_at: &str) -> Option<ListPosition> {
    let (created_at, id) = listed_at.strip_prefix(kind.prefix())?.rsplit_once('|')?;
    Some(ListPosition {
        created_at: created_at.to_owned(),
        id: id.to_owned(),
    })
}

/// One page's query: whose, which kind, the creation window, and which items it keeps, as
/// what (`T`).
pub(super) struct ListQuery<'a, T> {
    pub kind: Listed,
    pub owner: &'a Principal,
    /// Created at or after (inclusive), before (exclusive): stored spellings.
    pub from: Option<String>,
    pub until: Option<String>,
    /// What an item is on the page, if it belongs there (its owner's, unexpired, matching the
    /// filter): read once, kept as what the caller lists.
    pub admit: &'a (dyn Fn(&Item) -> Option<T> + Sync),
    /// The attributes a page shows (none: all): what is kept only for later (a failed job's
    /// work message, its timeline) is not read for a list.
    pub fields: &'a [&'a str],
    pub after: Option<&'a ListPosition>,
    pub limit: usize,
}

/// A page of items, newest first, and where the next page starts.
pub(super) async fn page<T>(
    client: &Client,
    table: &str,
    query: ListQuery<'_, T>,
) -> Result<(Vec<T>, Option<ListPosition>), PortError> {
    let owner = s(query.owner.key());
    let prefix = query.kind.prefix();
    // `listedAt` of an item created at T is `<prefix>T|<id>`: `<prefix>T` sorts just before
    // every item created at T, so BETWEEN `<prefix>from` and `<prefix>until` holds exactly the
    // items created in [from, until). `~` sorts after every timestamp.
    let low = format!("{prefix}{}", query.from.as_deref().unwrap_or(""));
    let high = format!("{prefix}{}", query.until.as_deref().unwrap_or("~"));
    let mut start: Option<Item> = query.after.map(|after| {
        HashMap::from([
            ("pk".to_owned(), s(query.kind.table_key(&after.id))),
            ("owner".to_owned(), owner.clone()),
            (
                LISTED_AT.to_owned(),
                s(key(query.kind, &after.created_at, &after.id)),
            ),
        ])
    });
    let mut found: Vec<T> = Vec::new();
    let mut read = 0;
    loop {
        let out = client
            .query()
            .table_name(table)
            .index_name(INDEX)
            .key_condition_expression("#owner = :owner AND #listed BETWEEN :low AND :high")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#listed", LISTED_AT)
            .expression_attribute_values(":owner", owner.clone())
            .expression_attribute_values(":low", s(&low))
            .expression_attribute_values(":high", s(&high))
            .scan_index_forward(false)
            .limit(READ_PER_QUERY)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| port_error("dynamodb:Query(ByOwner)", e))?;
        read += READ_PER_QUERY;
        let entries: Vec<(String, ListPosition)> = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| {
                let listed_at = entry.get(LISTED_AT)?.as_s().ok()?;
                let position = position_of(query.kind, listed_at)?;
                Some((query.kind.table_key(&position.id), position))
            })
            .collect();
        let keys: Vec<String> = entries.iter().map(|(pk, _)| pk.clone()).collect();
        let mut items = whole_items(client, table, &keys, query.fields).await?;
        let more = out.last_evaluated_key.is_some();
        for (i, (pk, position)) in entries.iter().enumerate() {
            // An item swept since the index was read is simply not there.
            let Some(admitted) = items.remove(pk).and_then(|item| (query.admit)(&item)) else {
                continue;
            };
            found.push(admitted);
            if found.len() == query.limit {
                // Full: the next page starts after this entry, if anything may follow it.
                let next = (i + 1 < entries.len() || more).then(|| position.clone());
                return Ok((found, next));
            }
        }
        match out.last_evaluated_key {
            None => return Ok((found, None)),
            Some(last) if read >= MOST_READ_PER_PAGE => {
                let next = last
                    .get(LISTED_AT)
                    .and_then(|v| v.as_s().ok())
                    .and_then(|listed_at| position_of(query.kind, listed_at));
                return Ok((found, next));
            }
            Some(last) => start = Some(last),
        }
    }
}

/// The items of `keys` (at most [`READ_PER_QUERY`]), read consistently, by key (one gone
/// meanwhile is absent).
async fn whole_items(
    client: &Client,
    table: &str,
    keys: &[String],
    fields: &[&str],
) -> Result<HashMap<String, Item>, PortError> {
    let mut got: HashMap<String, Item> = HashMap::new();
    let mut wanted: Vec<Item> = keys
        .iter()
        .map(|pk| HashMap::from([("pk".to_owned(), s(pk))]))
        .collect();
    // Unprocessed keys (throttling) are asked for again, a few times.
    for _ in 0..5 {
        if wanted.is_empty() {
            return Ok(got);
        }
        // Eventually consistent (half a strongly consistent read's price), like the index the
        // candidates come from.
        let mut request = KeysAndAttributes::builder().set_keys(Some(std::mem::take(&mut wanted)));
        if !fields.is_empty() {
            let names: Vec<String> = (0..fields.len()).map(|i| format!("#f{i}")).collect();
            request = request.projection_expression(names.join(", "));
            for (name, field) in names.iter().zip(fields) {
                request = request.expression_attribute_names(name, *field);
            }
        }
        let request = request
            .build()
            .map_err(|e| port_error("dynamodb:BatchGetItem(list)", e))?;
        let out = client
            .batch_get_item()
            .request_items(table, request)
            .send()
            .await
            .map_err(|e| port_error("dynamodb:BatchGetItem(list)", e))?;
        for item in out
            .responses
            .and_then(|mut r| r.remove(table))
            .unwrap_or_default()
        {
            if let Some(pk) = item.get("pk").and_then(|v| v.as_s().ok()) {
                got.insert(pk.clone(), item);
            }
        }
        wanted = out
            .unprocessed_keys
            .and_then(|mut r| r.remove(table))
            .map(|k| k.keys)
            .unwrap_or_default();
    }
    if wanted.is_empty() {
        Ok(got)
    } else {
        Err(PortError::new(
            "dynamodb:BatchGetItem(list)",
            "keys left unprocessed after retries",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_order_by_creation_and_read_back_as_positions() {
        let a = key(Listed::Jobs, "2026-12-03T00:00:00.000Z", "b");
        let b = key(Listed::Jobs, "2026-12-03T00:00:00.001Z", "a");
        assert!(a < b);
        // The window's bounds, as the query spells them.
        assert!(*"job|2026-12-03T00:00:00.000Z" < *a);
        assert!(*b < *"job|2026-12-03T00:00:00.002Z");
        assert!(*b < *"job|~");
        assert_eq!(
            position_of(Listed::Jobs, &b),
            Some(ListPosition {
                created_at: "2026-12-03T00:00:00.001Z".into(),
                id: "a".into()
            })
        );
        assert_eq!(position_of(Listed::Endpoints, &b), None);
    }
}
