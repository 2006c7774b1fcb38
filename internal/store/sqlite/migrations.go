package sqlite

// migrations are applied in order, each once, in its own transaction. Append only: a released
// migration is never edited, since stores in the field have already run it.
var migrations = []string{
	// 1: accounts, their keys, grants and settings.
	`CREATE TABLE accounts (
		name TEXT PRIMARY KEY,
		comment TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		expires_at INTEGER NOT NULL DEFAULT 0,
		osh_only INTEGER NOT NULL DEFAULT 0,
		always_active INTEGER NOT NULL DEFAULT 0,
		frozen INTEGER NOT NULL DEFAULT 0,
		frozen_reason TEXT NOT NULL DEFAULT '',
		max_inactive_days INTEGER NOT NULL DEFAULT -1,
		last_seen_at INTEGER NOT NULL DEFAULT 0
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
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		line TEXT NOT NULL,
		type TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		comment TEXT NOT NULL DEFAULT '',
		from_pattern TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		UNIQUE (account, fingerprint)
	);
	CREATE TABLE egress_keys (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		owner_kind TEXT NOT NULL,
		owner TEXT NOT NULL,
		type TEXT NOT NULL,
		bits INTEGER NOT NULL,
		public TEXT NOT NULL,
		fingerprint TEXT NOT NULL,
		sealed BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		UNIQUE (owner_kind, owner, fingerprint)
	);`,
	// 2: groups, their roles, ACLs (group servers, guest and personal accesses), known host keys.
	`CREATE TABLE groups (
		name TEXT PRIMARY KEY,
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL DEFAULT '',
		mfa_required TEXT NOT NULL DEFAULT '',
		idle_lock_timeout INTEGER NOT NULL DEFAULT -1,
		idle_kill_timeout INTEGER NOT NULL DEFAULT -1,
		guest_ttl_limit INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE group_roles (
		group_name TEXT NOT NULL REFERENCES groups(name) ON DELETE CASCADE,
		role TEXT NOT NULL,
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		PRIMARY KEY (group_name, role, account)
	);
	CREATE INDEX group_roles_account ON group_roles(account);
	CREATE TABLE acl_entries (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		kind TEXT NOT NULL,
		owner TEXT NOT NULL,
		account TEXT NOT NULL DEFAULT '',
		host TEXT NOT NULL,
		user TEXT NOT NULL DEFAULT '',
		port INTEGER NOT NULL DEFAULT 0,
		comment TEXT NOT NULL DEFAULT '',
		expires_at INTEGER NOT NULL DEFAULT 0,
		added_by TEXT NOT NULL DEFAULT '',
		added_at INTEGER NOT NULL,
		UNIQUE (kind, owner, account, host, user, port)
	);
	CREATE TABLE known_hosts (
		account TEXT NOT NULL,
		hostport TEXT NOT NULL,
		key BLOB NOT NULL,
		added_at INTEGER NOT NULL,
		PRIMARY KEY (account, hostport, key)
	);`,
	// 3: sessions (osh commands, interactive mode, connections) for the session list commands.
	`CREATE TABLE sessions (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		kind TEXT NOT NULL,
		plugin TEXT NOT NULL DEFAULT '',
		params TEXT NOT NULL DEFAULT '',
		allowed INTEGER NOT NULL DEFAULT 0,
		ip_from TEXT NOT NULL DEFAULT '',
		port_from INTEGER NOT NULL DEFAULT 0,
		ip_bastion TEXT NOT NULL DEFAULT '',
		port_bastion INTEGER NOT NULL DEFAULT 0,
		user TEXT NOT NULL DEFAULT '',
		host TEXT NOT NULL DEFAULT '',
		ip_to TEXT NOT NULL DEFAULT '',
		port_to INTEGER NOT NULL DEFAULT 0,
		started_at INTEGER NOT NULL,
		ended_at INTEGER NOT NULL DEFAULT 0,
		exit_status INTEGER NOT NULL DEFAULT 0,
		status TEXT NOT NULL DEFAULT 'open',
		recording TEXT NOT NULL DEFAULT '',
		sha256 TEXT NOT NULL DEFAULT '',
		size INTEGER NOT NULL DEFAULT 0,
		bytes_in INTEGER NOT NULL DEFAULT 0,
		bytes_out INTEGER NOT NULL DEFAULT 0,
		comment TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX sessions_account ON sessions(account, started_at);
	CREATE INDEX sessions_status ON sessions(status);`,
	// 4: second factors (internal/mfaauth): the password hash, the TOTP key (sealed), unused
	// scratch code hashes, the last accepted TOTP step, throttling state, and sealed server
	// secrets (the scratch code MAC key).
	`CREATE TABLE mfa_password (
		account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
		hash TEXT NOT NULL,
		changed_at INTEGER NOT NULL,
		temporary INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE mfa_totp (
		account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
		sealed BLOB,
		created_at INTEGER NOT NULL,
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
		step INTEGER NOT NULL
	);
	CREATE TABLE mfa_limits (
		account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
		factor TEXT NOT NULL,
		tries TEXT NOT NULL DEFAULT '',
		failures INTEGER NOT NULL DEFAULT 0,
		locked INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (account, factor)
	);
	CREATE TABLE mfa_secrets (
		name TEXT PRIMARY KEY,
		sealed BLOB NOT NULL,
		created_at INTEGER NOT NULL
	);`,
	// 5: the approval factor (internal/notifywire): requests, decided once by compare-and-set,
	// and the nonces of signed Slack callbacks (replay protection).
	`CREATE TABLE approval_requests (
		id TEXT PRIMARY KEY,
		account TEXT NOT NULL,
		source_ip TEXT NOT NULL DEFAULT '',
		target TEXT NOT NULL DEFAULT '',
		command TEXT NOT NULL DEFAULT '',
		bastion TEXT NOT NULL DEFAULT '',
		label TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		four_eyes INTEGER NOT NULL DEFAULT 0,
		approvers TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL DEFAULT 'pending',
		decided_by TEXT NOT NULL DEFAULT '',
		decided_via TEXT NOT NULL DEFAULT '',
		decided_chat TEXT NOT NULL DEFAULT '',
		decided_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX approval_requests_expires ON approval_requests(expires_at);
	CREATE TABLE approval_nonces (
		key TEXT PRIMARY KEY,
		until_at INTEGER NOT NULL
	);`,
	// 6: bastion-wide settings changed by commands (maintenance mode).
	`CREATE TABLE bastion_settings (
		key TEXT PRIMARY KEY,
		value TEXT NOT NULL,
		changed_at INTEGER NOT NULL,
		changed_by TEXT NOT NULL DEFAULT ''
	);`,
	// 7: an immutable identity per account, and the sessions that belong to it. A name can be
	// reused after accountDelete; an id never is. Existing sessions go to the account of their
	// name only when they started after its creation: older rows belonged to a deleted namesake
	// and stay without owner (auditors still see them, the new account does not).
	`ALTER TABLE accounts ADD COLUMN id TEXT NOT NULL DEFAULT '';
	UPDATE accounts SET id = lower(hex(randomblob(16))) WHERE id = '';
	CREATE UNIQUE INDEX accounts_id ON accounts(id);
	ALTER TABLE sessions ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
	UPDATE sessions SET account_id = COALESCE((SELECT a.id FROM accounts a WHERE a.name = sessions.account
		AND sessions.started_at >= a.created_at * 1000000000), '');
	CREATE INDEX sessions_account_id ON sessions(account_id, started_at);`,
	// 8: accounts managed by a key sync source (internal/keysync): which source manages each, and
	// whether the sync froze it and with which reason (it unfreezes only an account still frozen
	// with that reason). Accounts without a row are never touched by a sync; the row goes with
	// its account.
	`CREATE TABLE sync_accounts (
		account TEXT PRIMARY KEY REFERENCES accounts(name) ON DELETE CASCADE,
		source TEXT NOT NULL,
		frozen_by_sync INTEGER NOT NULL DEFAULT 0,
		frozen_reason TEXT NOT NULL DEFAULT '',
		since INTEGER NOT NULL
	);
	CREATE INDEX sync_accounts_source ON sync_accounts(source);`,
	// 9: MFA attempts as pam_faillock counts them (internal/mfa/limit): the failures that still
	// count, the tries still waiting for an answer, and when the lock was set (0: until
	// accountUnlock, which is what a lock from before this migration stays). The old try starts
	// counted abandoned prompts: they are forgotten.
	`ALTER TABLE mfa_limits ADD COLUMN fails TEXT NOT NULL DEFAULT '';
	ALTER TABLE mfa_limits ADD COLUMN pending TEXT NOT NULL DEFAULT '';
	ALTER TABLE mfa_limits ADD COLUMN locked_at INTEGER NOT NULL DEFAULT 0;
	UPDATE mfa_limits SET tries = '';`,
	// 10: egress passwords (selfGeneratePassword …), sealed, newest first by id; they go with
	// their account (groups are deleted by name, see DeleteGroup).
	`CREATE TABLE egress_passwords (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		owner_kind TEXT NOT NULL,
		owner TEXT NOT NULL,
		sealed BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		created_by TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX egress_passwords_owner ON egress_passwords(owner_kind, owner, id);`,
	// 11: accesses bound to one egress key or one egress password (--force-key, --force-password).
	`ALTER TABLE acl_entries ADD COLUMN force_key TEXT NOT NULL DEFAULT '';
	ALTER TABLE acl_entries ADD COLUMN force_password TEXT NOT NULL DEFAULT '';`,
	// 12: per-source penalties shared by the nodes of a cluster (store.SourcePenalties): the
	// contract is the same on both stores; a single SQLite node keeps them in memory.
	`CREATE TABLE source_penalties (
		source TEXT PRIMARY KEY,
		until_at INTEGER NOT NULL,
		active INTEGER NOT NULL,
		strikes INTEGER NOT NULL,
		last_at INTEGER NOT NULL
	);`,
	// 13: per-source MFA throttling shared by the nodes (store.MFASources), as PostgreSQL's 13.
	`CREATE TABLE mfa_sources (
		source TEXT PRIMARY KEY,
		tries TEXT NOT NULL DEFAULT '',
		counted TEXT NOT NULL DEFAULT '{}',
		seen_at INTEGER NOT NULL DEFAULT 0
	);`,
	// 14: the last lock/unlock of each account's sessions (store.SessionLocks), so that a node
	// that missed the notification catches up; as PostgreSQL's 14.
	`CREATE TABLE session_locks (
		account TEXT PRIMARY KEY,
		locked INTEGER NOT NULL,
		version INTEGER NOT NULL,
		at INTEGER NOT NULL,
		node TEXT NOT NULL DEFAULT '',
		by_account TEXT NOT NULL DEFAULT ''
	);`,
	// 15: mfa_sources is capped (store.MFASourceRoom): the sweep, the eviction of the least
	// recently seen and the count read seen_at's index, not the whole table; as PostgreSQL's 15.
	`CREATE INDEX mfa_sources_seen ON mfa_sources(seen_at);`,
}
