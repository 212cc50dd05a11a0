-- +goose Up
-- Moving from One API (`oneapi import`). One API signs people in with WeChat
-- too; its WeChat ids are kept so that sign-in can be added without asking
-- every user to link their account again.
ALTER TABLE users ADD COLUMN wechat_id text UNIQUE;

-- oneapi_imported_rows records every One API row an import wrote, by its
-- table and id there (the id is kept here too), so a later `import --merge`
-- skips what is already imported instead of mistaking a row created here
-- for one imported before.
CREATE TABLE oneapi_imported_rows (
    source_table text   NOT NULL,
    source_id    bigint NOT NULL,
    PRIMARY KEY (source_table, source_id)
);

-- oneapi_imports is one row per import: where from, the report, and the
-- highest One API log id brought over (log rows get ids of their own here,
-- so a merge brings only the logs after it).
CREATE TABLE oneapi_imports (
    id          bigserial   PRIMARY KEY,
    imported_at timestamptz NOT NULL DEFAULT now(),
    source      text        NOT NULL,
    report      text        NOT NULL,
    last_log_id bigint      NOT NULL DEFAULT 0
);

-- +goose Down
DROP TABLE oneapi_imports;
DROP TABLE oneapi_imported_rows;
ALTER TABLE users DROP COLUMN wechat_id;
