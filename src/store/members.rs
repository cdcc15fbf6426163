//! Folding a sequence of member operations into one membership change, so
//! that a PATCH touching k members costs O(k) row operations whatever the
//! group's size.

use std::collections::HashMap;

use uuid::Uuid;

use crate::scim::patch::{MemberOp, MemberRef};
use crate::scim::schema::ResourceKind;
use crate::store::changes::{self, Change, ChangeKind};

/// The net effect of a group's member operations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipPlan {
    /// Remove every current member not listed in `add` first (a replace or a
    /// remove without a filter was among the operations).
    pub clear_all: bool,
    /// Members that must be present afterwards, in request order.
    pub add: Vec<Uuid>,
    /// The `display` sent with an added member, stored as sent.
    pub displays: HashMap<Uuid, String>,
    /// Members that must be absent afterwards.
    pub remove: Vec<Uuid>,
    /// Member values that are not UUIDs, so cannot name any resource.
    pub invalid: Vec<String>,
}

impl MembershipPlan {
    /// Returns true when the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        !self.clear_all && self.add.is_empty() && self.remove.is_empty()
    }

    /// Builds a plan that makes `members` the whole membership (PUT, or create).
    pub fn replace_with(members: &[MemberRef]) -> Self {
        fold_member_ops(&[MemberOp::Replace(members.to_vec())])
    }
}

/// Members that a plan actually added to and removed from one group, each
/// with its member type (`User` or `Group`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MembershipDelta {
    /// Members that were not in the group before.
    pub added: Vec<(Uuid, String)>,
    /// Members that were in the group before.
    pub removed: Vec<(Uuid, String)>,
}

impl MembershipDelta {
    /// Returns true when the delta changed nothing.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    /// Puts both lists in an order that does not depend on the database:
    /// the order `plan` names the members in, and member id order for rows
    /// removed by `clear_all`. `RETURNING` gives no row order on either
    /// backend, and change records must come out the same on both.
    pub fn sort_by_plan(&mut self, plan: &MembershipPlan) {
        fn positions(ids: &[Uuid]) -> HashMap<Uuid, usize> {
            ids.iter()
                .enumerate()
                .map(|(index, id)| (*id, index))
                .collect()
        }
        let added = positions(&plan.add);
        let removed = positions(&plan.remove);
        self.added
            .sort_by_key(|(id, _)| (added.get(id).copied(), *id));
        self.removed
            .sort_by_key(|(id, _)| (removed.get(id).copied(), *id));
    }

    /// Change records for this delta of group `group_id`: removals first.
    pub fn changes(&self, group_id: Uuid, group_name: &str) -> Vec<Change> {
        let record = |kind, (member_id, member_type): &(Uuid, String)| Change {
            resource_type: ResourceKind::Group,
            resource_id: group_id,
            kind,
            data: changes::member_data(group_id, group_name, *member_id, member_type),
        };
        let removed = self
            .removed
            .iter()
            .map(|m| record(ChangeKind::MemberRemoved, m));
        let added = self
            .added
            .iter()
            .map(|m| record(ChangeKind::MemberAdded, m));
        removed.chain(added).collect()
    }
}

/// Applies `ops` in order: a later operation on the same member wins, and a
/// replace or remove-all discards everything before it.
pub fn fold_member_ops(ops: &[MemberOp]) -> MembershipPlan {
    let mut state = FoldState::default();
    for op in ops {
        match op {
            MemberOp::Add(members) => {
                for member in members {
                    state.add(member);
                }
            }
            MemberOp::Remove(values) => {
                for value in values {
                    state.set(value, false);
                }
            }
            MemberOp::RemoveAll => state.clear(),
            MemberOp::Replace(members) => {
                state.clear();
                for member in members {
                    state.add(member);
                }
            }
        }
    }
    state.into_plan()
}

/// Working state of [`fold_member_ops`]: the last decision per member, in
/// the order members were first named.
#[derive(Default)]
struct FoldState {
    clear_all: bool,
    order: Vec<Uuid>,
    present: HashMap<Uuid, bool>,
    displays: HashMap<Uuid, String>,
    invalid: Vec<String>,
}

impl FoldState {
    fn add(&mut self, member: &MemberRef) {
        self.set(&member.value, true);
        if let (Ok(id), Some(display)) = (Uuid::parse_str(&member.value), &member.display) {
            self.displays.insert(id, display.clone());
        }
    }

    fn set(&mut self, value: &str, is_present: bool) {
        match Uuid::parse_str(value) {
            Ok(id) => {
                if self.present.insert(id, is_present).is_none() {
                    self.order.push(id);
                }
            }
            Err(_) => self.invalid.push(value.to_owned()),
        }
    }

    fn clear(&mut self) {
        self.clear_all = true;
        self.order.clear();
        self.present.clear();
        self.displays.clear();
        self.invalid.clear();
    }

    fn into_plan(self) -> MembershipPlan {
        let mut plan = MembershipPlan {
            clear_all: self.clear_all,
            invalid: self.invalid,
            ..MembershipPlan::default()
        };
        for id in self.order {
            if self.present.get(&id) == Some(&true) {
                if let Some(display) = self.displays.get(&id) {
                    plan.displays.insert(id, display.clone());
                }
                plan.add.push(id);
            } else if !self.clear_all {
                plan.remove.push(id);
            }
        }
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: Uuid) -> MemberRef {
        MemberRef {
            value: id.to_string(),
            display: None,
            member_type: None,
        }
    }

    #[test]
    fn fold_add_then_remove_same_member() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let plan = fold_member_ops(&[
            MemberOp::Add(vec![member(a), member(b)]),
            MemberOp::Remove(vec![a.to_string()]),
        ]);
        assert_eq!(plan.add, vec![b]);
        assert_eq!(plan.remove, vec![a]);
        assert!(!plan.clear_all);
    }

    #[test]
    fn fold_replace_discards_earlier_ops() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let plan = fold_member_ops(&[
            MemberOp::Remove(vec![a.to_string()]),
            MemberOp::Replace(vec![member(b)]),
        ]);
        assert!(plan.clear_all);
        assert_eq!(plan.add, vec![b]);
        assert!(plan.remove.is_empty());
    }

    #[test]
    fn fold_remove_all_then_add() {
        let a = Uuid::now_v7();
        let plan = fold_member_ops(&[MemberOp::RemoveAll, MemberOp::Add(vec![member(a)])]);
        assert!(plan.clear_all);
        assert_eq!(plan.add, vec![a]);
    }

    #[test]
    fn fold_collects_invalid_values() {
        let plan = fold_member_ops(&[MemberOp::Add(vec![MemberRef {
            value: "not-a-uuid".into(),
            display: None,
            member_type: None,
        }])]);
        assert_eq!(plan.invalid, vec!["not-a-uuid".to_string()]);
        assert!(plan.is_empty());
    }

    #[test]
    fn fold_keeps_sent_display() {
        let a = Uuid::now_v7();
        let plan = fold_member_ops(&[MemberOp::Add(vec![MemberRef {
            value: a.to_string(),
            display: Some("Ada".into()),
            member_type: None,
        }])]);
        assert_eq!(plan.displays.get(&a).map(String::as_str), Some("Ada"));
    }

    #[test]
    fn fold_duplicate_adds_once() {
        let a = Uuid::now_v7();
        let plan = fold_member_ops(&[MemberOp::Add(vec![member(a), member(a)])]);
        assert_eq!(plan.add, vec![a]);
    }
}
