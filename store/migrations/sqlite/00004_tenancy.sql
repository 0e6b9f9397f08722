-- Tenancy and role-scoped access tokens. SQLite twin of migrations/postgres/00004_tenancy.sql.

-- +goose Up
CREATE TABLE instances (
    id         INTEGER  PRIMARY KEY,
    zuid       TEXT     NOT NULL,
    name       TEXT     NOT NULL,
    created_by TEXT,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    CONSTRAINT instances_zuid_key UNIQUE (zuid)
);

CREATE TABLE instance_roles (
    id          TEXT     PRIMARY KEY,
    zuid        TEXT     NOT NULL,
    instance_id INTEGER  NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    name        TEXT     NOT NULL,
    system_role TEXT     NOT NULL,
    custom      BOOLEAN  NOT NULL,
    description TEXT     NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    updated_at  DATETIME NOT NULL,
    CONSTRAINT instance_roles_zuid_key UNIQUE (zuid),
    CONSTRAINT instance_roles_instance_name_key UNIQUE (instance_id, name)
);

CREATE TABLE instance_members (
    instance_id INTEGER  NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    user_id     TEXT     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role_id     TEXT     NOT NULL REFERENCES instance_roles (id) ON DELETE RESTRICT,
    created_at  DATETIME NOT NULL,
    CONSTRAINT instance_members_pkey PRIMARY KEY (instance_id, user_id)
);
CREATE INDEX instance_members_user_id_idx ON instance_members (user_id);
CREATE INDEX instance_members_role_id_idx ON instance_members (role_id);

ALTER TABLE api_tokens ADD COLUMN zuid TEXT;
ALTER TABLE api_tokens ADD COLUMN role_id TEXT REFERENCES instance_roles (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN created_by TEXT;
CREATE UNIQUE INDEX api_tokens_zuid_key ON api_tokens (zuid);
CREATE INDEX api_tokens_role_id_idx ON api_tokens (role_id);

-- +goose Down
DROP INDEX api_tokens_role_id_idx;
DROP INDEX api_tokens_zuid_key;
ALTER TABLE api_tokens DROP COLUMN created_by;
ALTER TABLE api_tokens DROP COLUMN role_id;
ALTER TABLE api_tokens DROP COLUMN zuid;
DROP TABLE instance_members;
DROP TABLE instance_roles;
DROP TABLE instances;
