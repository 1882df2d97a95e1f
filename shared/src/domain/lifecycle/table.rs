//! Reading a transition table `(from, event, to)`: the same three questions of either lifecycle.

/// Where `event` takes `from`; `None` when the table refuses it.
pub fn transition<S: Copy + Eq, E: Copy + Eq>(table: &[(S, E, S)], from: S, event: E) -> Option<S> {
    table
        .iter()
        .find(|(f, e, _)| *f == from && *e == event)
        .map(|(_, _, to)| *to)
}

/// The states `event` may start from, in table order: what a conditional write checks.
pub fn sources<S: Copy + Eq, E: Copy + Eq>(table: &[(S, E, S)], event: E) -> Vec<S> {
    table
        .iter()
        .filter(|(_, e, _)| *e == event)
        .map(|(from, _, _)| *from)
        .collect()
}

/// The state `event` leads to: each event has exactly one (the tables' tests hold them to it).
pub fn target<S: Copy + Eq, E: Copy + Eq + std::fmt::Debug>(table: &[(S, E, S)], event: E) -> S {
    table
        .iter()
        .find(|(_, e, _)| *e == event)
        .map(|(_, _, to)| *to)
        .unwrap_or_else(|| panic!("{event:?} is not in its table"))
}
