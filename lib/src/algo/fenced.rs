//! `fenced`: `token` whose acquire script also answers the next value of a per-lock counter, so
//! each acquisition carries a strictly increasing fence. The protected resource keeps the last
//! fence it accepted and refuses writes with an older one ([`crate::FencedResource`]).

use super::token::{Attempt, PollAcquire};
use super::{
    AcquireParams, ExtendParams, Protocol, ReleaseParams, checked_extend, checked_release,
};
use crate::proto::{Bytes, Keys, Machine};
use crate::scripts;

/// The `fenced` algorithm.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fenced;

impl Protocol for Fenced {
    fn name(&self) -> &'static str {
        "fenced"
    }

    fn acquire(&self, params: AcquireParams) -> Box<dyn Machine> {
        Box::new(PollAcquire::new(params, Attempt::Fenced))
    }

    fn release(&self, p: ReleaseParams) -> Box<dyn Machine> {
        Box::new(checked_release(&scripts::RELEASE, vec![p.grant.token], vec![p.keys.lock]))
    }

    fn extend(&self, p: ExtendParams) -> Option<Box<dyn Machine>> {
        Some(Box::new(checked_extend(&p)))
    }

    fn kept_keys(&self, keys: &Keys) -> Vec<Bytes> {
        vec![keys.fence.clone()]
    }

    fn fenced(&self) -> bool {
        true
    }
}
