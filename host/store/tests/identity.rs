//! The identity tables on both backends (see `common`): the integer
//! numbers seed 004's clients use (migration 0012), the built-ins every
//! organization has and the reasons of refused sign-ins (migration 0013),
//! including for rows that existed before those migrations.

mod common;

use std::borrow::Cow;
use std::collections::HashSet;

use common::{Backend, TestDb};
use plugboard_store::{
    BUILT_IN_GROUPS, BUILT_IN_ROLES, BUILT_IN_TEMPLATES, Database, IdentityKind, OrganizationId,
    Store,
};
use sqlx::migrate::Migrator;
use uuid::Uuid;

on_both_backends!(
    numbers_are_per_organization_shared_by_kinds_and_never_reused,
    concurrent_inserts_in_one_organization_get_distinct_numbers,
    a_new_organization_has_its_built_ins_and_the_store_never_deletes_them,
    rows_made_before_the_migrations_get_numbers_and_built_ins,
    a_refused_sign_in_keeps_its_reason,
    a_user_who_still_owns_connections_is_not_deleted_and_keeps_everything,
);

async fn numbers_are_per_organization_shared_by_kinds_and_never_reused(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = db.open().await;
    let a = s.create_organization("a").await.unwrap().id;
    let b = s.create_organization("b").await.unwrap().id;
    // The built-ins took the first numbers of each organization.
    let first = built_in_count();
    let user = s.create_user(a, "alice", "Alice", None).await.unwrap();
    let robot = s.create_robot_account(a, "bot", "Bot").await.unwrap();
    let group = s.create_group(a, "ops", &[]).await.unwrap();
    let role = s.create_role(a, "viewer", &[]).await.unwrap();
    let user_number = s.user_number(a, user.id).await.unwrap().unwrap();
    assert_eq!(
        [user_number, robot.number, group.number, role.number],
        [first + 1, first + 2, first + 3, first + 4]
    );
    // Organization B counts on its own: A's numbers say nothing about B.
    let other = s.create_robot_account(b, "bot", "Bot").await.unwrap();
    assert_eq!(other.number, first + 1);

    for (number, kind, id) in [
        (user_number, IdentityKind::User, user.id.0),
        (robot.number, IdentityKind::RobotAccount, robot.id),
        (group.number, IdentityKind::Group, group.id),
        (role.number, IdentityKind::Role, role.id),
    ] {
        assert_eq!(
            s.find_identity_number(a, number).await.unwrap(),
            Some((kind, id))
        );
    }
    // And back: what an id is, and its number, in its organization only.
    assert_eq!(
        s.find_identity(a, robot.id).await.unwrap(),
        Some((IdentityKind::RobotAccount, robot.number))
    );
    assert_eq!(s.find_identity(b, robot.id).await.unwrap(), None);
    assert_eq!(s.find_identity(a, Uuid::now_v7()).await.unwrap(), None);
    // The same number in B is B's own row, never A's.
    assert_eq!(
        s.find_identity_number(b, user_number).await.unwrap(),
        Some((IdentityKind::RobotAccount, other.id))
    );
    assert_eq!(s.find_identity_number(b, role.number).await.unwrap(), None);
    assert_eq!(s.user_number(b, user.id).await.unwrap(), None);

    // Deleting the newest row does not give its number back.
    assert!(s.delete_role(a, role.id).await.unwrap());
    assert_eq!(s.find_identity_number(a, role.number).await.unwrap(), None);
    let next = s.create_role(a, "viewer", &[]).await.unwrap();
    assert_eq!(next.number, role.number + 1);

    // The directory lists users, robot accounts and groups by number.
    let dir = s.list_directory(a, None).await.unwrap();
    let numbers: Vec<i64> = dir.iter().map(|e| e.number).collect();
    let mut sorted = numbers.clone();
    sorted.sort();
    assert_eq!(numbers, sorted);
    assert!(dir.iter().all(|e| e.kind != IdentityKind::Role));
    let one = s.list_directory(a, Some(robot.id)).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!((one[0].number, one[0].name.as_str()), (robot.number, "bot"));
    assert!(
        s.list_directory(b, Some(robot.id))
            .await
            .unwrap()
            .is_empty()
    );
}

/// The number of built-in rows that take a number (groups and roles).
fn built_in_count() -> i64 {
    (BUILT_IN_GROUPS.len() + BUILT_IN_ROLES.len()) as i64
}

async fn concurrent_inserts_in_one_organization_get_distinct_numbers(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = db.open().await;
    let org = s.create_organization("o").await.unwrap().id;
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    s.create_robot_account(org, &format!("bot{i}"), "Bot")
                        .await
                        .unwrap()
                        .number
                } else {
                    s.create_group(org, &format!("g{i}"), &[])
                        .await
                        .unwrap()
                        .number
                }
            })
        })
        .collect();
    let mut numbers = HashSet::new();
    for t in tasks {
        assert!(numbers.insert(t.await.unwrap()), "a number was given twice");
    }
    let first = built_in_count();
    assert_eq!(numbers, (first + 1..=first + 16).collect());
}

