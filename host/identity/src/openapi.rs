//! The OpenAPI document of the identity routes, built from [`ROUTES`]:
//! one operation per route and path it is served at (seed 004's routes
//! twice, also under [`ORCHESTRATOR_BASE`]), with its summary, scope,
//! path and query parameters, body and answer schemas (the handlers' own
//! serde types, derived with `utoipa::ToSchema`), and every error the
//! route can answer, in the format it answers them. Plus the token
//! endpoint and `$metadata`, which need no token.
//!
//! It describes; it must never decide anything the router does not (the
//! routes, scopes and paths all come from the same table).

use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa::openapi::{
    ArrayBuilder, ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi,
    OpenApiBuilder, Ref, RefOr, Required, ResponseBuilder, Schema, SecurityRequirement, Type,
};

use crate::{ROUTES, Resource, Route, all_scopes, required_scope};

/// The name of the identity access token's security scheme (OAuth 2.0
/// client credentials at `/identity/connect/token`) in the document.
pub const IDENTITY_SECURITY_SCHEME: &str = "identity";

/// Schemas named so far, filled while the document is built.
pub(crate) type Schemas = Vec<(String, RefOr<Schema>)>;

/// A body or answer type: adds its schemas, returns a reference to it.
pub(crate) type SchemaFn = fn(&mut Schemas) -> RefOr<Schema>;

/// What a route answers on success.
pub(crate) enum Answer {
    /// No body.
    Empty,
    /// A CSV attachment.
    Csv,
    /// JSON of this schema.
    Json(SchemaFn),
}

/// The documentation columns of a [`Route`].
pub(crate) struct RouteDoc {
    /// The JSON body's schema, if the route takes one.
    pub(crate) body: Option<SchemaFn>,
    /// The success status.
    pub(crate) status: u16,
    /// The success body.
    pub(crate) answer: Answer,
}

/// `T`'s schema and the ones it refers to, as a reference.
pub(crate) fn schema_ref<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
    Ref::from_schema_name(T::name()).into()
}

/// A list of `T`.
pub(crate) fn list_ref<T: ToSchema>(schemas: &mut Schemas) -> RefOr<Schema> {
    ArrayBuilder::new().items(schema_ref::<T>(schemas)).into()
}

/// The identity API's error body: `{"error": code, "message", "scope"?}`.
#[derive(ToSchema)]
#[schema(as = IdentityError)]
#[allow(dead_code)]
pub(crate) struct IdentityErrorDoc {
    /// `not_found`, `bad_request`, `invalid_token`, `insufficient_scope`,
    /// `conflict`, `throttled`, `payload_too_large`, `internal`.
    error: String,
    /// What went wrong and what to do.
    message: String,
    /// The scope the token lacks (`insufficient_scope` only).
    scope: Option<String>,
}

/// OData's error body: `{"error": {"code", "message", "target"?}}`.
#[derive(ToSchema)]
#[schema(as = ODataError)]
#[allow(dead_code)]
pub(crate) struct ODataErrorDoc {
    error: ODataErrorDetail,
}

/// The inside of [`ODataErrorDoc`].
#[derive(ToSchema)]
#[schema(as = ODataErrorDetail)]
#[allow(dead_code)]
pub(crate) struct ODataErrorDetail {
    /// The same codes as the identity API's errors.
    code: String,
    /// What went wrong and what to do.
    message: String,
    /// The scope the token lacks (`insufficient_scope` only).
    target: Option<String>,
}

/// The token endpoint's form.
#[derive(ToSchema)]
#[schema(as = IdentityTokenRequest)]
#[allow(dead_code)]
pub(crate) struct TokenRequestDoc {
    /// `client_credentials`.
    grant_type: String,
    client_id: String,
    client_secret: String,
    /// Space-separated scopes (default: all of the application's); an
    /// umbrella scope (`PM.User`) means its `.Read` and `.Write`.
    scope: Option<String>,
}

