-- +goose Up
-- Stored prompts. name is the id clients send (prompt_id, prompt.id);
-- owner_id NULL is a shared prompt (admins manage it, everyone may use it),
-- otherwise the prompt is its owner's alone.
CREATE TABLE prompts (
    id             bigserial   PRIMARY KEY,
    name           text        NOT NULL UNIQUE,
    owner_id       bigint      REFERENCES users (id),
    description    text        NOT NULL DEFAULT '',
    latest_version integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX prompts_owner_id_idx ON prompts (owner_id);

-- A version is immutable: saving creates the next number. content is the
-- canonical encoding ({"messages","variables","parameters"}) and
-- content_hash its hex SHA-256, which log rows record. The column is json,
-- not jsonb, so the stored text is exactly what was hashed.
CREATE TABLE prompt_versions (
    prompt_id    bigint      NOT NULL REFERENCES prompts (id) ON DELETE CASCADE,
    version      integer     NOT NULL,
    content      json        NOT NULL,
    content_hash text        NOT NULL,
    note         text        NOT NULL DEFAULT '',
    created_by   bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prompt_id, version)
);

-- +goose StatementBegin
CREATE FUNCTION prompt_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'prompt versions are immutable: save a new version instead';
END
$$;
-- +goose StatementEnd
CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE ON prompt_versions
    FOR EACH ROW EXECUTE FUNCTION prompt_versions_immutable();

-- Labels (production, staging, ...) point at versions and move; "latest" is
-- implicit and never stored.
CREATE TABLE prompt_labels (
    prompt_id  bigint      NOT NULL,
    label      text        NOT NULL,
    version    integer     NOT NULL,
    updated_by bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prompt_id, label),
    FOREIGN KEY (prompt_id, version) REFERENCES prompt_versions (prompt_id, version) ON DELETE CASCADE
);

-- Every node serves prompts from memory; each change of a prompt, its
-- versions or labels announces the prompt's id (kind "prompts"), as the
-- other cached tables do (00010). NOTIFY folds identical payloads of one
-- transaction, so deleting a prompt with many versions sends one.
CREATE TRIGGER prompts_notify AFTER INSERT OR DELETE OR UPDATE OF name, owner_id, latest_version
    ON prompts FOR EACH ROW EXECUTE FUNCTION notify_config_changed('prompts', 'id');
CREATE TRIGGER prompt_versions_notify AFTER INSERT OR DELETE
    ON prompt_versions FOR EACH ROW EXECUTE FUNCTION notify_config_changed('prompts', 'prompt_id');
CREATE TRIGGER prompt_labels_notify AFTER INSERT OR DELETE OR UPDATE
    ON prompt_labels FOR EACH ROW EXECUTE FUNCTION notify_config_changed('prompts', 'prompt_id');

-- A token may be limited to some prompts (comma-separated names; empty: any)
-- and to prompts only (requests that name no stored prompt are refused).
ALTER TABLE tokens ADD COLUMN prompts text NOT NULL DEFAULT '',
                   ADD COLUMN prompts_only boolean NOT NULL DEFAULT false;
DROP TRIGGER tokens_notify ON tokens;
CREATE TRIGGER tokens_notify AFTER INSERT OR DELETE OR UPDATE OF
    user_id, name, key_hash, status, expires_at, unlimited_quota, models, subnet, prompts, prompts_only
    ON tokens FOR EACH ROW EXECUTE FUNCTION notify_config_changed('tokens', 'id');

-- Which prompt version served a request. Constant defaults: no table rewrite.
ALTER TABLE logs ADD COLUMN prompt_name    text    NOT NULL DEFAULT '',
                 ADD COLUMN prompt_version integer NOT NULL DEFAULT 0,
                 ADD COLUMN prompt_hash    text    NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE logs DROP COLUMN prompt_hash, DROP COLUMN prompt_version, DROP COLUMN prompt_name;
DROP TRIGGER tokens_notify ON tokens;
CREATE TRIGGER tokens_notify AFTER INSERT OR DELETE OR UPDATE OF
    user_id, name, key_hash, status, expires_at, unlimited_quota, models, subnet
    ON tokens FOR EACH ROW EXECUTE FUNCTION notify_config_changed('tokens', 'id');
ALTER TABLE tokens DROP COLUMN prompts_only, DROP COLUMN prompts;
DROP TABLE prompt_labels;
DROP TABLE prompt_versions;
DROP FUNCTION prompt_versions_immutable;
DROP TABLE prompts;
