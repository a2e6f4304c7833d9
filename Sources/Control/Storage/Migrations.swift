import Foundation
import SQLDatabase

/// Versioned schema migrations shared by both stores. Each migration is a list of statements in a
/// small portable SQL with `{id}`, `{text}`, `{blob}` and `{table}` tokens that `SQLDialect`
/// expands; timestamps are BIGINT milliseconds since the epoch (UTC).
enum Schema {
    struct Migration {
        let version: Int
        let name: String
        let statements: [String]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "initial", statements: [
            """
            CREATE TABLE IF NOT EXISTS organization_units (
              id {id},
              parent_id BIGINT NULL REFERENCES organization_units(id),
              name VARCHAR(128) NOT NULL,
              description VARCHAR(1024) NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL,
              updated_at BIGINT NOT NULL
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS users (
              id {id},
              username VARCHAR(64) NOT NULL UNIQUE,
              email VARCHAR(255) NULL UNIQUE,
              password_hash VARCHAR(128) NOT NULL,
              role VARCHAR(32) NOT NULL,
              ou_id BIGINT NULL REFERENCES organization_units(id),
              active INTEGER NOT NULL DEFAULT 1,
              mfa_enabled INTEGER NOT NULL DEFAULT 0,
              mfa_secret {blob} NULL,
              mfa_pending_secret {blob} NULL,
              mfa_last_step BIGINT NOT NULL DEFAULT 0,
              failed_logins INTEGER NOT NULL DEFAULT 0,
              locked_until BIGINT NOT NULL DEFAULT 0,
              password_changed_at BIGINT NOT NULL,
              last_login_at BIGINT NULL,
              created_at BIGINT NOT NULL,
              updated_at BIGINT NOT NULL
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS web_sessions (
              id CHAR(64) NOT NULL PRIMARY KEY,
              user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
              csrf_hash CHAR(64) NOT NULL,
              source_address VARCHAR(64) NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL,
              expires_at BIGINT NOT NULL,
              revoked INTEGER NOT NULL DEFAULT 0
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS issued_tokens (
              jti CHAR(32) NOT NULL PRIMARY KEY,
              user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
              issued_at BIGINT NOT NULL,
              expires_at BIGINT NOT NULL,
              revoked INTEGER NOT NULL DEFAULT 0
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS issued_tokens_user ON issued_tokens(user_id)",
            """
            CREATE TABLE IF NOT EXISTS api_keys (
              id {id},
              user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
              name VARCHAR(128) NOT NULL,
              prefix CHAR(8) NOT NULL,
              key_hash CHAR(64) NOT NULL UNIQUE,
              created_at BIGINT NOT NULL,
              last_used_at BIGINT NULL,
              revoked_at BIGINT NULL
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys(user_id)",
            """
            CREATE TABLE IF NOT EXISTS server_keys (
              id {id},
              name VARCHAR(128) NOT NULL,
              prefix CHAR(8) NOT NULL,
              key_hash CHAR(64) NOT NULL UNIQUE,
              created_at BIGINT NOT NULL,
              last_used_at BIGINT NULL,
              revoked_at BIGINT NULL
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS enrollment_secrets (
              id {id},
              ou_id BIGINT NOT NULL REFERENCES organization_units(id),
              name VARCHAR(128) NOT NULL,
              prefix CHAR(8) NOT NULL,
              secret_hash CHAR(64) NOT NULL UNIQUE,
              created_by BIGINT NULL REFERENCES users(id) ON DELETE SET NULL,
              created_at BIGINT NOT NULL,
              revoked_at BIGINT NULL
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS devices (
              id {id},
              serial VARCHAR(128) NOT NULL UNIQUE,
              hostname VARCHAR(255) NOT NULL DEFAULT '',
              os VARCHAR(64) NOT NULL DEFAULT '',
              os_version VARCHAR(64) NOT NULL DEFAULT '',
              client_type VARCHAR(32) NOT NULL DEFAULT '',
              client_version VARCHAR(32) NOT NULL DEFAULT '',
              ou_id BIGINT NOT NULL REFERENCES organization_units(id),
              enrollment_secret_id BIGINT NULL REFERENCES enrollment_secrets(id) ON DELETE SET NULL,
              token_hash CHAR(64) NULL UNIQUE,
              active INTEGER NOT NULL DEFAULT 1,
              enrolled_at BIGINT NOT NULL,
              last_seen_at BIGINT NULL
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS client_configs (
              id {id},
              scope_key BIGINT NOT NULL UNIQUE,
              ou_id BIGINT NULL REFERENCES organization_units(id) ON DELETE CASCADE,
              name VARCHAR(128) NOT NULL,
              config_json {text} NOT NULL,
              updated_by BIGINT NULL REFERENCES users(id) ON DELETE SET NULL,
              updated_at BIGINT NOT NULL
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS test_results (
              id {id},
              created_at BIGINT NOT NULL,
              received_at BIGINT NOT NULL,
              source VARCHAR(16) NOT NULL,
              test_type VARCHAR(32) NOT NULL,
              protocol_detail VARCHAR(64) NOT NULL DEFAULT '',
              target VARCHAR(255) NOT NULL,
              resolved_address VARCHAR(64) NULL,
              outcome VARCHAR(32) NOT NULL,
              success INTEGER NOT NULL,
              sent BIGINT NULL,
              received BIGINT NULL,
              loss_percent DOUBLE NULL,
              latency_ms DOUBLE NULL,
              min_ms DOUBLE NULL,
              max_ms DOUBLE NULL,
              p50_ms DOUBLE NULL,
              p99_ms DOUBLE NULL,
              jitter_ms DOUBLE NULL,
              stddev_ms DOUBLE NULL,
              throughput_mbps DOUBLE NULL,
              dns_ms DOUBLE NULL,
              connect_ms DOUBLE NULL,
              tls_ms DOUBLE NULL,
              ttfb_ms DOUBLE NULL,
              transfer_ms DOUBLE NULL,
              total_ms DOUBLE NULL,
              device_id BIGINT NULL,
              user_id BIGINT NULL,
              ou_id BIGINT NULL,
              raw_json {text} NULL
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS test_results_created ON test_results(created_at)",
            "CREATE INDEX IF NOT EXISTS test_results_ou ON test_results(ou_id, created_at)",
            "CREATE INDEX IF NOT EXISTS test_results_user ON test_results(user_id, created_at)",
            "CREATE INDEX IF NOT EXISTS test_results_device ON test_results(device_id, created_at)",
            "CREATE INDEX IF NOT EXISTS test_results_target ON test_results(target, created_at)",
            """
            CREATE TABLE IF NOT EXISTS audit_log (
              id {id},
              at BIGINT NOT NULL,
              actor_user_id BIGINT NULL,
              actor VARCHAR(128) NOT NULL,
              action VARCHAR(64) NOT NULL,
              subject VARCHAR(128) NOT NULL DEFAULT '',
              source_address VARCHAR(64) NOT NULL DEFAULT '',
              outcome VARCHAR(16) NOT NULL,
              detail VARCHAR(1024) NOT NULL DEFAULT ''
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log(at)",
        ]),
        Migration(version: 2, name: "enrollment limits and device addresses", statements: [
            "ALTER TABLE enrollment_secrets ADD COLUMN {if_not_exists}expires_at BIGINT NULL",
            "ALTER TABLE enrollment_secrets ADD COLUMN {if_not_exists}max_uses BIGINT NULL",
            "ALTER TABLE enrollment_secrets ADD COLUMN {if_not_exists}uses BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE devices ADD COLUMN {if_not_exists}enrolled_address VARCHAR(64) NOT NULL DEFAULT ''",
            "CREATE INDEX IF NOT EXISTS devices_ou ON devices(ou_id, last_seen_at)",
            "CREATE INDEX IF NOT EXISTS enrollment_secrets_ou ON enrollment_secrets(ou_id)",
            "CREATE INDEX IF NOT EXISTS test_results_type ON test_results(test_type, created_at)",
        ]),
        // Reads filter results by scope (OU, user), device, test type and target. Five indexes on
        // test_results for that cost MariaDB's one insert thread ~7 µs a row; a series (one row
        // per distinct combination, like a time-series database's series index) and one
        // (series_id, created_at) index serve the same reads for one index insert a row.
        Migration(version: 3, name: "result series", statements: [
            """
            CREATE TABLE IF NOT EXISTS result_series (
              id {id},
              ou_id BIGINT NOT NULL,
              user_id BIGINT NOT NULL,
              device_id BIGINT NOT NULL,
              test_type VARCHAR(32) NOT NULL,
              target VARCHAR(255) NOT NULL,
              created_at BIGINT NOT NULL
            ){table}
            """,
            "CREATE UNIQUE INDEX IF NOT EXISTS result_series_key ON result_series(target, test_type, ou_id, user_id, device_id)",
            "CREATE INDEX IF NOT EXISTS result_series_ou ON result_series(ou_id)",
            "CREATE INDEX IF NOT EXISTS result_series_user ON result_series(user_id)",
            "CREATE INDEX IF NOT EXISTS result_series_device ON result_series(device_id)",
            "CREATE INDEX IF NOT EXISTS result_series_type ON result_series(test_type)",
            "ALTER TABLE test_results ADD COLUMN {if_not_exists}series_id BIGINT NOT NULL DEFAULT 0",
            "CREATE INDEX IF NOT EXISTS test_results_series ON test_results(series_id, created_at)",
        ] + assignSeries + [
            "DROP INDEX IF EXISTS test_results_ou ON test_results",
            "DROP INDEX IF EXISTS test_results_user ON test_results",
            "DROP INDEX IF EXISTS test_results_device ON test_results",
            "DROP INDEX IF EXISTS test_results_target ON test_results",
            "DROP INDEX IF EXISTS test_results_type ON test_results",
        ]),
        // A server key may be bound to an OU (its subtree is all it uploads to). Moves of units
        // write the one row of ou_tree first: concurrent moves serialise on its lock (and conflict
        // at certification on Galera), so two cycle checks cannot both pass.
        Migration(version: 4, name: "server key scope, unit tree lock", statements: [
            "ALTER TABLE server_keys ADD COLUMN {if_not_exists}ou_id BIGINT NULL",
            "CREATE TABLE IF NOT EXISTS ou_tree (id INTEGER NOT NULL PRIMARY KEY, version BIGINT NOT NULL){table}",
            "{insert_ignore} INTO ou_tree (id, version) VALUES (1, 0)",
        ]),
        // Agents: an upload's Idempotency-Key is committed in the same transaction as its rows,
        // so a batch retried after a lost answer is stored once; a device's heartbeat carries its
        // agent's state.
        Migration(version: 5, name: "upload keys, agent status", statements: [
            """
            CREATE TABLE IF NOT EXISTS upload_keys (
              principal VARCHAR(40) NOT NULL,
              idem_key VARCHAR(128) NOT NULL,
              body_hash CHAR(64) NOT NULL,
              accepted BIGINT NOT NULL,
              last_id BIGINT NOT NULL,
              created_at BIGINT NOT NULL,
              PRIMARY KEY (principal, idem_key)
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS upload_keys_created ON upload_keys(created_at)",
            "ALTER TABLE devices ADD COLUMN {if_not_exists}agent_status {text} NULL",
        ]),
        // Alerts: rules over stored results, a state per rule and series, every transition,
        // and the webhook deliveries they queue (a dead one stays as the dead-letter record).
        Migration(version: 6, name: "alerts", statements: [
            """
            CREATE TABLE IF NOT EXISTS alert_rules (
              id {id},
              ou_id BIGINT NULL,
              name VARCHAR(128) NOT NULL,
              metric VARCHAR(64) NOT NULL,
              aggregation VARCHAR(8) NOT NULL,
              window_seconds INTEGER NOT NULL,
              comparison VARCHAR(2) NOT NULL,
              threshold DOUBLE NOT NULL,
              for_seconds INTEGER NOT NULL,
              device_id BIGINT NULL,
              test_type VARCHAR(32) NULL,
              target VARCHAR(255) NULL,
              webhook_url VARCHAR(2048) NULL,
              webhook_format VARCHAR(8) NOT NULL,
              enabled INTEGER NOT NULL,
              internal_webhook INTEGER NOT NULL,
              created_by BIGINT NULL,
              created_at BIGINT NOT NULL,
              updated_at BIGINT NOT NULL
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS alert_rules_ou ON alert_rules(ou_id)",
            """
            CREATE TABLE IF NOT EXISTS alert_states (
              rule_id BIGINT NOT NULL,
              series_key VARCHAR(320) NOT NULL,
              state VARCHAR(8) NOT NULL,
              since BIGINT NOT NULL,
              value DOUBLE NULL,
              evaluated_at BIGINT NOT NULL,
              PRIMARY KEY (rule_id, series_key)
            ){table}
            """,
            """
            CREATE TABLE IF NOT EXISTS alert_transitions (
              id {id},
              rule_id BIGINT NOT NULL,
              series_key VARCHAR(320) NOT NULL,
              from_state VARCHAR(8) NOT NULL,
              to_state VARCHAR(8) NOT NULL,
              value DOUBLE NULL,
              at BIGINT NOT NULL
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS alert_transitions_rule ON alert_transitions(rule_id, id)",
            """
            CREATE TABLE IF NOT EXISTS alert_notifications (
              id {id},
              rule_id BIGINT NOT NULL,
              transition_id BIGINT NOT NULL,
              series_key VARCHAR(320) NOT NULL,
              kind VARCHAR(8) NOT NULL,
              value DOUBLE NULL,
              status VARCHAR(10) NOT NULL,
              attempts INTEGER NOT NULL,
              next_attempt_at BIGINT NOT NULL,
              last_error VARCHAR(1024) NULL,
              created_at BIGINT NOT NULL,
              delivered_at BIGINT NULL
            ){table}
            """,
            "CREATE INDEX IF NOT EXISTS alert_notifications_due ON alert_notifications(status, next_attempt_at)",
            "CREATE INDEX IF NOT EXISTS alert_notifications_rule ON alert_notifications(rule_id, id)",
        ]),
    ]

    /// Gives rows without a series (`series_id` 0) theirs, creating the series they need; every
    /// statement can run again. Migration 3 backfills with it, and `Store.open` runs it each start
    /// for rows a server of an older version wrote during a rolling upgrade.
    static let assignSeries = [
        """
        INSERT INTO result_series (ou_id, user_id, device_id, test_type, target, created_at)
        SELECT COALESCE(t.ou_id, 0), COALESCE(t.user_id, 0), COALESCE(t.device_id, 0), t.test_type, t.target, MIN(t.created_at)
        FROM test_results t WHERE t.series_id = 0 AND NOT EXISTS (SELECT 1 FROM result_series s WHERE s.target = t.target
          AND s.test_type = t.test_type AND s.ou_id = COALESCE(t.ou_id, 0) AND s.user_id = COALESCE(t.user_id, 0)
          AND s.device_id = COALESCE(t.device_id, 0))
        GROUP BY COALESCE(t.ou_id, 0), COALESCE(t.user_id, 0), COALESCE(t.device_id, 0), t.test_type, t.target
        """,
        """
        UPDATE test_results SET series_id = COALESCE((SELECT s.id FROM result_series s WHERE s.target = test_results.target
          AND s.test_type = test_results.test_type AND s.ou_id = COALESCE(test_results.ou_id, 0)
          AND s.user_id = COALESCE(test_results.user_id, 0) AND s.device_id = COALESCE(test_results.device_id, 0)), 0)
        WHERE series_id = 0
        """,
    ]

    static func expand(_ statement: String, for dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite:
            // SQLite's DROP INDEX names no table.
            if statement.hasPrefix("DROP INDEX"), let on = statement.range(of: " ON ") {
                return String(statement[..<on.lowerBound])
            }
            return statement
                .replacingOccurrences(of: "{id}", with: "INTEGER PRIMARY KEY AUTOINCREMENT")
                .replacingOccurrences(of: "{text}", with: "TEXT")
                .replacingOccurrences(of: "{blob}", with: "BLOB")
                .replacingOccurrences(of: "{table}", with: "")
                .replacingOccurrences(of: "{if_not_exists}", with: "")
                .replacingOccurrences(of: "{insert_ignore}", with: "INSERT OR IGNORE")
        case .mariadb:
            return statement
                .replacingOccurrences(of: "{id}", with: "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY")
                .replacingOccurrences(of: "{text}", with: "LONGTEXT")
                .replacingOccurrences(of: "{blob}", with: "VARBINARY(512)")
                .replacingOccurrences(of: "{table}", with: " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
                .replacingOccurrences(of: "{if_not_exists}", with: "IF NOT EXISTS ")
                .replacingOccurrences(of: "{insert_ignore}", with: "INSERT IGNORE")
        }
    }

    /// Applies every migration newer than the recorded version. On MariaDB a named lock keeps two
    /// servers starting at once from racing.
    static func migrate(_ connection: any SQLConnection, through version: Int = latestVersion) throws {
        let dialect = connection.dialect
        if dialect == .mariadb, try connection.scalar("SELECT GET_LOCK('waddleperf_migrate', 600)") != 1 {
            throw SQLError(kind: .other, code: -1, message: "another server has been migrating the schema for 10 minutes; not starting")
        }
        defer { if dialect == .mariadb { _ = try? connection.query("SELECT RELEASE_LOCK('waddleperf_migrate')") } }
        try connection.execute(expand("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
              version INTEGER NOT NULL PRIMARY KEY,
              name VARCHAR(64) NOT NULL,
              applied_at BIGINT NOT NULL
            ){table}
            """, for: dialect))
        let current = try connection.scalar("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") ?? 0
        for migration in migrations where migration.version > current && migration.version <= version {
            // SQLite applies a migration whole or not at all. MariaDB commits each DDL statement
            // on its own, so its statements are written to run again after a failure.
            let apply = {
                for statement in migration.statements {
                    try connection.execute(expand(statement, for: dialect))
                }
                try connection.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                                       [.int(Int64(migration.version)), .text(migration.name), .int(WallClock.nowMillis())])
            }
            if dialect == .sqlite { try connection.transaction(apply) } else { try apply() }
        }
        if version >= 3 {
            for statement in assignSeries { try connection.execute(expand(statement, for: dialect)) }
        }
        if version == latestVersion { try addDeclaredColumns(connection) }
    }

    /// Gives `test_results` a column for every declared stored metric it lacks: a kind that
    /// declares a new phase or metric gets its column at the next start, with no migration
    /// written by hand. Only adds (a nullable DOUBLE, instant on MariaDB); a metric no longer
    /// declared keeps its column and its data. Every statement can run again.
    static func addDeclaredColumns(_ connection: any SQLConnection,
                                   metrics: [String] = ResultMetrics.declared.map(\.name)) throws {
        let existing: Set<String>
        switch connection.dialect {
        case .sqlite:
            existing = Set(try connection.query("SELECT name FROM pragma_table_info('test_results')").compactMap { $0.string("name") })
        case .mariadb:
            existing = Set(try connection.query("""
                SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS
                WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'test_results'
                """).compactMap { $0.string("name") })
        }
        for name in metrics where !existing.contains(name) {
            precondition(!name.isEmpty && name.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 95 },
                         "stored metric '\(name)' is not a plain column name")
            try connection.execute(expand("ALTER TABLE test_results ADD COLUMN {if_not_exists}\(name) DOUBLE NULL", for: connection.dialect))
        }
    }

    static var latestVersion: Int { migrations.last?.version ?? 0 }
}