/// The token endpoint's answer.
#[derive(ToSchema)]
#[schema(as = IdentityTokenResponse)]
#[allow(dead_code)]
pub(crate) struct TokenResponseDoc {
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Seconds.
    expires_in: u64,
    /// The scopes granted, space-separated.
    scope: String,
}

/// An OAuth 2.0 error of the token endpoint.
#[derive(ToSchema)]
#[schema(as = IdentityOAuthError)]
#[allow(dead_code)]
pub(crate) struct OAuthErrorDoc {
    /// `invalid_client`, `invalid_scope`, `unsupported_grant_type`, `invalid_request`.
    error: String,
    error_description: String,
}

const TAG_PM: &str = "identity (seed 003)";
const TAG_ODATA: &str = "users (seed 004)";
const TAG_APPS: &str = "external applications";

/// The OpenAPI document of every identity route; the server merges it
/// into `/api/openapi.json`.
pub fn openapi() -> OpenApi {
    let mut schemas = Schemas::new();
    let error_refs = (
        schema_ref::<IdentityErrorDoc>(&mut schemas),
        schema_ref::<ODataErrorDoc>(&mut schemas),
    );
    let mut paths = utoipa::openapi::path::PathsBuilder::new();
    for route in ROUTES {
        for (i, path) in route.paths().iter().enumerate() {
            let op = operation(route, path, i > 0, &mut schemas, &error_refs);
            paths = paths.path(path.clone(), PathItem::new(method(route), op));
        }
    }
    paths = paths.path(
        "/identity/connect/token",
        PathItem::new(HttpMethod::Post, token_operation(&mut schemas)),
    );
    for (i, path) in crate::metadata::PATHS.iter().enumerate() {
        paths = paths.path(
            *path,
            PathItem::new(HttpMethod::Get, metadata_operation(i > 0)),
        );
    }
    let scopes: Scopes = all_scopes()
        .iter()
        .map(|s| (s.clone(), format!("{s}: see the routes that name it")))
        .chain(Resource::ALL.iter().map(|r| {
            (
                r.scope().to_owned(),
                format!("{0}.Read and {0}.Write", r.scope()),
            )
        }))
        .collect();
    let scheme = SecurityScheme::OAuth2(OAuth2::with_description(
        [Flow::ClientCredentials(ClientCredentials::new(
            "/identity/connect/token",
            scopes,
        ))],
        "An external application's access token (`plugboard apps register`, then the \
             client-credentials grant); not a Plugboard API token.",
    ));
    let mut components = ComponentsBuilder::new().security_scheme(IDENTITY_SECURITY_SCHEME, scheme);
    schemas.sort_by(|a, b| a.0.cmp(&b.0));
    schemas.dedup_by(|a, b| a.0 == b.0);
    for (name, schema) in schemas {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Plugboard identity API")
                .version(env!("CARGO_PKG_VERSION"))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}

fn method(route: &Route) -> HttpMethod {
    match route.method.as_str() {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        other => panic!("route {other} {}: no OpenAPI method", route.path),
    }
}

/// `get_odata_users_key_` from `GET /odata/Users({key})`; the
/// orchestrator-base form ends in `_under_base`.
fn operation_id(route: &Route, under_base: bool) -> String {
    let mut id = route.method.as_str().to_ascii_lowercase();
    let mut last = '_';
    for c in route.path.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if c != '_' || last != '_' {
            id.push(c);
        }
        last = c;
    }
    if under_base {
        id.push_str("_under_base");
    }
    id
}

/// A string schema (with `format`, if any).
fn string(format: Option<&str>) -> RefOr<Schema> {
    let mut b = ObjectBuilder::new().schema_type(Type::String);
    if let Some(f) = format {
        b = b.format(Some(utoipa::openapi::SchemaFormat::Custom(f.to_owned())));
    }
    b.into()
}

fn path_parameter(name: &str) -> ParameterBuilder {
    let (description, format) = match name {
        "organizationName" => ("The token's organization's name", None),
        "tenantName" => ("The name of one of the organization's tenants", None),
        "partitionGlobalId" | "organizationId" => (
            "The organization's id, or the id of one of its tenants",
            Some("uuid"),
        ),
        "key" | "roleId" => (
            "The integer `Id`, or the `Key` (a UUID, quoted or not)",
            None,
        ),
        _ => ("Id (a UUID)", Some("uuid")),
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string(format)))
}

