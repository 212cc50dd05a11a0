-- +goose Up
-- Keys of multi-key channels (config "multi_key") that were disabled one at
-- a time: a key the upstream refused (invalid, deactivated, out of credit)
-- stops being used while the channel's other keys go on serving. A key is
-- known by its SHA-256, so editing the channel's keys leaves a stale row
-- harmless. When the last key goes, the channel itself is disabled and its
-- rows are deleted, so enabling it again gives every key another try.
CREATE TABLE channel_disabled_keys (
    channel_id  bigint      NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    key_hash    bytea       NOT NULL,
    key_hint    text        NOT NULL DEFAULT '',
    reason      text        NOT NULL DEFAULT '',
    disabled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel_id, key_hash)
);

-- Every node's routing state holds the disabled keys: a change reloads the
-- channels there, as a change of the channel row does.
CREATE TRIGGER channel_disabled_keys_notify AFTER INSERT OR DELETE OR UPDATE
    ON channel_disabled_keys FOR EACH ROW EXECUTE FUNCTION notify_config_changed('channels', 'channel_id');

-- +goose Down
DROP TABLE channel_disabled_keys;