async fn a_new_organization_has_its_built_ins_and_the_store_never_deletes_them(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = db.open().await;
    let org = s.create_organization("o").await.unwrap().id;
    assert_eq!(
        built_ins_of(&s, org).await,
        expected_built_ins(),
        "a new organization's built-ins"
    );
    // Making them again changes nothing.
    s.create_identity_built_ins(org).await.unwrap();
    assert_eq!(built_ins_of(&s, org).await, expected_built_ins());

    let alice = s.create_user(org, "alice", "Alice", None).await.unwrap();
    let bob = s.create_user(org, "bob", "Bob", None).await.unwrap();
    let local = s.create_group(org, "ops", &[alice.id.0]).await.unwrap();
    let groups = s.list_groups(org).await.unwrap();
    let everyone = groups
        .iter()
        .find(|g| g.builtin.as_deref() == Some("everyone"))
        .unwrap();
    let mut users = vec![alice.id.0, bob.id.0];
    users.sort();
    let mut members = everyone.members.clone();
    members.sort();
    assert_eq!(members, users, "Everyone's members are every user");

    // Deleting every group deletes the local ones only; one by one,
    // a built-in is not deleted either.
    assert_eq!(s.delete_groups(org, None).await.unwrap(), 1);
    assert!(s.get_group(org, local.id).await.unwrap().is_none());
    assert_eq!(s.delete_groups(org, Some(everyone.id)).await.unwrap(), 0);
    let role = s.list_roles(org).await.unwrap()[0].clone();
    assert!(role.builtin.is_some());
    assert!(!s.delete_role(org, role.id).await.unwrap());
    let template = s.find_message_templates(org, None, None).await.unwrap()[0].clone();
    assert!(!s.delete_message_template(org, template.id).await.unwrap());
    assert_eq!(built_ins_of(&s, org).await, expected_built_ins());
}

/// (kind, key, name, value) of every built-in row of `org`, sorted.
async fn built_ins_of(s: &Store, org: OrganizationId) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for g in s.list_groups(org).await.unwrap() {
        if let Some(k) = g.builtin {
            out.push(("group".into(), k, g.name, String::new()));
        }
    }
    for r in s.list_roles(org).await.unwrap() {
        if let Some(k) = r.builtin {
            out.push(("role".into(), k, r.name, r.permissions.join(" ")));
        }
    }
    for t in s.find_message_templates(org, None, None).await.unwrap() {
        if let Some(k) = t.builtin {
            out.push(("template".into(), k, t.name, t.value));
        }
    }
    out.sort();
    out
}

fn expected_built_ins() -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = [
        ("group", BUILT_IN_GROUPS),
        ("role", BUILT_IN_ROLES),
        ("template", BUILT_IN_TEMPLATES),
    ]
    .iter()
    .flat_map(|(kind, list)| {
        list.iter().map(|b| {
            (
                kind.to_string(),
                b.key.to_owned(),
                b.name.to_owned(),
                b.value.to_owned(),
            )
        })
    })
    .collect();
    out.sort();
    out
}