fn query_parameter(name: &str, description: &str, schema: RefOr<Schema>) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
}

/// The query parameters a route reads.
fn query_parameters(route: &Route) -> Vec<ParameterBuilder> {
    let odata_list = route.method == axum::http::Method::GET
        && (route.path == "/odata/Users" || route.path == "/odata/Roles");
    let expandable =
        route.method == axum::http::Method::GET && route.path.starts_with("/odata/Users");
    let mut out = Vec::new();
    if odata_list {
        let integer = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .into();
        out.extend([
            query_parameter(
                "$filter",
                "eq, ne, contains(), startswith(), and, or, not, parentheses",
                string(None),
            ),
            query_parameter("$top", "At most this many", integer),
            query_parameter(
                "$skip",
                "Skip this many",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0))
                    .into(),
            ),
            query_parameter(
                "$orderby",
                "`property [asc|desc]`, comma-separated",
                string(None),
            ),
            query_parameter(
                "$count",
                "Add `@odata.count`",
                ObjectBuilder::new().schema_type(Type::Boolean).into(),
            ),
        ]);
    }
    if expandable {
        out.push(query_parameter("$expand", "`Roles`", string(None)));
    }
    match (route.method.as_str(), route.path) {
        ("GET", "/identity/api/Setting") => {
            out.push(
                query_parameter(
                    "partitionGlobalId",
                    "The organization's id, or the id of one of its tenants",
                    string(Some("uuid")),
                )
                .required(Required::True),
            );
            out.push(query_parameter(
                "key",
                "Keys to read (repeat it); none: all",
                ArrayBuilder::new().items(string(None)).into(),
            ));
        }
        ("GET", "/identity/api/MessageTemplate") => {
            out.push(query_parameter(
                "name",
                "Only the template of this name",
                string(None),
            ));
            out.push(query_parameter(
                "partitionGlobalId",
                "The organization's id, or the id of one of its tenants",
                string(Some("uuid")),
            ));
        }
        _ => {}
    }
    out
}

fn json_response(description: &str, schema: RefOr<Schema>) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(schema)).build(),
    )
}

fn operation(
    route: &'static Route,
    path: &str,
    under_base: bool,
    schemas: &mut Schemas,
    (pm_error, odata_error): &(RefOr<Schema>, RefOr<Schema>),
) -> utoipa::openapi::path::Operation {
    let scope = required_scope(route.resource, &route.method);
    let tag = if route.is_odata() {
        TAG_ODATA
    } else if route.resource == Resource::ExternalApp {
        TAG_APPS
    } else {
        TAG_PM
    };
    let mut op = OperationBuilder::new()
        .operation_id(Some(operation_id(route, under_base)))
        .tag(tag)
        .summary(Some(route.summary))
        .description(Some(format!("Needs scope `{scope}`.")))
        .security(SecurityRequirement::new(IDENTITY_SECURITY_SCHEME, [scope]));
    let names: Vec<&str> = path
        .split('/')
        .filter_map(|seg| Some(&seg[seg.find('{')? + 1..seg.find('}')?]))
        .collect();
    for name in &names {
        op = op.parameter(path_parameter(name));
    }
    for q in query_parameters(route) {
        op = op.parameter(q);
    }
    if let Some(body) = route.doc.body {
        op = op.request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(body(schemas))).build(),
                )
                .build(),
        ));
    }
    let status = route.doc.status.to_string();
    let success = match route.doc.answer {
        Answer::Empty => ResponseBuilder::new().description(route.summary),
        Answer::Csv => ResponseBuilder::new().description(route.summary).content(
            "text/csv",
            ContentBuilder::new().schema(Some(string(None))).build(),
        ),
        Answer::Json(answer) => json_response(route.summary, answer(schemas)),
    };
    op = op.response(status, success.build());
    let error = if route.is_odata() {
        odata_error
    } else {
        pm_error
    };
    let write = route.method != axum::http::Method::GET;
    let mut errors = vec![
        ("401", "No, unknown or expired access token"),
        ("403", "The token lacks the route's scope"),
    ];
    if !names.is_empty() || route.doc.body.is_some() || !query_parameters(route).is_empty() {
        errors.push(("400", "Malformed input: a body, a query option, an id"));
        errors.push((
            "404",
            "No such resource in the token's organization (another organization's is 404 too)",
        ));
    }
    if write {
        errors.push((
            "409",
            "A name already taken, or a built-in that cannot be changed that way",
        ));
    }
    if route.doc.body.is_some() {
        errors.push(("413", "The body is larger than the request body limit"));
    }
    if route.path.ends_with("/changepassword") {
        errors.push(("429", "Too many failed attempts: try again later"));
    }
    for (code, description) in errors {
        op = op.response(code, json_response(description, error.clone()).build());
    }
    op.build()
}

