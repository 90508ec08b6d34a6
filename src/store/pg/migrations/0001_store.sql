-- regway's store on PostgreSQL, version 1.
--
-- The gateway's records are (key, value) rows under the ordered keys of
-- src/store/kv/keys.rs, the same as in the embedded store: every listing is a range
-- scan of the primary key under one partner's prefix, and a request-id record is
-- unique per partner because its key is (partner, request-id).
CREATE TABLE regway_kv (
    k BYTEA PRIMARY KEY,
    v BYTEA NOT NULL
);

-- The one row every write transaction locks first (SELECT ... FOR UPDATE): write jobs
-- of all nodes run one transaction at a time, each seeing what the one before left.
CREATE TABLE regway_writer (
    id INT PRIMARY KEY
);
INSERT INTO regway_writer (id) VALUES (1);

-- The store's identity and other facts about the database itself.
CREATE TABLE regway_meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The last batch each running node committed: after a COMMIT whose answer was lost,
-- the node reads its row to learn whether the batch is in.
CREATE TABLE regway_commits (
    node TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    seen TIMESTAMPTZ NOT NULL
);

-- The sandbox registry's own state, apart from the gateway's records.
CREATE TABLE regway_registry (
    name TEXT NOT NULL,
    k BYTEA NOT NULL,
    v BYTEA NOT NULL,
    PRIMARY KEY (name, k)
);

-- Leases on shared work (an order being carried out, the day's jobs): held by one node
-- until `until`, then free for any; a node that dies loses them when they end.
CREATE TABLE regway_leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until TIMESTAMPTZ NOT NULL
);
