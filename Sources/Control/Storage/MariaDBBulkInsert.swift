import CMariaDB
import Foundation

/// A connection that can insert many rows with one execution of a prepared statement.
protocol BulkInserting: SQLConnection {
    /// Executes `sql` (an INSERT with `payload.columns` placeholders) once for all the
    /// payload's rows. Returns the first inserted id and the rows affected.
    func bulkInsert(_ sql: String, _ payload: BulkPayload) throws -> SQLExecution
}

/// Rows laid out for Connector/C bulk array binding (`STMT_ATTR_ARRAY_SIZE`, column-wise):
/// built without a connection, so the next batch can be laid out while the server inserts
/// the last one. Each column takes its type from its first non-NULL value (integers widen to
/// doubles).
final class BulkPayload: @unchecked Sendable {
    enum ColumnType { case null, int, double, text }

    let columns: Int
    let rows: Int
    let types: [ColumnType]
    /// Strings, one after another; `offsets` and `lengths` find each cell's.
    private(set) var arena: [UInt8] = []
    private let offsets: [Int]
    let indicators: UnsafeMutablePointer<CChar>
    let cells: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<UInt>

    /// `values` holds `rows` rows of `columns` values, row after row.
    init(columns: Int, rows: Int, values: [SQLValue]) throws {
        precondition(values.count == columns * rows && rows > 0, "BulkPayload: \(values.count) values for \(rows) rows of \(columns)")
        self.columns = columns
        self.rows = rows
        types = (0..<columns).map { column in
            let first = (0..<rows).lazy.map { values[$0 * columns + column] }.first { $0 != .null }
            switch first {
            case nil, .null?: return .null
            case .int?: return .int
            case .double?: return .double
            case .text?, .blob?: return .text
            }
        }
        indicators = .allocate(capacity: columns * rows)
        cells = .allocate(byteCount: columns * rows * 8, alignment: 8)
        lengths = .allocate(capacity: columns * rows)
        var offsets = [Int](repeating: 0, count: columns * rows)
        var arena: [UInt8] = []
        for column in 0..<columns {
            let base = column * rows
            for row in 0..<rows {
                let value = values[row * columns + column]
                let slot = base + row
                indicators[slot] = CChar(STMT_INDICATOR_NONE.rawValue)
                lengths[slot] = 0
                switch (types[column], value) {
                case (_, .null): indicators[slot] = CChar(STMT_INDICATOR_NULL.rawValue)
                case (.int, .int(let v)): cells.storeBytes(of: v, toByteOffset: slot * 8, as: Int64.self)
                case (.double, .double(let v)): cells.storeBytes(of: v, toByteOffset: slot * 8, as: Double.self)
                case (.double, .int(let v)): cells.storeBytes(of: Double(v), toByteOffset: slot * 8, as: Double.self)
                case (.text, .text(let v)):
                    offsets[slot] = arena.count
                    arena.append(contentsOf: v.utf8)
                    lengths[slot] = UInt(arena.count - offsets[slot])
                case (.text, .blob(let v)):
                    offsets[slot] = arena.count
                    arena.append(contentsOf: v)
                    lengths[slot] = UInt(v.count)
                default:
                    indicators.deallocate(); cells.deallocate(); lengths.deallocate()
                    throw SQLError(kind: .other, code: -1, message: "bulkInsert: column \(column) mixes value types (row \(row): \(value))")
                }
            }
        }
        self.offsets = offsets
        self.arena = arena
    }

    deinit {
        indicators.deallocate()
        cells.deallocate()
        lengths.deallocate()
    }

    /// The column binds, valid inside `body` (text cells point into the arena).
    func withBinds<R>(_ body: (inout [MYSQL_BIND]) throws -> R) rethrows -> R {
        try arena.withUnsafeMutableBufferPointer { arenaBuffer in
            var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: columns)
            for column in 0..<columns {
                let base = column * rows
                let columnCells = cells.advanced(by: base * 8)
                switch types[column] {
                case .null, .int: binds[column].buffer_type = MYSQL_TYPE_LONGLONG
                case .double: binds[column].buffer_type = MYSQL_TYPE_DOUBLE
                case .text:
                    binds[column].buffer_type = MYSQL_TYPE_STRING
                    binds[column].length = lengths.advanced(by: base)
                    let pointers = columnCells.bindMemory(to: UnsafeMutablePointer<UInt8>?.self, capacity: rows)
                    for row in 0..<rows {
                        pointers[row] = arenaBuffer.baseAddress.map { $0 + offsets[base + row] } ?? nil
                    }
                }
                binds[column].buffer = columnCells
                cmariadb_bind_set_indicator(&binds[column], indicators.advanced(by: base))
            }
            return try body(&binds)
        }
    }
}

/// Connector/C bulk array binding: the values travel in MariaDB's binary protocol in one
/// COM_STMT_BULK_EXECUTE, with no SQL text to build or escape.
extension MariaDBConnection: BulkInserting {
    func bulkInsert(_ sql: String, _ payload: BulkPayload) throws -> SQLExecution {
        let statement = try prepared(sql)
        return try payload.withBinds { binds -> SQLExecution in
            guard cmariadb_stmt_set_array_size(statement, UInt32(payload.rows)) == 0,
                  mysql_stmt_bind_param(statement, &binds) == 0,
                  mysql_stmt_execute(statement) == 0 else {
                let failure = Self.error(code: Int32(mysql_stmt_errno(statement)), message: String(cString: mysql_stmt_error(statement)), context: "bulk insert")
                if failure.kind == .connection { dropStatements() }
                throw failure
            }
            let affected = mysql_stmt_affected_rows(statement)
            return SQLExecution(affectedRows: affected == UInt64.max ? 0 : Int64(affected), lastInsertID: Int64(mysql_stmt_insert_id(statement)))
        }
    }

    private func prepared(_ sql: String) throws -> UnsafeMutablePointer<MYSQL_STMT> {
        if let statement = statements[sql] { return statement }
        guard let statement = mysql_stmt_init(mysql) else { throw Self.error(mysql, context: "mysql_stmt_init") }
        guard mysql_stmt_prepare(statement, sql, UInt(sql.utf8.count)) == 0 else {
            let failure = Self.error(code: Int32(mysql_stmt_errno(statement)), message: String(cString: mysql_stmt_error(statement)), context: "prepare")
            mysql_stmt_close(statement)
            throw failure
        }
        statements[sql] = statement
        return statement
    }

    private func dropStatements() {
        for statement in statements.values { mysql_stmt_close(statement) }
        statements.removeAll()
    }
}
