//! The steps of the request path, in the order they run, following
//! Otoroshi's NG plugin steps. A plugin declares the steps it works in; a
//! route runs, at each step, only the plugins that declared it.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Step {
    /// Before anything else: redirects, maintenance, answers without a backend.
    PreRoute,
    /// Who may call: API keys, IP lists, methods. The first refusal answers.
    ValidateAccess,
    /// The request as it goes upstream: headers, host.
    TransformRequest,
    /// The response as it goes back: headers.
    TransformResponse,
    /// The response body as it streams back: compression, limits. Runs
    /// after TransformResponse, on upstream responses only.
    TransformResponseBody,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::PreRoute,
        Step::ValidateAccess,
        Step::TransformRequest,
        Step::TransformResponse,
        Step::TransformResponseBody,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::PreRoute => "PreRoute",
            Step::ValidateAccess => "ValidateAccess",
            Step::TransformRequest => "TransformRequest",
            Step::TransformResponse => "TransformResponse",
            Step::TransformResponseBody => "TransformResponseBody",
        }
    }
}
