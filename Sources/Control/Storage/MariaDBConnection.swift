import CMariaDB
import Engine
import Foundation
import SQLDatabase

/// Where the MariaDB store lives. Parsed from `mariadb://user:password@host:port/database`
/// or `mariadb://user@localhost/database?socket=/path`.
public struct MariaDBConfiguration: Sendable, Equatable {
    public var host: String = "127.0.0.1"
    public var port: UInt32 = 3306
    public var user: String = "root"
    public var password: String = ""
    public var database: String = "waddleperf"
    public var socket: String?

    public init() {}

    /// `url` with anything between `//` and `@` past the first `:` (the password) replaced, for
    /// messages: a malformed URL must not put its password in a log.
    static func redacted(_ url: String) -> String {
        guard let start = url.range(of: "//"), let at = url[start.upperBound...].lastIndex(of: "@"),
              let colon = url[start.upperBound..<at].firstIndex(of: ":") else { return url }
        return url[..<url.index(after: colon)] + "***" + url[at...]
    }

    public init(url: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "mariadb" || components.scheme == "mysql" else {
            throw ConfigurationError(field: "database", "expected mariadb://user:password@host:port/database, got '\(Self.redacted(url))'")
        }
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port {
            guard (1...65535).contains(port) else { throw ConfigurationError(field: "database", "port \(port) out of range") }
            self.port = UInt32(port)
        }
        if let user = components.user { self.user = user.removingPercentEncoding ?? user }
        if let password = components.password { self.password = password.removingPercentEncoding ?? password }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty { database = path }
        socket = components.queryItems?.first(where: { $0.name == "socket" })?.value
    }
}

/// A MariaDB Connector/C connection owned by one thread. Statements use the text protocol with
/// values interpolated by `mysql_real_escape_string` under utf8mb4 and a session `sql_mode`
/// without NO_BACKSLASH_ESCAPES (the same client-side binding many connectors use); the result
/// writer's hot path uses server-side bulk array binding instead (`MariaDBBulkInsert`).
final class MariaDBConnection: SQLConnection {
    let dialect = SQLDialect.mariadb
    let mysql: UnsafeMutablePointer<MYSQL>

    static let libraryReady: Bool = cmariadb_library_init() == 0