fn token_operation(schemas: &mut Schemas) -> utoipa::openapi::path::Operation {
    let oauth_error = schema_ref::<OAuthErrorDoc>(schemas);
    OperationBuilder::new()
        .operation_id(Some("post_identity_connect_token"))
        .tag(TAG_APPS)
        .summary(Some(
            "An access token for an external application (client credentials)",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(
                    "application/x-www-form-urlencoded",
                    ContentBuilder::new()
                        .schema(Some(schema_ref::<TokenRequestDoc>(schemas)))
                        .build(),
                )
                .build(),
        ))
        .response(
            "200",
            json_response("The access token", schema_ref::<TokenResponseDoc>(schemas)).build(),
        )
        .response(
            "400",
            json_response(
                "`invalid_scope`, `unsupported_grant_type` or a malformed form",
                oauth_error.clone(),
            )
            .build(),
        )
        .response(
            "401",
            json_response(
                "`invalid_client`: unknown client id or wrong secret",
                oauth_error,
            )
            .build(),
        )
        .build()
}

fn metadata_operation(under_base: bool) -> utoipa::openapi::path::Operation {
    let mut op = OperationBuilder::new()
        .operation_id(Some(if under_base {
            "get_odata_metadata_under_base"
        } else {
            "get_odata_metadata"
        }))
        .tag(TAG_ODATA)
        .summary(Some(
            "The CSDL (OData $metadata) of the Users API: entity sets, types, actions",
        ))
        .response(
            "200",
            ResponseBuilder::new()
                .description("CSDL XML")
                .content(
                    "application/xml",
                    ContentBuilder::new().schema(Some(string(None))).build(),
                )
                .build(),
        );
    if under_base {
        for name in ["organizationName", "tenantName"] {
            op = op.parameter(
                path_parameter(name).description(Some("Any name: the document is the same")),
            );
        }
    }
    op.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ORCHESTRATOR_BASE;

    #[test]
    fn every_route_and_path_is_an_operation_with_its_scope() {
        let doc = openapi();
        for route in ROUTES {
            for path in route.paths() {
                let item = doc
                    .paths
                    .get_path_operation(&path, method(route))
                    .unwrap_or_else(|| panic!("{} {path} is not in the document", route.method));
                let scope = required_scope(route.resource, &route.method);
                let security = serde_json::to_value(&item.security).unwrap();
                assert_eq!(
                    security,
                    serde_json::json!([{ IDENTITY_SECURITY_SCHEME: [scope] }]),
                    "{} {path}",
                    route.method
                );
            }
        }
        assert!(doc.paths.get_path_item("/identity/connect/token").is_some());
        assert!(
            doc.paths
                .get_path_item(format!("{ORCHESTRATOR_BASE}/odata/$metadata"))
                .is_some()
        );
    }

    #[test]
    fn every_referenced_schema_is_defined() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let defined = doc["components"]["schemas"].as_object().unwrap();
        let text = doc.to_string();
        for part in text.split("\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                defined.contains_key(name),
                "`{name}` is referenced, not defined"
            );
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = serde_json::to_value(openapi()).unwrap();
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
