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
    org_id UUID PRIMARY KEY NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    last_number BIGINT NOT NULL
);

ALTER TABLE users ADD COLUMN number BIGINT;
ALTER TABLE robot_accounts ADD COLUMN number BIGINT;
ALTER TABLE identity_groups ADD COLUMN number BIGINT;
ALTER TABLE identity_roles ADD COLUMN number BIGINT;

-- Rows made before this migration: numbered per organization, oldest first.
CREATE TEMP TABLE identity_backfill AS
SELECT id, org_id, ROW_NUMBER() OVER (PARTITION BY org_id ORDER BY created_at, id) AS number
FROM (
    SELECT id, org_id, created_at FROM users
    UNION ALL SELECT id, org_id, created_at FROM robot_accounts
    UNION ALL SELECT id, org_id, created_at FROM identity_groups
    UNION ALL SELECT id, org_id, created_at FROM identity_roles
) AS all_rows;
UPDATE users SET number = b.number FROM identity_backfill b WHERE b.id = users.id;
UPDATE robot_accounts SET number = b.number FROM identity_backfill b WHERE b.id = robot_accounts.id;
UPDATE identity_groups SET number = b.number FROM identity_backfill b WHERE b.id = identity_groups.id;
UPDATE identity_roles SET number = b.number FROM identity_backfill b WHERE b.id = identity_roles.id;
INSERT INTO identity_counters (org_id, last_number)
SELECT o.id, COALESCE((SELECT MAX(b.number) FROM identity_backfill b WHERE b.org_id = o.id), 0)
FROM organizations o;
DROP TABLE identity_backfill;

ALTER TABLE users ALTER COLUMN number SET NOT NULL;
ALTER TABLE robot_accounts ALTER COLUMN number SET NOT NULL;
ALTER TABLE identity_groups ALTER COLUMN number SET NOT NULL;
ALTER TABLE identity_roles ALTER COLUMN number SET NOT NULL;
CREATE UNIQUE INDEX users_number ON users (org_id, number);
CREATE UNIQUE INDEX robot_accounts_number ON robot_accounts (org_id, number);
CREATE UNIQUE INDEX identity_groups_number ON identity_groups (org_id, number);
CREATE UNIQUE INDEX identity_roles_number ON identity_roles (org_id, number);

CREATE FUNCTION organizations_identity_counter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO identity_counters (org_id, last_number) VALUES (NEW.id, 0);
    RETURN NEW;
END
$$;
CREATE TRIGGER organizations_identity_counter AFTER INSERT ON organizations
    FOR EACH ROW EXECUTE FUNCTION organizations_identity_counter();

-- The counter row is locked by the UPDATE until the inserting transaction
-- ends, so concurrent inserts in one organization take turns.
CREATE FUNCTION identity_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.number IS NULL THEN
        UPDATE identity_counters SET last_number = last_number + 1
        WHERE org_id = NEW.org_id
        RETURNING last_number INTO NEW.number;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER users_identity_number BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION identity_number();
CREATE TRIGGER robot_accounts_identity_number BEFORE INSERT ON robot_accounts
    FOR EACH ROW EXECUTE FUNCTION identity_number();
CREATE TRIGGER identity_groups_identity_number BEFORE INSERT ON identity_groups
    FOR EACH ROW EXECUTE FUNCTION identity_number();
CREATE TRIGGER identity_roles_identity_number BEFORE INSERT ON identity_roles
    FOR EACH ROW EXECUTE FUNCTION identity_number();
