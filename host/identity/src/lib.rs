//! Identity for Plugboard: external applications and their access tokens,
//! the scope rule, the Platform Management API of seed 003 under
//! `/identity/api/…` and the Users API of seed 004 under `/odata/…` (also
//! under seed 004's base path, [`ORCHESTRATOR_BASE`]).
//!
//! [`router`] builds every route from the one [`ROUTES`] table; the table
//! also names each route's [`Resource`] (and [`required_scope`] derives
//! the scope from resource + method in one place: `.Read` for GET,
//! `.Write` otherwise), its summary and its body and answer types, from
//! which [`openapi`] builds the OpenAPI document. The isolation test and
//! the scope matrix walk the same table, and a test checks `README.md`
//! lists every route.
//!
//! Modules: `auth` (tokens, the guard, secret hashing), `sign_in` (the one
//! password check, throttled), `request` (the `Ctx` every handler starts
//! from), `api` (seed 003), `apps` (external applications), `users_api`
//! (seed 004) over [`odata`], `metadata` (the CSDL document),
//! `openapi` (the OpenAPI document), `error` (the error type and both
//! error formats).
//!
//! What this crate must never do: trust an id from the request to pick the
//! organization (the organization always comes from the access token, and
//! every store call is scoped by it), answer 403 for another organization's
//! resource (it is 404: no existence leak), or store a plaintext secret
//! (argon2 for passwords and client secrets, SHA-256 for access tokens).

#![deny(missing_docs)]

mod api;
mod apps;
mod auth;
mod error;
mod metadata;
pub mod odata;
mod openapi;
mod request;
mod sign_in;
mod users_api;

use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, get, on, post};
use plugboard_store::Store;

pub use apps::{AppRefusal, CheckedApp, check_app};
pub use auth::{
    Caller, hash_secret, hash_secret_off_runtime, register_external_app, verify_secret,
};
pub use error::ApiError;
pub use openapi::{IDENTITY_SECURITY_SCHEME, openapi};
pub use sign_in::{
    MAX_FAILED_ATTEMPTS, MIN_PASSWORD_CHARS, THROTTLE_WINDOW, UnknownNameThrottle,
    password_long_enough, sign_in,
};

/// What the identity routes need: the store and the access-token lifetime.
#[derive(Clone)]
pub struct IdentityState {
    /// The store (every query is scoped by the caller's organization).
    pub store: Store,
    /// Lifetime of issued access tokens (default one hour).
    pub token_ttl: Duration,
}

impl IdentityState {
    /// State over `store` with the default token lifetime.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            token_ttl: Duration::from_secs(3600),
        }
    }
}

/// The API resource a route belongs to; it decides the scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// `AuditQuery`.
    Audit,
    /// `Group`.
    Group,
    /// `MessageTemplate`.
    MessageTemplate,
    /// `RobotAccount`.
    RobotAccount,
    /// `Setting`.
    Setting,
    /// `User`.
    User,
    /// `User/{userId}/loginAttempts`.
    UserLoginAttempt,
    /// OData `/odata/Users`.
    ODataUsers,
    /// OData `/odata/Roles`.
    ODataRoles,
    /// `ExternalApplication`: the applications that call this API.
    ExternalApp,
}

impl Resource {
    /// The scope name without `.Read`/`.Write`; asked for as a scope on
    /// its own (an umbrella scope), it means both.
    pub fn scope(self) -> &'static str {
        match self {
            Self::Audit => "PM.Audit",
            Self::Group => "PM.Group",
            Self::MessageTemplate => "PM.MessageTemplate",
            Self::RobotAccount => "PM.RobotAccount",
            Self::Setting => "PM.Setting",
            Self::User => "PM.User",
            Self::UserLoginAttempt => "PM.UserLoginAttempt",
            Self::ODataUsers => "OR.Users",
            Self::ODataRoles => "OR.Roles",
            Self::ExternalApp => "PM.ExternalApplication",
        }
    }

    /// Every resource, so the scope list cannot miss one.
    pub const ALL: &[Resource] = &[
        Self::Audit,
        Self::Group,
        Self::MessageTemplate,
        Self::RobotAccount,
        Self::Setting,
        Self::User,
        Self::UserLoginAttempt,
        Self::ODataUsers,
        Self::ODataRoles,
        Self::ExternalApp,
    ];
}

/// Every scope an external application can be given: `.Read` and `.Write`
/// of each [`Resource`]. Built once. (An umbrella scope such as `PM.User`
/// is not one of them: [`expand_scopes`] turns it into both.)
pub fn all_scopes() -> &'static [String] {
    static ALL: LazyLock<Vec<String>> = LazyLock::new(|| {
        Resource::ALL
            .iter()
            .flat_map(|r| [Method::GET, Method::POST].map(|m| required_scope(*r, &m)))
            .collect()
    });
    &ALL
}

