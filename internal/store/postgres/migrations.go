package postgres

// migrations mirror internal/store/sqlite's, number for number, so a change to the schema is
// one migration appended to each list. Append only: a released migration is never edited.
// Times are the same integers as in SQLite (unix seconds; nanoseconds for sessions and
// approvals) so that migrate-store copies rows as they are.
var migrations = []string{
	// 1: accounts, their keys, grants and settings.
	`CREATE TABLE accounts (
		name TEXT PRIMARY KEY,
		comment TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		expires_at BIGINT NOT NULL DEFAULT 0,
		osh_only BOOLEAN NOT NULL DEFAULT false,
		always_active BOOLEAN NOT NULL DEFAULT false,
		frozen BOOLEAN NOT NULL DEFAULT false,
		frozen_reason TEXT NOT NULL DEFAULT '',
		max_inactive_days INTEGER NOT NULL DEFAULT -1,
		last_seen_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE account_grants (
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		command TEXT NOT NULL,
		PRIMARY KEY (account, command)
	);
	CREATE TABLE account_settings (
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (account, key)
	);
	CREATE TABLE ingress_keys (
		id BIGSERIAL PRIMARY KEY,
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		line TEXT NOT NULL,
		type TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		comment TEXT NOT NULL DEFAULT '',
		from_pattern TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		UNIQUE (account, fingerprint)
	);
	CREATE TABLE egress_keys (
		id BIGSERIAL PRIMARY KEY,
		owner_kind TEXT NOT NULL,
		owner TEXT NOT NULL,
		type TEXT NOT NULL,
		bits INTEGER NOT NULL,
		public TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		sealed BYTEA NOT NULL,
		created_at BIGINT NOT NULL,
		UNIQUE (owner_kind, owner, fingerprint)
	);`,
	// 2: groups, their roles, ACLs, known host keys.
	`CREATE TABLE groups (
		name TEXT PRIMARY KEY,
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		mfa_required TEXT NOT NULL DEFAULT '',
		idle_lock_timeout INTEGER NOT NULL DEFAULT -1,
		idle_kill_timeout INTEGER NOT NULL DEFAULT -1,
		guest_ttl_limit BIGINT NOT NULL DEFAULT 0
	);
	CREATE TABLE group_roles (
		group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
		role TEXT NOT NULL,
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		PRIMARY KEY (group_name, role, account)
	);
	CREATE INDEX group_roles_account ON group_roles(account);
	CREATE TABLE acl_entries (
		id BIGSERIAL PRIMARY KEY,
		kind TEXT NOT NULL,
		owner TEXT NOT NULL,
		account TEXT NOT NULL DEFAULT '',
		host TEXT NOT NULL,
		"user" TEXT NOT NULL DEFAULT '',
		port INTEGER NOT NULL DEFAULT 0,
		comment TEXT NOT NULL DEFAULT '',
		expires_at BIGINT NOT NULL DEFAULT 0,
		added_by TEXT NOT NULL DEFAULT '',
		added_at BIGINT NOT NULL,
		UNIQUE (kind, owner, account, host, "user", port)
	);
	CREATE TABLE known_hosts (
		account TEXT NOT NULL,
		hostport TEXT NOT NULL,
		key BYTEA NOT NULL,
		added_at BIGINT NOT NULL,
		PRIMARY KEY (account, hostport, key)
	);`,
	// 3: sessions.
	`CREATE TABLE sessions (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		kind TEXT NOT NULL,
		plugin TEXT NOT NULL DEFAULT '',
		params TEXT NOT NULL DEFAULT '',
		allowed BOOLEAN NOT NULL DEFAULT false,
		ip_from TEXT NOT NULL DEFAULT '',
		port_from INTEGER NOT NULL DEFAULT 0,
		ip_bastion TEXT NOT NULL DEFAULT '',
		port_bastion INTEGER NOT NULL DEFAULT 0,
		"user" TEXT NOT NULL DEFAULT '',
		host TEXT NOT NULL DEFAULT '',
		ip_to TEXT NOT NULL DEFAULT '',
		port_to INTEGER NOT NULL DEFAULT 0,
		started_at BIGINT NOT NULL,
		ended_at BIGINT NOT NULL DEFAULT 0,
		exit_status INTEGER NOT NULL DEFAULT 0,
		status TEXT NOT NULL DEFAULT 'open',
		recording TEXT NOT NULL DEFAULT '',
		sha256 TEXT NOT NULL DEFAULT '',
		size BIGINT NOT NULL DEFAULT 0,
		bytes_in BIGINT NOT NULL DEFAULT 0,
		bytes_out BIGINT NOT NULL DEFAULT 0,
		comment TEXT NOT NULL DEFAULT '',
		-- PostgreSQL only (several nodes): the node that ran the session.
		node TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX sessions_account ON sessions(account, started_at);
	CREATE INDEX sessions_node_status ON sessions(node, status);
	CREATE INDEX sessions_status ON sessions(status);`,
	// 4: second factors (internal/mfaauth).
	`CREATE TABLE mfa_password (
		account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
		hash TEXT NOT NULL,
		changed_at BIGINT NOT NULL,
		temporary BOOLEAN NOT NULL DEFAULT false
	);
	CREATE TABLE mfa_totp (
		account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
		sealed BYTEA,
		created_at BIGINT NOT NULL,
		rate_attempts INTEGER NOT NULL DEFAULT 0,
		rate_seconds INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE mfa_scratch (
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		hash TEXT NOT NULL,
		PRIMARY KEY (account, hash)
	);
	CREATE TABLE mfa_totp_step (
		account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
		step BIGINT NOT NULL
	);
	CREATE TABLE mfa_limits (
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		factor TEXT NOT NULL,
		tries TEXT NOT NULL DEFAULT '',
		failures INTEGER NOT NULL DEFAULT 0,
		locked BOOLEAN NOT NULL DEFAULT false,
		PRIMARY KEY (account, factor)
	);
	CREATE TABLE mfa_secrets (
		name TEXT PRIMARY KEY,
		sealed BYTEA NOT NULL,
		created_at BIGINT NOT NULL
	);`,
	// 5: the approval factor.
	`CREATE TABLE approval_requests (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		source_ip TEXT NOT NULL DEFAULT '',
		target TEXT NOT NULL DEFAULT '',
		command TEXT NOT NULL DEFAULT '',
		bastion TEXT NOT NULL DEFAULT '',
		label TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL,
		four_eyes BOOLEAN NOT NULL DEFAULT false,
		approvers TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL DEFAULT 'pending',
		decided_by TEXT NOT NULL DEFAULT '',
		decided_via TEXT NOT NULL DEFAULT '',
		decided_chat TEXT NOT NULL DEFAULT '',
		decided_at BIGINT NOT NULL DEFAULT 0
	);
	CREATE INDEX approval_requests_expires ON approval_requests(expires_at);
	CREATE TABLE approval_nonces (
		key TEXT PRIMARY KEY,
		until_at BIGINT NOT NULL
	);`,
	// 6: bastion-wide settings changed by commands (maintenance mode).
	`CREATE TABLE bastion_settings (
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL,
		changed_at BIGINT NOT NULL,
		changed_by TEXT NOT NULL DEFAULT ''
	);`,
	// 7: an immutable identity per account, and the sessions that belong to it.
	`ALTER TABLE accounts ADD COLUMN id TEXT NOT NULL DEFAULT '';
	UPDATE accounts SET id = replace(gen_random_uuid()::text, '-', '') WHERE id = '';
	CREATE UNIQUE INDEX accounts_id ON accounts(id);
	ALTER TABLE sessions ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
	UPDATE sessions SET account_id = COALESCE((SELECT a.id FROM accounts a WHERE a.name = sessions.account
		AND sessions.started_at >= a.created_at * 1000000000), '');
	CREATE INDEX sessions_account_id ON sessions(account_id, started_at);`,
	// 8: accounts managed by a key sync source (internal/keysync), as SQLite's migration 8.
	`CREATE TABLE sync_accounts (
		account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
		source TEXT NOT NULL,
		frozen_by_sync BOOLEAN NOT NULL DEFAULT false,
		frozen_reason TEXT NOT NULL DEFAULT '',
		since BIGINT NOT NULL
	);
	CREATE INDEX sync_accounts_source ON sync_accounts(source);`,
	// 9: MFA attempts as pam_faillock counts them, as SQLite's migration 9.
	`ALTER TABLE mfa_limits ADD COLUMN fails TEXT NOT NULL DEFAULT '';
	ALTER TABLE mfa_limits ADD COLUMN pending TEXT NOT NULL DEFAULT '';
	ALTER TABLE mfa_limits ADD COLUMN locked_at BIGINT NOT NULL DEFAULT 0;
	UPDATE mfa_limits SET tries = '';`,
	// 10: egress passwords, as SQLite's migration 10.
	`CREATE TABLE egress_passwords (
		id BIGSERIAL PRIMARY KEY,
		owner_kind TEXT NOT NULL,
		owner TEXT NOT NULL,
		sealed BYTEA NOT NULL,
		created_at BIGINT NOT NULL,
		created_by TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX egress_passwords_owner ON egress_passwords(owner_kind, owner, id);`,
	// 11: --force-key, --force-password, as SQLite's migration 11.
	`ALTER TABLE acl_entries ADD COLUMN force_key TEXT NOT NULL DEFAULT '';
	ALTER TABLE acl_entries ADD COLUMN force_password TEXT NOT NULL DEFAULT '';`,
	// 12: per-source penalties shared by the nodes (store.SourcePenalties), as SQLite's migration 12.
	`CREATE TABLE source_penalties (
		source TEXT PRIMARY KEY,
		until_at BIGINT NOT NULL,
		active BOOLEAN NOT NULL,
		strikes INTEGER NOT NULL,
		last_at BIGINT NOT NULL
	);`,
	// 13: per-source MFA throttling shared by the nodes (store.MFASources), as SQLite's 13.
	`CREATE TABLE mfa_sources (
		source TEXT PRIMARY KEY,
		tries TEXT NOT NULL DEFAULT '',
		counted TEXT NOT NULL DEFAULT '{}',
		seen_at BIGINT NOT NULL DEFAULT 0
	);`,
	// 14: the last lock/unlock of each account's sessions (store.SessionLocks), as SQLite's 14.
	`CREATE TABLE session_locks (
		account TEXT PRIMARY KEY,
		locked BOOLEAN NOT NULL,
		version BIGINT NOT NULL,
		at BIGINT NOT NULL,
		node TEXT NOT NULL DEFAULT '',
		by_account TEXT NOT NULL DEFAULT ''
	);`,
	// 15: mfa_sources is capped (store.MFASourceRoom): the sweep, the eviction of the least
	// recently seen and the count read seen_at's index, not the whole table; as SQLite's 15.
	`CREATE INDEX mfa_sources_seen ON mfa_sources(seen_at);`,
}
