import Foundation

/// A value bound to, or read from, a SQL statement. Timestamps are stored as
/// integer milliseconds since the Unix epoch so both stores compare them alike.
public enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    public static func bool(_ value: Bool) -> SQLValue { .int(value ? 1 : 0) }
    public static func optional(_ value: String?) -> SQLValue { value.map(SQLValue.text) ?? .null }
    public static func optional(_ value: Int64?) -> SQLValue { value.map(SQLValue.int) ?? .null }
    public static func optional(_ value: Double?) -> SQLValue { value.map(SQLValue.double) ?? .null }
}

/// One result row; column lookup by name goes through a table shared by all rows of a query.
public struct SQLRow: Sendable {
    let names: SQLColumnNames
    public let values: [SQLValue]

    package init(names: SQLColumnNames, values: [SQLValue]) {
        self.names = names
        self.values = values
    }

    public subscript(_ column: String) -> SQLValue {
        guard let index = names.index[column] else { preconditionFailure("no column \(column) in result") }
        return values[index]
    }

    /// Where `columns` sit in this row's query, looked up once for all its
    /// rows: reading a row by name hashes every name, 30 times for a result.
    public func positions(of columns: [String]) -> [Int] {
        columns.map { column in
            guard let index = names.index[column] else { preconditionFailure("no column \(column) in result") }
            return index
        }
    }

    public func int(_ column: String) -> Int64? { Self.int(self[column]) }
    public func int(at position: Int) -> Int64? { Self.int(values[position]) }
    public func double(_ column: String) -> Double? { Self.double(self[column]) }
    public func double(at position: Int) -> Double? { Self.double(values[position]) }
    public func string(_ column: String) -> String? { Self.string(self[column]) }
    public func string(at position: Int) -> String? { Self.string(values[position]) }

    static func int(_ value: SQLValue) -> Int64? {
        switch value {
        case .int(let v): return v
        case .double(let v): return Int64(v)
        case .text(let s): return Int64(s)
        default: return nil
        }
    }

    static func double(_ value: SQLValue) -> Double? {
        switch value {
        case .int(let v): return Double(v)
        case .double(let v): return v
        case .text(let s): return Double(s)
        default: return nil
        }
    }

    static func string(_ value: SQLValue) -> String? {
        switch value {
        case .text(let s): return s
        case .blob(let b): return String(decoding: b, as: UTF8.self)
        case .int(let v): return String(v)
        case .double(let v): return String(v)
        case .null: return nil
        }
    }

    public func bool(_ column: String) -> Bool { (int(column) ?? 0) != 0 }

    public func bytes(_ column: String) -> [UInt8]? {
        switch self[column] {
        case .blob(let b): return b
        case .text(let s): return Array(s.utf8)
        default: return nil
        }
    }
}

package final class SQLColumnNames: Sendable {
    let index: [String: Int]
    package init(_ names: [String]) {
        var index: [String: Int] = [:]
        for (i, name) in names.enumerated() where index[name] == nil { index[name] = i }
        self.index = index
    }
}

public struct SQLExecution: Sendable {
    public var affectedRows: Int64
    public var lastInsertID: Int64

    package init(affectedRows: Int64, lastInsertID: Int64) {
        self.affectedRows = affectedRows
        self.lastInsertID = lastInsertID
    }
}

public enum SQLDialect: String, Sendable {
    case sqlite
    case mariadb
}

public struct SQLError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case uniqueViolation, foreignKeyViolation, connection, other }
    public var kind: Kind
    public var code: Int32
    public var message: String
    public var description: String { "database error \(code): \(message)" }

    package init(kind: Kind, code: Int32, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }
}

/// A row of a result set read where the driver holds it, for a listing that renders straight
/// from the rows (`SQLConnection.scan`): nothing is allocated per row or per column. Values
/// convert as `SQLRow`'s do.
public protocol SQLCursor {
    func int(_ column: Int) -> Int64?
    func double(_ column: Int) -> Double?
    /// The column's text as UTF-8 (nil for NULL), valid only during `body`.
    func withText<R>(_ column: Int, _ body: (UnsafeBufferPointer<UInt8>?) throws -> R) rethrows -> R
}

/// A blocking connection owned by exactly one thread (see `DatabasePool`).
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    func query(_ sql: String, _ binds: [SQLValue]) throws -> [SQLRow]
    /// Runs a query and hands each row to `row` in place; `columns` gets the column names first.
    func scan(_ sql: String, _ binds: [SQLValue], columns: ([String]) throws -> Void, row: (any SQLCursor) throws -> Void) throws
    @discardableResult
    func execute(_ sql: String, _ binds: [SQLValue]) throws -> SQLExecution
    /// True when the connection still answers; a pool drops connections that don't.
    func isAlive() -> Bool
}

extension SQLConnection {
    public func query(_ sql: String) throws -> [SQLRow] { try query(sql, []) }
    @discardableResult
    public func execute(_ sql: String) throws -> SQLExecution { try execute(sql, []) }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute(dialect == .sqlite ? "BEGIN IMMEDIATE" : "START TRANSACTION")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            _ = try? execute("ROLLBACK")
            throw error
        }
    }

    public func scalar(_ sql: String, _ binds: [SQLValue] = []) throws -> Int64? {
        guard let row = try query(sql, binds).first, let first = row.values.first else { return nil }
        switch first {
        case .int(let v): return v
        case .double(let v): return Int64(v)
        case .text(let s): return Int64(s)
        default: return nil
        }
    }
}

/// `?, ?, ?` for `count` placeholders.
package func placeholders(_ count: Int) -> String {
    Array(repeating: "?", count: count).joined(separator: ", ")
}

/// `(?, ?), (?, ?)`: `rows` rows of `columns` placeholders, for a multi-row VALUES list.
package func valueRows(_ columns: Int, rows: Int) -> String {
    Array(repeating: "(" + placeholders(columns) + ")", count: rows).joined(separator: ", ")
}