/// The scopes `requested` means, each once, in the order given: a scope
/// of [`all_scopes`] is itself, and a resource's umbrella scope
/// (`PM.User`, seed 003's "étendue" of the resource) is its `.Read` and
/// `.Write`. Both the token endpoint and application registration use it.
///
/// # Errors
/// The requested scopes that are neither, each once.
pub fn expand_scopes<S: AsRef<str>>(requested: &[S]) -> Result<Vec<String>, Vec<String>> {
    let (mut kept, mut unknown) = (Vec::<String>::new(), Vec::<String>::new());
    for s in requested.iter().map(AsRef::as_ref) {
        let meant: Vec<String> = match Resource::ALL.iter().find(|r| r.scope() == s) {
            Some(r) => [Method::GET, Method::POST]
                .iter()
                .map(|m| required_scope(*r, m))
                .collect(),
            None if all_scopes().iter().any(|k| k == s) => vec![s.to_owned()],
            None => {
                if !unknown.iter().any(|u| u == s) {
                    unknown.push(s.to_owned());
                }
                continue;
            }
        };
        for m in meant {
            if !kept.contains(&m) {
                kept.push(m);
            }
        }
    }
    if unknown.is_empty() {
        Ok(kept)
    } else {
        Err(unknown)
    }
}

/// The scope a request needs: the resource's scope, `.Read` for GET (and
/// HEAD), `.Write` for POST, PUT, PATCH and DELETE. Seed 003's table has
/// copy-paste slips (`PM.Audit.Read` for groups...); this rule is the rule.
pub fn required_scope(resource: Resource, method: &Method) -> String {
    let access = if method == Method::GET || method == Method::HEAD {
        "Read"
    } else {
        "Write"
    };
    format!("{}.{access}", resource.scope())
}

/// Seed 004's base path before `/odata/…`: every OData route is also served
/// under it, for the token's organization and one of its tenants (any
/// other names are 404).
pub const ORCHESTRATOR_BASE: &str = "/{organizationName}/{tenantName}/orchestrator_";

/// One route of the API.
pub struct Route {
    /// Method.
    pub method: Method,
    /// Path as the seed writes it (`{name}` parameters).
    pub path: &'static str,
    /// Resource (decides the scope).
    pub resource: Resource,
    /// What it does, in one line (the OpenAPI summary).
    pub summary: &'static str,
    /// Body and answer, for the OpenAPI document.
    pub(crate) doc: openapi::RouteDoc,
    make: fn(MethodFilter) -> MethodRouter<IdentityState>,
}

impl Route {
    /// Whether this is a seed 004 (OData) route: its errors are in OData's
    /// format and it is also served under [`ORCHESTRATOR_BASE`].
    pub fn is_odata(&self) -> bool {
        self.path.starts_with("/odata/")
    }

    /// Every path the route is served at: [`Route::path`], and for an
    /// OData route the same under [`ORCHESTRATOR_BASE`].
    pub fn paths(&self) -> Vec<String> {
        let mut out = vec![self.path.to_owned()];
        if self.is_odata() {
            out.push(format!("{ORCHESTRATOR_BASE}{}", self.path));
        }
        out
    }
}

/// `METHOD "path" Resource handler, body Type => status (Answer), "summary";`
/// — `body` is optional; the answer is `(T)`, a list `[T]`, `csv`, or
/// `-` for none.
macro_rules! routes {
    ($($method:ident $path:literal $res:ident $handler:path
        $(, body $body:ty)? => $status:literal $answer:tt, $summary:literal;)*) => {
        /// Every authenticated route, in one table: [`router`] and
        /// [`openapi`] build from it and the isolation test walks it.
        pub static ROUTES: &[Route] = &[$(Route {
            method: Method::$method,
            path: $path,
            resource: Resource::$res,
            summary: $summary,
            doc: openapi::RouteDoc {
                body: routes!(@schema $($body)?),
                status: $status,
                answer: routes!(@answer $answer),
            },
            make: |m| on(m, $handler),
        }),*];
    };
    (@schema) => { None };
    (@schema $t:ty) => { Some(openapi::schema_ref::<$t>) };
    (@answer -) => { openapi::Answer::Empty };
    (@answer csv) => { openapi::Answer::Csv };
    (@answer [$t:ty]) => { openapi::Answer::Json(openapi::list_ref::<$t>) };
    (@answer ($t:ty)) => { openapi::Answer::Json(openapi::schema_ref::<$t>) };
}

