//! The query function's door: API Gateway events into the REST API's [`Router`]
//! (see [`rampart_api::rest`]), with what only Lambda knows added on the way in: the stage
//! removed from the path, and the caller that API Gateway's JWT authorizer vouched for.

use axum::Router;
use axum::response::Response;
use rampart_api::edge::Caller;

/// Puts the [`Caller`] of a JWT-authorised request (HTTP API v2) on the request, so the
/// Router refuses changes from tokens without the admin group or scope. IAM-signed requests
/// carry no JWT: IAM policy alone decides who may call what.
fn with_caller(mut request: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let caller = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| {
                Caller::from_jwt(
                    |name| jwt.claims.get(name).map(String::as_str),
                    jwt.scopes.iter().flatten().map(String::as_str),
                )
            }),
        _ => None,
    };
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    request
}

/// The Router as the Lambda function runs it. API Gateway REST (v1) events carry the stage
/// in the path (`/Prod/v1/domains`); it is removed here so the routes are the same paths as
/// `rampart serve` answers, whatever `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` says.
pub fn lambda_service(
    router: Router,
) -> impl tower::Service<
    lambda_http::Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    use tower::ServiceExt;
    router.map_request(|request| with_caller(strip_stage(request)))
}

fn strip_stage(mut request: lambda_http::Request) -> lambda_http::Request {
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;
    let Some(RequestContext::ApiGatewayV1(ctx)) = request.request_context_ref() else {
        return request;
    };
    let Some(stage) = &ctx.stage else {
        return request;
    };
    let uri = request.uri();
    let rest = match uri.path().strip_prefix(&format!("/{stage}")) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => return request,
    };
    let path_and_query = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    if let Ok(stripped) = axum::http::Uri::from_parts(parts) {
        *request.uri_mut() = stripped;
    }
    request
}
