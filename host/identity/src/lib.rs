//! Identity for Plugboard: external applications and their access tokens,
//! the scope rule, and the Platform Management API of seed 003 under
//! `/identity/api/…`.
//!
//! [`router`] builds every route from the one [`ROUTES`] table; the table
//! also names each route's [`Resource`], and [`required_scope`] derives the
//! scope from resource + method in one place (`.Read` for GET, `.Write`
//! otherwise). The isolation test and the scope matrix walk the same
//! table. `README.md` documents every route, the scopes and the rules.
//!
//! Modules: `auth` (tokens, the guard, secret hashing), `sign_in` (the one
//! password check, throttled), `request` (the `Ctx`
//! every handler starts from), `api` (seed 003), `apps` (external
//! applications), `users_api` (seed 004) over [`odata`].
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
pub mod odata;
mod request;
mod sign_in;
mod users_api;

use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use plugboard_store::Store;

pub use apps::{AppRefusal, CheckedApp, check_app};
pub use auth::{
    Caller, hash_secret, hash_secret_off_runtime, register_external_app, verify_secret,
};
pub use error::ApiError;
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
    /// The scope name without `.Read`/`.Write`.
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
/// of each [`Resource`]. Built once.
pub fn all_scopes() -> &'static [String] {
    static ALL: LazyLock<Vec<String>> = LazyLock::new(|| {
        Resource::ALL
            .iter()
            .flat_map(|r| [Method::GET, Method::POST].map(|m| required_scope(*r, &m)))
            .collect()
    });
    &ALL
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

/// One route of the API.
pub struct Route {
    /// Method.
    pub method: Method,
    /// Path as the seed writes it (`{name}` parameters).
    pub path: &'static str,
    /// Resource (decides the scope).
    pub resource: Resource,
    make: fn(MethodFilter) -> MethodRouter<IdentityState>,
}

macro_rules! routes {
    ($($method:ident $path:literal $res:ident $handler:path;)*) => {
        /// Every authenticated route, in one table: [`router`] builds from it
        /// and the isolation test walks it.
        pub static ROUTES: &[Route] = &[$(Route {
            method: Method::$method,
            path: $path,
            resource: Resource::$res,
            make: |m| on(m, $handler),
        }),*];
    };
}

routes! {
    GET "/identity/api/AuditQuery/{organizationId}" Audit api::audit_query;
    GET "/identity/api/AuditQuery/{organizationId}/download" Audit api::audit_download;
    GET "/identity/api/Group/{partitionGlobalId}" Group api::list_groups;
    GET "/identity/api/Group/{partitionGlobalId}/{groupId}" Group api::get_group;
    POST "/identity/api/Group" Group api::create_group;
    PUT "/identity/api/Group/{groupId}" Group api::update_group;
    DELETE "/identity/api/Group/{partitionGlobalId}" Group api::delete_groups;
    DELETE "/identity/api/Group/{partitionGlobalId}/{groupId}" Group api::delete_group;
    GET "/identity/api/MessageTemplate" MessageTemplate api::find_templates;
    GET "/identity/api/MessageTemplate/{templateId}" MessageTemplate api::get_template;
    POST "/identity/api/MessageTemplate" MessageTemplate api::create_template;
    PUT "/identity/api/MessageTemplate/{templateId}" MessageTemplate api::update_template;
    DELETE "/identity/api/MessageTemplate/{templateId}" MessageTemplate api::delete_template;
    GET "/identity/api/RobotAccount/{partitionGlobalId}" RobotAccount api::list_robots;
    GET "/identity/api/RobotAccount/{partitionGlobalId}/{robotAccountId}" RobotAccount api::get_robot;
    POST "/identity/api/RobotAccount" RobotAccount api::create_robot;
    PUT "/identity/api/RobotAccount/{robotAccountId}" RobotAccount api::update_robot;
    DELETE "/identity/api/RobotAccount/{partitionGlobalId}/{robotAccountId}" RobotAccount api::delete_robot;
    DELETE "/identity/api/RobotAccount/{partitionGlobalId}" RobotAccount api::delete_robots;
    GET "/identity/api/Setting" Setting api::get_settings;
    PUT "/identity/api/Setting" Setting api::put_settings;
    GET "/identity/api/User/{userId}" User api::get_user;
    POST "/identity/api/User" User api::create_user;
    POST "/identity/api/User/BulkCreate" User api::bulk_create_users;
    POST "/identity/api/User/{userId}/changepassword" User api::change_password;
    PUT "/identity/api/User/{userId}" User api::update_user;
    DELETE "/identity/api/User" User api::delete_users;
    DELETE "/identity/api/User/{userId}" User api::delete_user;
    GET "/identity/api/User/{userId}/loginAttempts" UserLoginAttempt api::login_attempts;
    GET "/odata/Users" ODataUsers users_api::list_users;
    GET "/odata/Roles" ODataRoles users_api::list_roles;
    DELETE "/odata/Users({key})" ODataUsers api::delete_user;
    PUT "/odata/Users({key})" ODataUsers users_api::provision_robot;
    POST "/odata/Users({key})/UiPath.Server.Configuration.OData.ChangeUserCulture" ODataUsers users_api::change_culture;
    POST "/odata/Users({key})/UiPath.Server.Configuration.OData.AssignRoles" ODataUsers users_api::assign_roles;
    POST "/odata/Roles" ODataRoles users_api::create_role;
    PUT "/odata/Roles({roleId})" ODataRoles users_api::update_role;
    DELETE "/odata/Roles({roleId})" ODataRoles users_api::delete_role;
    GET "/identity/api/ExternalApplication/{partitionGlobalId}" ExternalApp apps::list;
    GET "/identity/api/ExternalApplication/{partitionGlobalId}/{appId}" ExternalApp apps::get;
    POST "/identity/api/ExternalApplication" ExternalApp apps::register_app;
    PUT "/identity/api/ExternalApplication/{appId}" ExternalApp apps::update;
    POST "/identity/api/ExternalApplication/{appId}/rotateSecret" ExternalApp apps::rotate_secret;
    DELETE "/identity/api/ExternalApplication/{partitionGlobalId}/{appId}" ExternalApp apps::delete;
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

/// The identity routes: `POST /identity/connect/token` (no token needed)
/// and every route of [`ROUTES`] behind the bearer-token and scope check.
/// Merge it into the server's router: `app.merge(plugboard_identity::router(state))`.
pub fn router(state: IdentityState) -> Router {
    let mut r: Router<IdentityState> =
        Router::new().route("/identity/connect/token", axum::routing::post(auth::token));
    for route in ROUTES {
        let filter = MethodFilter::try_from(route.method.clone()).unwrap_or_else(|_| {
            panic!("route {} {}: unsupported method", route.method, route.path)
        });
        let scope = required_scope(route.resource, &route.method);
        let guarded = (route.make)(filter).route_layer(axum::middleware::from_fn_with_state(
            auth::Guard {
                state: state.clone(),
                scope,
                route: route.path,
            },
            auth::authorize,
        ));
        r = r.route(&axum_path(route.path), guarded);
    }
    r.with_state(state)
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
    fn every_route_is_documented_in_the_readme() {
        let readme = include_str!("../README.md");
        for route in ROUTES {
            let row = format!("`{} {}`", route.method, route.path);
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
}