routes! {
    GET "/identity/api/AuditQuery/{organizationId}" Audit api::audit_query
        => 200 (api::AuditPage), "The organization's audit events, newest first";
    GET "/identity/api/AuditQuery/{organizationId}/download" Audit api::audit_download
        => 200 csv, "The same events as a CSV attachment (`id,createdOn,actor,action,outcome`)";
    GET "/identity/api/Group/{partitionGlobalId}" Group api::list_groups
        => 200 [api::GroupOut], "Every group, built-in and local";
    GET "/identity/api/Group/{partitionGlobalId}/{groupId}" Group api::get_group
        => 200 (api::GroupOut), "One group with its members";
    POST "/identity/api/Group" Group api::create_group, body api::NewGroup
        => 201 (api::GroupOut), "Creates a local group";
    PUT "/identity/api/Group/{groupId}" Group api::update_group, body api::GroupUpdate
        => 200 (api::GroupOut), "Renames a group and, when `members` is given, replaces its members";
    DELETE "/identity/api/Group/{partitionGlobalId}" Group api::delete_groups
        => 204 -, "Deletes every local group (built-in groups stay)";
    DELETE "/identity/api/Group/{partitionGlobalId}/{groupId}" Group api::delete_group
        => 204 -, "Deletes a local group";
    GET "/identity/api/MessageTemplate" MessageTemplate api::find_templates
        => 200 [api::TemplateOut], "Message templates, `?name=` filters";
    GET "/identity/api/MessageTemplate/{templateId}" MessageTemplate api::get_template
        => 200 (api::TemplateOut), "One message template";
    POST "/identity/api/MessageTemplate" MessageTemplate api::create_template, body api::NewTemplate
        => 201 (api::TemplateOut), "Creates a message template (beyond the seed)";
    PUT "/identity/api/MessageTemplate/{templateId}" MessageTemplate api::update_template, body api::TemplateUpdate
        => 200 (api::TemplateOut), "Replaces a template's text";
    DELETE "/identity/api/MessageTemplate/{templateId}" MessageTemplate api::delete_template
        => 204 -, "Deletes a template the organization made (beyond the seed)";
    GET "/identity/api/RobotAccount/{partitionGlobalId}" RobotAccount api::list_robots
        => 200 [api::RobotOut], "Every robot account";
    GET "/identity/api/RobotAccount/{partitionGlobalId}/{robotAccountId}" RobotAccount api::get_robot
        => 200 (api::RobotOut), "One robot account";
    POST "/identity/api/RobotAccount" RobotAccount api::create_robot, body api::NewRobot
        => 201 (api::RobotOut), "Creates a robot account";
    PUT "/identity/api/RobotAccount/{robotAccountId}" RobotAccount api::update_robot, body api::RobotUpdate
        => 200 (api::RobotOut), "Changes a robot account's display name";
    DELETE "/identity/api/RobotAccount/{partitionGlobalId}/{robotAccountId}" RobotAccount api::delete_robot
        => 204 -, "Deletes a robot account";
    DELETE "/identity/api/RobotAccount/{partitionGlobalId}" RobotAccount api::delete_robots
        => 204 -, "Deletes every robot account";
    GET "/identity/api/Setting" Setting api::get_settings
        => 200 [api::SettingOut], "Settings: `?partitionGlobalId=…&key=a&key=b` (no key: all)";
    PUT "/identity/api/Setting" Setting api::put_settings, body api::SettingsUpdate
        => 200 [api::SettingOut], "Creates or updates settings";
    GET "/identity/api/User/{userId}" User api::get_user
        => 200 (api::UserOut), "One user";
    POST "/identity/api/User" User api::create_user, body api::NewUser
        => 201 (api::UserOut), "Creates a user, overwriting one of the same `userName`";
    POST "/identity/api/User/BulkCreate" User api::bulk_create_users, body api::BulkUsers
        => 201 [api::UserOut], "Creates users; every entry is checked before any is written";
    POST "/identity/api/User/{userId}/changepassword" User api::change_password, body api::PasswordChange
        => 204 -, "Changes a password, given the old one (recorded and throttled)";
    PUT "/identity/api/User/{userId}" User api::update_user, body api::UserUpdate
        => 200 (api::UserOut), "Changes a user's names and e-mail";
    DELETE "/identity/api/User" User api::delete_users, body api::DeleteUsers
        => 204 -, "Deletes the users listed in `userIds`, all or none";
    DELETE "/identity/api/User/{userId}" User api::delete_user
        => 204 -, "Deletes a user";
    GET "/identity/api/User/{userId}/loginAttempts" UserLoginAttempt api::login_attempts
        => 200 (api::LoginAttemptsPage), "A user's sign-in attempts, newest first";
    GET "/odata/Users" ODataUsers users_api::list_users
        => 200 (users_api::UserList), "Users, robot accounts and groups in one list (OData query options)";
    GET "/odata/Users({key})" ODataUsers users_api::get_user
        => 200 (users_api::ODataUser), "One user, robot account or group by integer `Id` or `Key`";
    GET "/odata/Roles" ODataRoles users_api::list_roles
        => 200 (users_api::RoleList), "Roles (OData query options)";
    GET "/odata/Roles({roleId})" ODataRoles users_api::get_role
        => 200 (users_api::ODataRole), "One role by integer `Id` or `Key`";
    DELETE "/odata/Users({key})" ODataUsers users_api::delete_user
        => 204 -, "Deletes a user (or a robot account, or a local group)";
    PUT "/odata/Users({key})" ODataUsers users_api::provision_robot, body users_api::ProvisionBody
        => 200 -, "Gives the user a robot account named `RobotProvision.UserName`";
    POST "/odata/Users({key})/UiPath.Server.Configuration.OData.ChangeUserCulture" ODataUsers users_api::change_culture, body users_api::CultureBody
        => 200 -, "Sets a user's culture (a BCP 47 tag: `ja`, `fr-FR`)";
    POST "/odata/Users({key})/UiPath.Server.Configuration.OData.AssignRoles" ODataUsers users_api::assign_roles, body users_api::AssignRolesBody
        => 200 -, "Replaces the roles of a user, robot account or group";
    POST "/odata/Roles" ODataRoles users_api::create_role, body users_api::RoleBody
        => 201 (users_api::ODataRole), "Creates a role (beyond the seed)";
    PUT "/odata/Roles({roleId})" ODataRoles users_api::update_role, body users_api::RoleBody
        => 200 (users_api::ODataRole), "Renames a role and replaces its permissions";
    DELETE "/odata/Roles({roleId})" ODataRoles users_api::delete_role
        => 204 -, "Deletes a role the organization made, with its assignments";
    GET "/identity/api/ExternalApplication/{partitionGlobalId}" ExternalApp apps::list
        => 200 [apps::AppOut], "Registered applications (never a secret)";
    GET "/identity/api/ExternalApplication/{partitionGlobalId}/{appId}" ExternalApp apps::get
        => 200 (apps::AppOut), "One registered application";
    POST "/identity/api/ExternalApplication" ExternalApp apps::register_app, body apps::AppBody
        => 201 (apps::NewAppOut), "Registers an application; its `clientSecret` is shown this once";
    PUT "/identity/api/ExternalApplication/{appId}" ExternalApp apps::update, body apps::AppBody
        => 200 (apps::AppOut), "Renames an application and replaces its scopes (its tokens are revoked)";
    POST "/identity/api/ExternalApplication/{appId}/rotateSecret" ExternalApp apps::rotate_secret
        => 200 (apps::NewAppOut), "A new `clientSecret`, shown this once; the old one and the tokens stop working";
    DELETE "/identity/api/ExternalApplication/{partitionGlobalId}/{appId}" ExternalApp apps::delete
        => 204 -, "Deletes an application with its tokens";
}

