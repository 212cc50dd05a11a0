-- +goose Up
-- The console's per-user preferences, kept apart from users so the account
-- rows (and every query over them) stay as they are.
CREATE TABLE user_settings (
    user_id    bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- A console language tag ("en", "zh-CN"); '' follows the cookie or the
    -- browser's Accept-Language.
    language   text NOT NULL DEFAULT '',
    -- An IANA zone name ("Asia/Shanghai"); '' follows the browser's zone.
    time_zone  text NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE user_settings;
