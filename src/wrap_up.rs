//! The kind of help given in a specialist's last call, set after the call
//! when no wrap-up code came from the phone (the specialist hung up first,
//! or the menu timed out): one use-case for the API
//! (`POST /api/v1/specialists/{id}/wrap-up`) and the specialist's page
//! (`POST /me/wrap-up`).
//!
//! The kind must be one the router has in service; the call is the
//! specialist's last answered one and must have no kind yet. The kind is
//! stored first (set once, whoever is first wins), then told to the router,
//! which applies the kind's rest and crisis count, then written to the
//! audit log as `wrap-up-call`. HTTP maps [`WrapUpError`] to status codes,
//! the page to a message.

use crate::call::CallContext;
use crate::follow_ups::Requester;
use crate::store::audit::{self, AuditEntry};
use crate::store::{calls, Store, StoreError};
use crate::util::time::now_ms;

/// Why a kind could not be given.
#[derive(Debug, thiserror::Error)]
pub enum WrapUpError {
    /// A specialist's token or session that names no specialist.
    #[error("this token names no specialist")]
    NoSpecialist,
    /// A specialist asked for another specialist's call.
    #[error("a specialist may code only their own calls")]
    NotTheirs,
    /// No specialist with this id is in service.
    #[error("not found")]
    UnknownSpecialist,
    /// The kind is not one of `[wrap_up]`.
    #[error("`{0}` is not a wrap-up kind")]
    UnknownKind(String),
    /// The specialist has answered no call yet.
    #[error("no call of this specialist yet")]
    NoCall,
    /// The last call has its kind already (from the phone, or given before).
    #[error("the last call has its kind already")]
    AlreadyGiven,
    /// Senim is stopping: the router does not answer.
    #[error("stopping")]
    Stopping,
    /// A query failed.
    #[error("database: {0}")]
    Store(StoreError),
}

/// The kind given: which call, and the kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub call: String,
    pub kind: String,
}

/// May `who` give the kind of `specialist`'s calls? Staff for anyone, a
/// specialist only for themselves.
pub fn may_give(who: &Requester<'_>, specialist: &str) -> Result<(), WrapUpError> {
    if who.staff {
        return Ok(());
    }
    match who.specialist {
        None => Err(WrapUpError::NoSpecialist),
        Some(own) if own == specialist => Ok(()),
        Some(_) => Err(WrapUpError::NotTheirs),
    }
}

/// `kind` (trimmed) if it is one of `kinds`.
pub fn known_kind(kinds: &[String], kind: &str) -> Result<String, WrapUpError> {
    let kind = kind.trim();
    if kinds.iter().any(|k| k == kind) {
        Ok(kind.to_string())
    } else {
        Err(WrapUpError::UnknownKind(kind.to_string()))
    }
}

/// The call whose kind may be given, from the specialist's last call and
/// its kind (`store::calls::last_call_of_specialist`).
pub fn uncoded_call(last: Option<(String, Option<String>)>) -> Result<String, WrapUpError> {
    match last {
        None => Err(WrapUpError::NoCall),
        Some((_, Some(_))) => Err(WrapUpError::AlreadyGiven),
        Some((call, None)) => Ok(call),
    }
}

/// The specialist's last call, if it has no kind yet (for the page's form).
pub async fn uncoded_last_call(
    store: &Store,
    specialist: &str,
) -> Result<Option<String>, StoreError> {
    let last = calls::last_call_of_specialist(store, specialist).await?;
    Ok(uncoded_call(last).ok())
}

/// The ids of the kinds in service, in menu order.
pub async fn kinds(ctx: &CallContext) -> Result<Vec<String>, WrapUpError> {
    ctx.router
        .wrap_up_kinds()
        .await
        .ok_or(WrapUpError::Stopping)
}

/// Give `kind` to `specialist`'s last call, asked by `who`: checked, stored
/// once, told to the router and audited.
pub async fn give(
    ctx: &CallContext,
    store: &Store,
    who: &Requester<'_>,
    specialist: &str,
    kind: &str,
) -> Result<Given, WrapUpError> {
    may_give(who, specialist)?;
    if ctx.config().specialists.get(specialist).is_none() {
        return Err(WrapUpError::UnknownSpecialist);
    }
    let kind = known_kind(&kinds(ctx).await?, kind)?;
    let last = calls::last_call_of_specialist(store, specialist)
        .await
        .map_err(WrapUpError::Store)?;
    let call = uncoded_call(last)?;
    if !calls::set_wrap_up(store, &call, &kind)
        .await
        .map_err(WrapUpError::Store)?
    {
        return Err(WrapUpError::AlreadyGiven);
    }
    // The kind is stored: the router's part and the audit log follow; a
    // failure of either is logged, the kind stays given.
    match ctx.router.wrap_up(specialist, &kind).await {
        Some(true) => {}
        Some(false) => {
            tracing::warn!(
                specialist,
                kind,
                "the router no longer knows the specialist or kind"
            )
        }
        None => tracing::warn!(specialist, "the router stopped before the kind was applied"),
    }
    let detail = serde_json::json!({ "call": call, "kind": kind });
    let entry = AuditEntry {
        at_ms: now_ms(),
        token_name: who.name,
        role: who.role,
        action: "wrap-up-call",
        target: Some(specialist),
        detail: Some(detail.to_string()),
    };
    if let Err(e) = audit::write(store, &entry).await {
        tracing::error!(error = %e, "cannot write the audit log of a wrap-up kind");
    }
    Ok(Given { call, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specialist(id: &str) -> Requester<'_> {
        Requester {
            name: id,
            role: "specialist",
            staff: false,
            specialist: Some(id),
        }
    }

    #[test]
    fn staff_give_anyone_s_kind_a_specialist_only_their_own() {
        let staff = Requester {
            name: "dana",
            role: "coordinator",
            staff: true,
            specialist: None,
        };
        assert!(may_give(&staff, "erlan").is_ok());
        assert!(may_give(&specialist("erlan"), "erlan").is_ok());
        assert!(matches!(
            may_give(&specialist("asel"), "erlan"),
            Err(WrapUpError::NotTheirs)
        ));
        let nobody = Requester {
            specialist: None,
            ..specialist("x")
        };
        assert!(matches!(
            may_give(&nobody, "erlan"),
            Err(WrapUpError::NoSpecialist)
        ));
    }

    #[test]
    fn only_a_kind_in_service_is_taken() {
        let kinds = vec!["consultation".to_string(), "information".to_string()];
        assert_eq!(known_kind(&kinds, " information ").unwrap(), "information");
        assert!(matches!(
            known_kind(&kinds, "tea"),
            Err(WrapUpError::UnknownKind(k)) if k == "tea"
        ));
        assert!(matches!(
            known_kind(&kinds, ""),
            Err(WrapUpError::UnknownKind(_))
        ));
    }

    #[test]
    fn only_a_last_call_without_a_kind_is_given_one() {
        assert!(matches!(uncoded_call(None), Err(WrapUpError::NoCall)));
        assert!(matches!(
            uncoded_call(Some(("c1".into(), Some("referral".into())))),
            Err(WrapUpError::AlreadyGiven)
        ));
        assert_eq!(uncoded_call(Some(("c1".into(), None))).unwrap(), "c1");
    }
}
