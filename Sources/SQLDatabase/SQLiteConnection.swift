import CSQLite
import Foundation

/// The embedded store's connection: the system SQLite in WAL mode, one per thread,
/// prepared statements cached by SQL text.
public final class SQLiteConnection: SQLConnection {
    public let dialect = SQLDialect.sqlite
    private var db: OpaquePointer?
    private var statements: [String: OpaquePointer] = [:]

    public init(path: String) throws {
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, db != nil else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw SQLError(kind: .connection, code: rc, message: "cannot open \(path): \(message)")
        }
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, 10_000)
        // WAL with synchronous=NORMAL survives a process crash (kill -9) with every committed
        // transaction; only a power loss can cost the last commits.
        _ = try query("PRAGMA journal_mode=WAL")
        try execute("PRAGMA synchronous=NORMAL")
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(db)
    }

    public func isAlive() -> Bool { db != nil }

    private func error(_ rc: Int32, _ context: String) -> SQLError {
        let message = String(cString: sqlite3_errmsg(db))
        let kind: SQLError.Kind
        switch rc {
        // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY and _FOREIGNKEY are macros Swift cannot import.
        case 2067, 1555: kind = .uniqueViolation
        case 787: kind = .foreignKeyViolation
        default: kind = .other
        }
        return SQLError(kind: kind, code: rc, message: "\(message) (\(context))")
    }

    private func prepare(_ sql: String) throws -> OpaquePointer {
        if let cached = statements[sql] {
            sqlite3_reset(cached)
            sqlite3_clear_bindings(cached)
            return cached
        }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(db, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, sql) }
        statements[sql] = statement
        return statement
    }

    private func bind(_ statement: OpaquePointer, _ binds: [SQLValue]) throws {
        for (i, value) in binds.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .int(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .double(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let s):
                var s = s
                rc = s.withUTF8 { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        $0.baseAddress.map { csqlite_bind_text(statement, index, $0, Int32(buffer.count)) }
                            ?? csqlite_bind_text(statement, index, "", 0)
                    }
                }
            case .blob(let b):
                rc = b.withUnsafeBytes { csqlite_bind_blob(statement, index, $0.baseAddress, Int32($0.count)) }
            }
            guard rc == SQLITE_OK else { throw error(rc, "bind \(index)") }
        }
    }

    public func query(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        let statement = try prepare(sql)
        defer { sqlite3_reset(statement) }
        try bind(statement, binds)
        let count = sqlite3_column_count(statement)
        let names = SQLColumnNames((0..<count).map { String(cString: sqlite3_column_name(statement, $0)) })
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, sql) }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(count))
            for column in 0..<count {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: values.append(.int(sqlite3_column_int64(statement, column)))
                case SQLITE_FLOAT: values.append(.double(sqlite3_column_double(statement, column)))
                case SQLITE_TEXT:
                    let length = Int(sqlite3_column_bytes(statement, column))
                    let pointer = sqlite3_column_text(statement, column)!
                    values.append(.text(String(decoding: UnsafeBufferPointer(start: pointer, count: length), as: UTF8.self)))
                case SQLITE_BLOB:
                    let length = Int(sqlite3_column_bytes(statement, column))
                    if length == 0 {
                        values.append(.blob([]))
                    } else {
                        let pointer = sqlite3_column_blob(statement, column)!.assumingMemoryBound(to: UInt8.self)
                        values.append(.blob(Array(UnsafeBufferPointer(start: pointer, count: length))))
                    }
                default: values.append(.null)
                }
            }
            rows.append(SQLRow(names: names, values: values))
        }
        return rows
    }

    public func scan(_ sql: String, _ binds: [SQLValue], columns: ([String]) throws -> Void, row: (any SQLCursor) throws -> Void) throws {
        let statement = try prepare(sql)
        defer { sqlite3_reset(statement) }
        try bind(statement, binds)
        try columns((0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) })
        let cursor = SQLiteCursor(statement: statement)
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc, sql) }
            try row(cursor)
        }
    }

    @discardableResult
    public func execute(_ sql: String, _ binds: [SQLValue]) throws -> SQLExecution {
        let statement = try prepare(sql)
        defer { sqlite3_reset(statement) }
        try bind(statement, binds)
        var rc = sqlite3_step(statement)
        while rc == SQLITE_ROW { rc = sqlite3_step(statement) }
        guard rc == SQLITE_DONE else { throw error(rc, sql) }
        return SQLExecution(affectedRows: Int64(sqlite3_changes(db)), lastInsertID: sqlite3_last_insert_rowid(db))
    }
}

/// The current row of a stepped statement.
private struct SQLiteCursor: SQLCursor {
    let statement: OpaquePointer

    func int(_ column: Int) -> Int64? {
        let c = Int32(column)
        switch sqlite3_column_type(statement, c) {
        case SQLITE_NULL: return nil
        case SQLITE_INTEGER: return sqlite3_column_int64(statement, c)
        case SQLITE_FLOAT: return Int64(exactly: sqlite3_column_double(statement, c).rounded(.towardZero))
        default: return withText(column) { $0.flatMap { Int64(String(decoding: $0, as: UTF8.self)) } }
        }
    }

    func double(_ column: Int) -> Double? {
        let c = Int32(column)
        switch sqlite3_column_type(statement, c) {
        case SQLITE_NULL: return nil
        case SQLITE_INTEGER: return Double(sqlite3_column_int64(statement, c))
        case SQLITE_FLOAT: return sqlite3_column_double(statement, c)
        default: return withText(column) { $0.flatMap { Double(String(decoding: $0, as: UTF8.self)) } }
        }
    }

    func withText<R>(_ column: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        let c = Int32(column)
        if sqlite3_column_type(statement, c) == SQLITE_NULL { return try body(nil) }
        // Asked for text, SQLite converts numbers and blobs alike; the pointer lives until the next step.
        guard let text = sqlite3_column_text(statement, c) else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, c))))
    }
}
