//! Who is calling: the principal whose token API Gateway's JWT authorizer verified, put on the
//! request (as a [`Principal`] extension) by whatever serves the router. A request that reaches
//! the router without one did not come through the authorizer, and is refused all the same.

use super::problem::Problem;
use crate::domain::Principal;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The verified caller of a request.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(Problem::unauthenticated)
    }
}