/// Runs the migrations before 0012 only, as a database of an earlier
/// Plugboard would be.
async fn migrate_before_identity_numbers(db: &TestDb) {
    let keep = |m: &sqlx::migrate::Migrator| -> Migrator {
        Migrator {
            migrations: Cow::Owned(m.iter().filter(|m| m.version < 12).cloned().collect()),
            ..Migrator::DEFAULT
        }
    };
    match &db.database {
        Database::Sqlite(path) => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
            keep(&sqlx::migrate!("./migrations/sqlite"))
                .run(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Database::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            keep(&sqlx::migrate!("./migrations/postgres"))
                .run(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

async fn rows_made_before_the_migrations_get_numbers_and_built_ins(backend: Backend) {
    let db = TestDb::new(backend).await;
    migrate_before_identity_numbers(&db).await;
    let (org, other) = (Uuid::now_v7(), Uuid::now_v7());
    let (alice, ops, admins, bot, role) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let uuid = |u: Uuid| match backend {
        Backend::Sqlite => format!("X'{}'", u.simple()),
        Backend::Postgres => format!("'{u}'"),
    };
    for sql in [
        format!(
            "INSERT INTO organizations (id, name, created_at) VALUES ({}, 'old', 1), ({}, 'other', 1)",
            uuid(org),
            uuid(other)
        ),
        format!(
            "INSERT INTO users (id, org_id, user_name, display_name, created_at) VALUES ({}, {}, 'alice', 'Alice', 10)",
            uuid(alice),
            uuid(org)
        ),
        format!(
            "INSERT INTO identity_groups (id, org_id, name, created_at) VALUES ({}, {}, 'ops', 20), ({}, {}, 'Administrators', 30)",
            uuid(ops),
            uuid(org),
            uuid(admins),
            uuid(org)
        ),
        format!(
            "INSERT INTO identity_group_members (org_id, group_id, member_id) VALUES ({}, {}, {})",
            uuid(org),
            uuid(admins),
            uuid(alice)
        ),
        format!(
            "INSERT INTO robot_accounts (id, org_id, name, display_name, created_at) VALUES ({}, {}, 'bot', 'Bot', 40)",
            uuid(bot),
            uuid(org)
        ),
        format!(
            "INSERT INTO identity_roles (id, org_id, name, permissions, created_at) VALUES ({}, {}, 'viewer', 'Users.View', 50)",
            uuid(role),
            uuid(org)
        ),
    ] {
        db.exec(&sql).await.unwrap();
    }

    let s = db.open().await;
    let org = OrganizationId::from(org);
    // Oldest first, per organization.
    assert_eq!(s.user_number(org, alice.into()).await.unwrap(), Some(1));
    let groups = s.list_groups(org).await.unwrap();
    let number = |id: Uuid| groups.iter().find(|g| g.id == id).unwrap().number;
    assert_eq!((number(ops), number(admins)), (2, 3));
    assert_eq!(s.list_robot_accounts(org, None).await.unwrap()[0].number, 4);
    let roles = s.list_roles(org).await.unwrap();
    assert_eq!(roles.iter().find(|r| r.id == role).unwrap().number, 5);

    // The same built-ins as a new organization; the `Administrators` it
    // had became the built-in one, members kept.
    assert_eq!(built_ins_of(&s, org).await, expected_built_ins());
    assert_eq!(built_ins_of(&s, other.into()).await, expected_built_ins());
    let admin_group = s.get_group(org, admins).await.unwrap().unwrap();
    assert_eq!(admin_group.builtin.as_deref(), Some("administrators"));
    assert_eq!(admin_group.members, vec![alice]);
    // Built-ins made by the migration are numbered after the old rows,
    // and the counter goes on from there.
    let all: Vec<i64> = s
        .list_directory(org, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.number)
        .chain(s.list_roles(org).await.unwrap().iter().map(|r| r.number))
        .collect();
    let max = *all.iter().max().unwrap();
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
    let next = s.create_robot_account(org, "later", "Later").await.unwrap();
    assert_eq!(next.number, max + 1);
    // The SQL made real version-4 UUIDs for them, all different.
    let made: Vec<Uuid> = s
        .list_groups(other.into())
        .await
        .unwrap()
        .iter()
        .map(|g| g.id)
        .chain(
            s.list_roles(other.into())
                .await
                .unwrap()
                .iter()
                .map(|r| r.id),
        )
        .collect();
    assert!(made.iter().all(|u| u.get_version_num() == 4), "{made:?}");
    assert_eq!(made.iter().collect::<HashSet<_>>().len(), made.len());
}

async fn a_refused_sign_in_keeps_its_reason(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = db.open().await;
    let org = s.create_organization("o").await.unwrap().id;
    let u = s.create_user(org, "alice", "Alice", None).await.unwrap();
    s.record_login_attempt(org, u.id, None, "console")
        .await
        .unwrap();
    s.record_login_attempt(org, u.id, Some("no_tenant"), "console")
        .await
        .unwrap();
    let attempts = s.list_login_attempts(org, u.id).await.unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.succeeded, a.reason.as_deref()))
            .collect::<Vec<_>>(),
        [(false, Some("no_tenant")), (true, None)]
    );
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    assert_eq!(
        s.failed_login_attempts_since(org, u.id, since)
            .await
            .unwrap(),
        1
    );
}

async fn a_user_who_still_owns_connections_is_not_deleted_and_keeps_everything(backend: Backend) {
    let db = TestDb::new(backend).await;
    let s = db.open().await;
    let org = s.create_organization("o").await.unwrap().id;
    let tenant = s.create_tenant(org, "t").await.unwrap();
    let u = s.create_user(org, "alice", "Alice", None).await.unwrap();
    let role = s.create_role(org, "viewer", &[]).await.unwrap();
    s.assign_roles(org, u.id.0, &[role.id]).await.unwrap();
    let group = s.create_group(org, "ops", &[u.id.0]).await.unwrap();
    let folder = s.personal_folder(&tenant.scope(), u.id).await.unwrap();
    s.create_connection(
        &tenant.scope(),
        plugboard_store::NewConnection::new(folder.id, "zoom", "oauth2_authorization_code", "Zoom"),
    )
    .await
    .unwrap();

    let e = s.delete_user(org, u.id).await.unwrap_err();
    assert!(
        matches!(e, plugboard_store::StoreError::InUse { what: "user", .. }),
        "{e}"
    );
    assert!(
        e.to_string().contains("delete those connections first"),
        "{e}"
    );
    assert!(s.get_user(org, u.id).await.unwrap().is_some());
    assert_eq!(s.roles_of(org, u.id.0).await.unwrap(), [role.id]);
    assert_eq!(
        s.get_group(org, group.id).await.unwrap().unwrap().members,
        [u.id.0]
    );
}
