-- Seed 003 completed (issue 17).
--
-- Built-in groups, roles and message templates: every organization has
-- them, made with it (`Store::create_identity_built_ins`, called by
-- `Store::create_organization`); organizations made before this migration
-- get them here. `builtin` is the built-in's stable key (NULL for rows an
-- organization made itself). A same-named row an organization already
-- had becomes the built-in rather than a duplicate. This list is the one
-- of `BUILT_IN_GROUPS`, `BUILT_IN_ROLES` and `BUILT_IN_TEMPLATES` in
-- host/store/src/identity.rs when this migration was written; a store
-- test compares the two.
--
-- Login attempts get a reason for a refusal (`wrong_password`,
-- `throttled`, `no_tenant`), so a refused sign-in is never shown as a
-- success and says why.

ALTER TABLE identity_groups ADD COLUMN builtin TEXT;
ALTER TABLE identity_roles ADD COLUMN builtin TEXT;
ALTER TABLE message_templates ADD COLUMN builtin TEXT;
CREATE UNIQUE INDEX identity_groups_builtin ON identity_groups (org_id, builtin);
CREATE UNIQUE INDEX identity_roles_builtin ON identity_roles (org_id, builtin);
CREATE UNIQUE INDEX message_templates_builtin ON message_templates (org_id, builtin);

ALTER TABLE login_attempts ADD COLUMN reason TEXT;

CREATE TEMP TABLE built_ins (kind TEXT NOT NULL, builtin TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL);
INSERT INTO built_ins (kind, builtin, name, value) VALUES
    ('group', 'administrators', 'Administrators', ''),
    ('group', 'everyone', 'Everyone', ''),
    ('role', 'administrator', 'Administrator', 'Users.View Users.Edit Roles.View Roles.Edit Groups.View Groups.Edit Robots.View Robots.Edit Settings.View Settings.Edit Audit.View'),
    ('role', 'automation_user', 'Automation User', 'Users.View Robots.View'),
    ('role', 'robot', 'Robot', 'Robots.View Settings.View'),
    ('template', 'user_invitation', 'UserInvitation', 'Hello {{displayName}}, you have been invited to {{organizationName}}. Sign in as {{userName}}.'),
    ('template', 'password_reset', 'PasswordReset', 'Hello {{displayName}}, your password for {{organizationName}} was reset. If you did not ask for this, tell your administrator.'),
    ('template', 'account_locked', 'AccountLocked', 'Hello {{displayName}}, too many failed sign-ins locked your account for a while. If this was not you, tell your administrator.');

UPDATE identity_groups SET builtin = (SELECT b.builtin FROM built_ins b WHERE b.kind = 'group' AND b.name = identity_groups.name)
WHERE name IN (SELECT name FROM built_ins WHERE kind = 'group');
UPDATE identity_roles SET builtin = (SELECT b.builtin FROM built_ins b WHERE b.kind = 'role' AND b.name = identity_roles.name)
WHERE name IN (SELECT name FROM built_ins WHERE kind = 'role');
UPDATE message_templates SET builtin = (SELECT b.builtin FROM built_ins b WHERE b.kind = 'template' AND b.name = message_templates.name)
WHERE name IN (SELECT name FROM built_ins WHERE kind = 'template');

-- A random version-4 UUID, as the 16 bytes the store keeps.
INSERT INTO identity_groups (id, org_id, name, created_at, builtin)
SELECT unhex(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 1, 3) || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(8)), 1, 15)),
       o.id, b.name, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), b.builtin
FROM organizations o, built_ins b
WHERE b.kind = 'group'
  AND NOT EXISTS (SELECT 1 FROM identity_groups g WHERE g.org_id = o.id AND g.builtin = b.builtin);
INSERT INTO identity_roles (id, org_id, name, permissions, created_at, builtin)
SELECT unhex(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 1, 3) || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(8)), 1, 15)),
       o.id, b.name, b.value, CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), b.builtin
FROM organizations o, built_ins b
WHERE b.kind = 'role'
  AND NOT EXISTS (SELECT 1 FROM identity_roles r WHERE r.org_id = o.id AND r.builtin = b.builtin);
INSERT INTO message_templates (id, org_id, name, value, builtin)
SELECT unhex(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 1, 3) || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(8)), 1, 15)),
       o.id, b.name, b.value, b.builtin
FROM organizations o, built_ins b
WHERE b.kind = 'template'
  AND NOT EXISTS (SELECT 1 FROM message_templates t WHERE t.org_id = o.id AND t.builtin = b.builtin);
DROP TABLE built_ins;