    init(_ configuration: MariaDBConfiguration, createDatabase: Bool = false) throws {
        precondition(Self.libraryReady, "mysql_library_init failed")
        guard let handle = mysql_init(nil) else {
            throw SQLError(kind: .connection, code: -1, message: "mysql_init: out of memory")
        }
        mysql = handle
        _ = cmariadb_set_uint(mysql, MYSQL_OPT_CONNECT_TIMEOUT, 5)
        _ = cmariadb_set_uint(mysql, MYSQL_OPT_READ_TIMEOUT, 60)
        _ = cmariadb_set_uint(mysql, MYSQL_OPT_WRITE_TIMEOUT, 60)
        _ = cmariadb_set_bool(mysql, MYSQL_OPT_RECONNECT, 0)
        _ = cmariadb_set_string(mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4")
        let database = createDatabase ? nil : configuration.database
        // CLIENT_FOUND_ROWS: an UPDATE reports the rows it matched, as SQLite does, so "one row
        // changed" checks mean the same on both stores even when the new values equal the old.
        guard mysql_real_connect(mysql, configuration.host, configuration.user, configuration.password,
                                 database, configuration.port, configuration.socket, UInt(CLIENT_FOUND_ROWS)) != nil else {
            let failure = Self.error(mysql, context: "connect to \(configuration.host):\(configuration.port)")
            mysql_close(mysql)
            throw SQLError(kind: .connection, code: failure.code, message: failure.message)
        }
        do {
            try execute("SET SESSION sql_mode='STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,ONLY_FULL_GROUP_BY', time_zone='+00:00'")
            if createDatabase {
                try execute("CREATE DATABASE IF NOT EXISTS `\(configuration.database.replacingOccurrences(of: "`", with: ""))` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            }
        } catch {
            mysql_close(mysql)
            throw error
        }
    }

    /// Prepared statements of the bulk path, by SQL text (see MariaDBBulkInsert.swift).
    var statements: [String: UnsafeMutablePointer<MYSQL_STMT>] = [:]

    deinit {
        for statement in statements.values { mysql_stmt_close(statement) }
        mysql_close(mysql)
    }

    func isAlive() -> Bool { mysql_ping(mysql) == 0 }

    static func error(_ mysql: UnsafeMutablePointer<MYSQL>, context: String) -> SQLError {
        error(code: Int32(mysql_errno(mysql)), message: String(cString: mysql_error(mysql)), context: context)
    }

    static func error(code: Int32, message: String, context: String) -> SQLError {
        let kind: SQLError.Kind
        switch code {
        case 1062, 1586: kind = .uniqueViolation
        case 1451, 1452: kind = .foreignKeyViolation
        case 2002, 2003, 2005, 2006, 2013, 2055, 1927, 4031: kind = .connection
        default: kind = .other
        }
        return SQLError(kind: kind, code: code, message: "\(message) (\(context))")
    }

    /// Appends `value` as a SQL literal.
    func appendLiteral(_ value: SQLValue, to sql: inout [UInt8]) {
        switch value {
        case .null: sql.append(contentsOf: "NULL".utf8)
        case .int(let v): sql.append(contentsOf: String(v).utf8)
        case .double(let v): sql.append(contentsOf: (v.isFinite ? String(v) : "NULL").utf8)
        case .text(let s):
            var s = s
            s.withUTF8 { appendEscaped($0, to: &sql) }
        case .blob(let b):
            if b.isEmpty { sql.append(contentsOf: "X''".utf8); return }
            let hex: [UInt8] = Array("0123456789abcdef".utf8)
            sql.append(contentsOf: "X'".utf8)
            for byte in b {
                sql.append(hex[Int(byte >> 4)])
                sql.append(hex[Int(byte & 15)])
            }
            sql.append(UInt8(ascii: "'"))
        }
    }

    private func appendEscaped(_ bytes: UnsafeBufferPointer<UInt8>, to sql: inout [UInt8]) {
        sql.append(UInt8(ascii: "'"))
        if let input = bytes.baseAddress, bytes.count > 0 {
            let start = sql.count
            let capacity = bytes.count * 2 + 1
            sql.append(contentsOf: repeatElement(0, count: capacity))
            let written = sql.withUnsafeMutableBufferPointer { out in
                UnsafeMutableRawPointer(out.baseAddress! + start).withMemoryRebound(to: CChar.self, capacity: capacity) { target in
                    UnsafeRawPointer(input).withMemoryRebound(to: CChar.self, capacity: bytes.count) { source in
                        mysql_real_escape_string(mysql, target, source, UInt(bytes.count))
                    }
                }
            }
            sql.removeLast(sql.count - start - Int(written))
        }
        sql.append(UInt8(ascii: "'"))
    }

    /// Replaces each `?` outside quoted strings with the next bind, as a literal.
    func render(_ sql: String, _ binds: [SQLValue]) throws -> [UInt8] {
        if binds.isEmpty { return Array(sql.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(sql.utf8.count + binds.count * 16)
        var next = 0
        var quote: UInt8? = nil
        for byte in sql.utf8 {
            if let q = quote {
                if byte == q { quote = nil }
                out.append(byte)
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "`") || byte == UInt8(ascii: "\"") {
                quote = byte
                out.append(byte)
            } else if byte == UInt8(ascii: "?") {
                guard next < binds.count else {
                    throw SQLError(kind: .other, code: -1, message: "more placeholders than binds in: \(sql)")
                }
                appendLiteral(binds[next], to: &out)
                next += 1
            } else {
                out.append(byte)
            }
        }
        guard next == binds.count else {
            throw SQLError(kind: .other, code: -1, message: "\(binds.count) binds for \(next) placeholders in: \(sql)")
        }
        return out
    }

    private func run(_ bytes: [UInt8], context: @autoclosure () -> String) throws {
        let rc = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { mysql_real_query(mysql, $0.baseAddress, UInt($0.count)) }
        }
        guard rc == 0 else { throw Self.error(mysql, context: context()) }
    }

    func query(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow] {
        try run(try render(sql, binds), context: sql)
        guard let result = mysql_store_result(mysql) else {
            if mysql_field_count(mysql) == 0 { return [] }
            throw Self.error(mysql, context: sql)
        }
        defer { mysql_free_result(result) }
        let count = Int(mysql_num_fields(result))
        let fields = mysql_fetch_fields(result)!
        var names: [String] = []
        var kinds: [UInt8] = []  // 0 text, 1 int, 2 double, 3 blob
        for i in 0..<count {
            let field = fields[i]
            names.append(String(cString: field.name))
            switch field.type {
            case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24, MYSQL_TYPE_YEAR:
                kinds.append(1)
            case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE, MYSQL_TYPE_DECIMAL, MYSQL_TYPE_NEWDECIMAL:
                kinds.append(2)
            case MYSQL_TYPE_BLOB, MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_MEDIUM_BLOB, MYSQL_TYPE_LONG_BLOB,
                 MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_STRING, MYSQL_TYPE_VARCHAR:
                kinds.append(field.charsetnr == 63 ? 3 : 0)
            default:
                kinds.append(0)
            }
        }
        let columnNames = SQLColumnNames(names)
        var rows: [SQLRow] = []
        rows.reserveCapacity(Int(mysql_num_rows(result)))
        while let row = mysql_fetch_row(result) {
            let lengths = mysql_fetch_lengths(result)!
            var values: [SQLValue] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                guard let cell = row[i] else { values.append(.null); continue }
                let bytes = UnsafeRawBufferPointer(start: cell, count: Int(lengths[i]))
                switch kinds[i] {
                case 1: values.append(Int64(String(decoding: bytes, as: UTF8.self)).map(SQLValue.int) ?? .null)
                case 2: values.append(Double(String(decoding: bytes, as: UTF8.self)).map(SQLValue.double) ?? .null)
                case 3: values.append(.blob(Array(bytes)))
                default: values.append(.text(String(decoding: bytes, as: UTF8.self)))
                }
            }
            rows.append(SQLRow(names: columnNames, values: values))
        }
        return rows
    }

    /// Streams the rows (mysql_use_result): the client holds one row at a time, not the whole
    /// result. A caller that stops early (throws from `row`) leaves the rest to mysql_free_result,
    /// which reads and discards it, so the connection is ready for the next statement.
    func scan(_ sql: String, _ binds: [SQLValue], columns: ([String]) throws -> Void, row: (any SQLCursor) throws -> Void) throws {
        try run(try render(sql, binds), context: sql)
        guard let result = mysql_use_result(mysql) else {
            if mysql_field_count(mysql) == 0 { return try columns([]) }
            throw Self.error(mysql, context: sql)
        }
        defer { mysql_free_result(result) }
        let fields = mysql_fetch_fields(result)!
        try columns((0..<Int(mysql_num_fields(result))).map { String(cString: fields[$0].name) })
        while let cells = mysql_fetch_row(result) {
            try row(MariaDBCursor(cells: cells, lengths: mysql_fetch_lengths(result)!))
        }
        // The end of a streamed result and an error while streaming look alike: ask.
        if mysql_errno(mysql) != 0 { throw Self.error(mysql, context: sql) }
    }

    @discardableResult
    func execute(_ sql: String, _ binds: [SQLValue]) throws -> SQLExecution {
        try run(try render(sql, binds), context: sql)
        if let result = mysql_store_result(mysql) { mysql_free_result(result) }
        let affected = mysql_affected_rows(mysql)
        return SQLExecution(affectedRows: affected == UInt64.max ? 0 : Int64(affected), lastInsertID: Int64(mysql_insert_id(mysql)))
    }
}

/// A fetched row of the text protocol: every value is text (NUL-terminated), numbers as digits.
private struct MariaDBCursor: SQLCursor {
    let cells: MYSQL_ROW
    let lengths: UnsafeMutablePointer<UInt>

    func int(_ column: Int) -> Int64? {
        withText(column) { text -> Int64? in
            guard let text, !text.isEmpty else { return nil }
            var value: Int64 = 0
            var negative = false
            for (index, byte) in text.enumerated() {
                if index == 0 && byte == UInt8(ascii: "-") { negative = true; continue }
                guard byte >= 48 && byte <= 57 else { return Int64(String(decoding: text, as: UTF8.self)) }
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int64(byte - 48))
                if o1 || o2 { return nil }
                value = sum
            }
            return negative ? -value : value
        }
    }

    func double(_ column: Int) -> Double? {
        guard let cell = cells[column] else { return nil }
        var end: UnsafeMutablePointer<CChar>?
        let value = strtod(cell, &end)
        return end == cell ? nil : value
    }

    func withText<R>(_ column: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R {
        guard let cell = cells[column] else { return try body(nil) }
        return try cell.withMemoryRebound(to: UInt8.self, capacity: Int(lengths[column])) {
            try body(UnsafeBufferPointer(start: $0, count: Int(lengths[column])))
        }
    }
}
