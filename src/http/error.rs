//! Error answers of the API: a status and `{"error": "..."}`, and how the
//! errors of the store and the follow-up service become one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::follow_ups::FollowUpError;
use crate::store::StoreError;
use crate::wrap_up::WrapUpError;

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 "not found".
    pub fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: "not found".into(),
        }
    }

    /// 403 with `message`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    /// 409 with `message`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::CONFLICT,
            message: message.into(),
        }
    }

    /// 503: a query failed (logged; the answer does not say why).
    pub fn store(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "API: database query failed");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the database is not available".into(),
        }
    }

    /// 503: the audit entry of a read could not be written, so the read is
    /// refused.
    pub fn audit(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "API: cannot write the audit log; the read is refused");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the audit log cannot be written; try again later".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<FollowUpError> for ApiError {
    fn from(e: FollowUpError) -> ApiError {
        use FollowUpError as E;
        let status = match &e {
            E::Store(_) | E::Audit(_) => StatusCode::SERVICE_UNAVAILABLE,
            E::NotFound => StatusCode::NOT_FOUND,
            E::NoSpecialist | E::ClaimForOther => StatusCode::FORBIDDEN,
            E::NoClaimant | E::UnknownSpecialist(_) | E::BadNote | E::BadResult => {
                StatusCode::BAD_REQUEST
            }
            E::Conflict(_)
            | E::NotACallback
            | E::Done
            | E::NotClaimed
            | E::NoNumber
            | E::CallUnderWay
            | E::NumberKey
            | E::SpecialistUnreachable
            | E::Uncallable(_) => StatusCode::CONFLICT,
            E::NumberRefused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        match e {
            E::Store(e) => ApiError::store(e),
            E::Audit(e) => ApiError::audit(e),
            e => ApiError {
                status,
                message: e.to_string(),
            },
        }
    }
}

impl From<WrapUpError> for ApiError {
    fn from(e: WrapUpError) -> ApiError {
        use WrapUpError as E;
        let status = match &e {
            E::NoSpecialist | E::NotTheirs => StatusCode::FORBIDDEN,
            E::UnknownSpecialist => StatusCode::NOT_FOUND,
            E::UnknownKind(_) => StatusCode::BAD_REQUEST,
            E::NoCall | E::AlreadyGiven => StatusCode::CONFLICT,
            E::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            E::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        match e {
            E::Store(e) => ApiError::store(e),
            e => ApiError {
                status,
                message: e.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_errors_become_statuses() {
        let status = |e: FollowUpError| ApiError::from(e).status;
        assert_eq!(status(FollowUpError::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(status(FollowUpError::NoSpecialist), StatusCode::FORBIDDEN);
        assert_eq!(status(FollowUpError::ClaimForOther), StatusCode::FORBIDDEN);
        assert_eq!(status(FollowUpError::NoClaimant), StatusCode::BAD_REQUEST);
        assert_eq!(status(FollowUpError::BadNote), StatusCode::BAD_REQUEST);
        assert_eq!(status(FollowUpError::Done), StatusCode::CONFLICT);
        assert_eq!(
            status(FollowUpError::Conflict("already done")),
            StatusCode::CONFLICT
        );
        assert_eq!(
            status(FollowUpError::NumberRefused(
                senim_call::kazakh_number::NumberRefusal::NotKazakh
            )),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[test]
    fn wrap_up_errors_become_statuses() {
        let status = |e: WrapUpError| ApiError::from(e).status;
        assert_eq!(status(WrapUpError::NotTheirs), StatusCode::FORBIDDEN);
        assert_eq!(status(WrapUpError::NoSpecialist), StatusCode::FORBIDDEN);
        assert_eq!(
            status(WrapUpError::UnknownSpecialist),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(WrapUpError::UnknownKind("tea".into())),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(status(WrapUpError::NoCall), StatusCode::CONFLICT);
        assert_eq!(status(WrapUpError::AlreadyGiven), StatusCode::CONFLICT);
        assert_eq!(
            status(WrapUpError::Stopping),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
