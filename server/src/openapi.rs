//! The OpenAPI 3.1 document of the whole HTTP surface, generated from the handlers' annotations
//! and the wire types as the router registers them (`router::api`), so it cannot drift from the
//! code (a test walks it against the server, and schemathesis fuzzes the server against it).

use utoipa::OpenApi;

use crate::routes::users;

/// The API's title and description: what the routes do not say themselves.
#[derive(OpenApi)]
#[openapi(info(
    title = "Keydesk",
    description = "The 1Password Users API (v1beta1) as Keydesk serves it, plus Keydesk's \
        extensions: `q`, `state` and `order_by` on list, and the `type`, `role` and \
        `update_time` fields of User. Every error has the body \
        `{\"error\": {\"code\", \"status\", \"message\"}}`."
))]
struct Info;

/// The four custom methods of a user, which share one route (see `router::api`), each at its
/// own documented path.
#[derive(OpenApi)]
#[openapi(paths(
    users::suspend_user,
    users::reactivate_user,
    users::complete_recovery,
    users::resend_recovery,
))]
struct CustomMethods;

/// The document the router starts from; `router::api` adds every route to it.
pub fn base() -> utoipa::openapi::OpenApi {
    Info::openapi()
}

/// What `router::api` registers with the custom methods' shared route.
pub fn custom_methods() -> utoipa::openapi::OpenApi {
    CustomMethods::openapi()
}

/// Which operations a layer answers for.
#[derive(Clone, Copy)]
pub enum Operations {
    All,
    /// Those that take a request body.
    WithBody,
    /// POSTs: the changes, which the guard admits and audits.
    Changes,
}

/// Document what a layer may answer on every operation it wraps (`statuses`: code and why),
/// with the one error shape, where the operation does not already say it.
pub fn layer_answers(
    document: &mut utoipa::openapi::OpenApi,
    which: Operations,
    statuses: &[(u16, &str)],
) {
    use utoipa::openapi::{Ref, RefOr, content::Content, response::ResponseBuilder};
    for item in document.paths.paths.values_mut() {
        let operations = [
            (false, &mut item.get),
            (true, &mut item.post),
            (false, &mut item.put),
            (false, &mut item.delete),
            (false, &mut item.patch),
        ];
        for (post, operation) in operations {
            let Some(operation) = operation else {
                continue;
            };
            let wrapped = match which {
                Operations::All => true,
                Operations::WithBody => operation.request_body.is_some(),
                Operations::Changes => post,
            };
            if !wrapped {
                continue;
            }
            for (code, why) in statuses {
                let error = Content::new(Some(Ref::from_schema_name("ApiError")));
                let response = ResponseBuilder::new()
                    .description(*why)
                    .content("application/json", error)
                    .build();
                operation
                    .responses
                    .responses
                    .entry(code.to_string())
                    .or_insert(RefOr::T(response));
            }
        }
    }
}
