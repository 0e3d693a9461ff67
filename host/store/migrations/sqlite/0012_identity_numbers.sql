-- Integer ids for seed 004 (issue 17): UiPath's clients address users,
-- robot accounts, groups and roles by an integer `Id` (`Users(446)`,
-- `"roleIds": [1, 3]`) beside the UUID key. Each organization numbers its
-- principals and roles from one counter, so an `Id` names one thing in
-- its organization whatever its kind (`Users(9)` may be a user, a robot
-- account or a group), numbers never go back to another organization's
-- count, and a number is never reused: the counter only goes up, also
-- when its row is deleted.
--
-- The database assigns the number (a trigger per table), so every code
-- path that inserts one of these rows gets one without knowing about it.
-- An organization's counter is made with the organization (a trigger too).

CREATE TABLE identity_counters (
    org_id BLOB PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    last_number INTEGER NOT NULL
);

ALTER TABLE users ADD COLUMN number INTEGER;
ALTER TABLE robot_accounts ADD COLUMN number INTEGER;
ALTER TABLE identity_groups ADD COLUMN number INTEGER;
ALTER TABLE identity_roles ADD COLUMN number INTEGER;

-- Rows made before this migration: numbered per organization, oldest first.
CREATE TEMP TABLE identity_backfill AS
SELECT id, org_id, ROW_NUMBER() OVER (PARTITION BY org_id ORDER BY created_at, id) AS number
FROM (
    SELECT id, org_id, created_at FROM users
    UNION ALL SELECT id, org_id, created_at FROM robot_accounts
    UNION ALL SELECT id, org_id, created_at FROM identity_groups
    UNION ALL SELECT id, org_id, created_at FROM identity_roles
);
UPDATE users SET number = (SELECT b.number FROM identity_backfill b WHERE b.id = users.id);
UPDATE robot_accounts SET number = (SELECT b.number FROM identity_backfill b WHERE b.id = robot_accounts.id);
UPDATE identity_groups SET number = (SELECT b.number FROM identity_backfill b WHERE b.id = identity_groups.id);
UPDATE identity_roles SET number = (SELECT b.number FROM identity_backfill b WHERE b.id = identity_roles.id);
INSERT INTO identity_counters (org_id, last_number)
SELECT o.id, COALESCE((SELECT MAX(b.number) FROM identity_backfill b WHERE b.org_id = o.id), 0)
FROM organizations o;
DROP TABLE identity_backfill;

CREATE UNIQUE INDEX users_number ON users (org_id, number);
CREATE UNIQUE INDEX robot_accounts_number ON robot_accounts (org_id, number);
CREATE UNIQUE INDEX identity_groups_number ON identity_groups (org_id, number);
CREATE UNIQUE INDEX identity_roles_number ON identity_roles (org_id, number);

CREATE TRIGGER organizations_identity_counter AFTER INSERT ON organizations
BEGIN
    INSERT INTO identity_counters (org_id, last_number) VALUES (NEW.id, 0);
END;

-- SQLite triggers cannot change NEW: the number is written just after the
-- insert, in the same statement (so in the same transaction).
CREATE TRIGGER users_identity_number AFTER INSERT ON users WHEN NEW.number IS NULL
BEGIN
    UPDATE identity_counters SET last_number = last_number + 1 WHERE org_id = NEW.org_id;
    UPDATE users SET number = (SELECT last_number FROM identity_counters WHERE org_id = NEW.org_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER robot_accounts_identity_number AFTER INSERT ON robot_accounts WHEN NEW.number IS NULL
BEGIN
    UPDATE identity_counters SET last_number = last_number + 1 WHERE org_id = NEW.org_id;
    UPDATE robot_accounts SET number = (SELECT last_number FROM identity_counters WHERE org_id = NEW.org_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER identity_groups_identity_number AFTER INSERT ON identity_groups WHEN NEW.number IS NULL
BEGIN
    UPDATE identity_counters SET last_number = last_number + 1 WHERE org_id = NEW.org_id;
    UPDATE identity_groups SET number = (SELECT last_number FROM identity_counters WHERE org_id = NEW.org_id)
    WHERE id = NEW.id;
END;

CREATE TRIGGER identity_roles_identity_number AFTER INSERT ON identity_roles WHEN NEW.number IS NULL
BEGIN
    UPDATE identity_counters SET last_number = last_number + 1 WHERE org_id = NEW.org_id;
    UPDATE identity_roles SET number = (SELECT last_number FROM identity_counters WHERE org_id = NEW.org_id)
    WHERE id = NEW.id;
END;