/// The path axum routes: every parameter is named by position (`{p0}`,
/// `{p1}`), because the seed names the same segment differently per method
/// (`Group/{partitionGlobalId}` vs `Group/{groupId}`) and axum refuses two
/// names for one segment. Text before the brace stays (`Users({key})`
/// becomes `Users({p0}`, so `Roles(…)` routes apart from it); text after
/// it cannot be matched by axum and is removed by `request::Ctx`, which
/// gives the parameters their seed names back.
fn axum_path(path: &str) -> String {
    let mut n = 0;
    path.split('/')
        .map(|seg| match seg.find('{') {
            Some(open) => {
                n += 1;
                format!("{}{{p{}}}", &seg[..open], n - 1)
            }
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The identity routes: `POST /identity/connect/token` (no token needed),
/// `GET /odata/$metadata` (no token needed: it describes the API, nothing
/// of an organization), and every route of [`ROUTES`] behind the
/// bearer-token and scope check. The OData routes (and `$metadata`) are
/// also served under [`ORCHESTRATOR_BASE`] and answer errors in OData's
/// format. Merge it into the server's router:
/// `app.merge(plugboard_identity::router(state))`.
pub fn router(state: IdentityState) -> Router {
    let mut management: Router<IdentityState> =
        Router::new().route("/identity/connect/token", post(auth::token));
    let mut odata: Router<IdentityState> = Router::new();
    for path in metadata::PATHS {
        odata = odata.route(&axum_path(path), get(metadata::document));
    }
    for route in ROUTES {
        let filter = MethodFilter::try_from(route.method.clone()).unwrap_or_else(|_| {
            panic!("route {} {}: unsupported method", route.method, route.path)
        });
        let scope = required_scope(route.resource, &route.method);
        for (i, path) in route.paths().iter().enumerate() {
            let guarded = (route.make)(filter).route_layer(axum::middleware::from_fn_with_state(
                auth::Guard {
                    state: state.clone(),
                    scope: scope.clone(),
                    route: request::RoutePath {
                        route,
                        under_orchestrator_base: i > 0,
                    },
                },
                auth::authorize,
            ));
            if route.is_odata() {
                odata = odata.route(&axum_path(path), guarded);
            } else {
                management = management.route(&axum_path(path), guarded);
            }
        }
    }
    let odata = odata.layer(axum::middleware::map_response(error::odata_errors));
    management.merge(odata).with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_follows_the_method_not_the_seed_table() {
        assert_eq!(
            required_scope(Resource::Group, &Method::GET),
            "PM.Group.Read"
        );
        assert_eq!(
            required_scope(Resource::Group, &Method::DELETE),
            "PM.Group.Write"
        );
        assert_eq!(
            required_scope(Resource::Setting, &Method::GET),
            "PM.Setting.Read"
        );
        assert_eq!(
            required_scope(Resource::User, &Method::POST),
            "PM.User.Write"
        );
        assert_eq!(
            required_scope(Resource::ODataUsers, &Method::PUT),
            "OR.Users.Write"
        );
        assert_eq!(
            required_scope(Resource::ODataRoles, &Method::GET),
            "OR.Roles.Read"
        );
        assert_eq!(
            required_scope(Resource::UserLoginAttempt, &Method::GET),
            "PM.UserLoginAttempt.Read"
        );
        assert_eq!(
            required_scope(Resource::ExternalApp, &Method::PUT),
            "PM.ExternalApplication.Write"
        );
    }

    #[test]
    fn every_resource_of_the_route_table_has_its_scopes_listed() {
        let all = all_scopes();
        assert_eq!(all.len(), Resource::ALL.len() * 2);
        for route in ROUTES {
            assert!(all.contains(&required_scope(route.resource, &route.method)));
        }
    }

    #[test]
    fn umbrella_scopes_mean_read_and_write_and_unknown_ones_are_named() {
        assert_eq!(
            expand_scopes(&["PM.User", "PM.Group.Read", "PM.User.Read"]).unwrap(),
            ["PM.User.Read", "PM.User.Write", "PM.Group.Read"]
        );
        for r in Resource::ALL {
            assert_eq!(expand_scopes(&[r.scope()]).unwrap().len(), 2);
        }
        assert_eq!(
            expand_scopes(&["PM.User", "PM.Nope", "PM", "PM.Nope"]).unwrap_err(),
            ["PM.Nope", "PM"]
        );
        assert!(expand_scopes::<&str>(&[]).unwrap().is_empty());
    }

    #[test]
    fn every_route_is_documented_in_the_readme() {
        let readme = include_str!("../README.md");
        for route in ROUTES {
            let row = format!("`{} {}`", route.method, route.path);
            assert!(readme.contains(&row), "README.md does not list {row}");
        }
        for path in metadata::PATHS.iter().take(1) {
            let row = format!("`GET {path}`");
            assert!(readme.contains(&row), "README.md does not list {row}");
        }
    }

    #[test]
    fn parameters_are_renamed_by_position() {
        assert_eq!(axum_path("/a/{x}/{y}/z"), "/a/{p0}/{p1}/z");
        assert_eq!(axum_path("/a"), "/a");
        assert_eq!(
            axum_path("/odata/Users({key})/X.Y"),
            "/odata/Users({p0}/X.Y"
        );
    }

    #[test]
    fn odata_routes_are_also_served_under_the_orchestrator_base() {
        let route = ROUTES.iter().find(|r| r.path == "/odata/Users").unwrap();
        assert_eq!(
            route.paths(),
            [
                "/odata/Users",
                "/{organizationName}/{tenantName}/orchestrator_/odata/Users"
            ]
        );
        let route = ROUTES
            .iter()
            .find(|r| r.path == "/identity/api/Setting")
            .unwrap();
        assert_eq!(route.paths(), ["/identity/api/Setting"]);
    }
}
