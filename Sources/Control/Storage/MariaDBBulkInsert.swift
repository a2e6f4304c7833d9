import CMariaDB
import Foundation
import SQLDatabase

/// A connection that can insert many rows with one execution of a prepared statement.
protocol BulkInserting: SQLConnection {
    /// Executes `sql` (an INSERT with a placeholder for each of `payload.presentColumns`) once
    /// for all the payload's rows. Returns the first inserted id and the rows affected.
    func bulkInsert(_ sql: String, _ payload: BulkPayload) throws -> SQLExecution
}

/// Rows laid out for Connector/C bulk array binding (`STMT_ATTR_ARRAY_SIZE`, column-wise):
/// built without a connection, so the next batch can be laid out while the server inserts
/// the last one. Cells start NULL; `RowWriter` fills a row's cells in column order. Columns
/// NULL in every row are left out of the statement (the server then does no work for them:
/// an ICMP batch has nine such columns, ~5% of MariaDB's time a row).
final class BulkPayload: @unchecked Sendable {
    enum ColumnType: Sendable { case int, double, text }

    let columns: Int
    let rows: Int
    let types: [ColumnType]
    /// Strings, one after another; `offsets` and `lengths` find each cell's.
    private var arena: [UInt8] = []
    private var offsets: [Int]
    let indicators: UnsafeMutablePointer<CChar>
    let cells: UnsafeMutableRawPointer
    let lengths: UnsafeMutablePointer<UInt>
    /// Bit `c`: column `c` holds a value in some row.
    private(set) var presentMask: UInt64 = 0

    /// The columns bound, in order: those with a value in some row.
    var presentColumns: [Int] { (0..<columns).filter { presentMask & (1 << UInt64($0)) != 0 } }

    init(types: [ColumnType], rows: Int, textBytes: Int = 0) {
        precondition(rows > 0 && !types.isEmpty && types.count <= 64, "BulkPayload: \(rows) rows of \(types.count) columns")
        self.columns = types.count
        self.rows = rows
        self.types = types
        indicators = .allocate(capacity: columns * rows)
        indicators.initialize(repeating: CChar(STMT_INDICATOR_NULL.rawValue), count: columns * rows)
        cells = .allocate(byteCount: columns * rows * 8, alignment: 8)
        lengths = .allocate(capacity: columns * rows)
        lengths.initialize(repeating: 0, count: columns * rows)
        offsets = [Int](repeating: 0, count: columns * rows)
        arena.reserveCapacity(textBytes)
    }

    /// Writes one row's cells, in column order, each of its column's type.
    struct RowWriter: ResultColumnSink {
        let payload: BulkPayload
        let row: Int
        var column = 0

        /// The next column's cell for a value of `type`, marked present; nil for a NULL.
        private mutating func next(_ type: ColumnType, null: Bool) -> Int? {
            precondition(payload.types[column] == type, "BulkPayload: column \(column) is \(payload.types[column]), not \(type)")
            defer { column += 1 }
            if null { return nil }
            payload.presentMask |= 1 << UInt64(column)
            let slot = column * payload.rows + row
            payload.indicators[slot] = CChar(STMT_INDICATOR_NONE.rawValue)
            return slot
        }

        mutating func int(_ value: Int64?) {
            guard let slot = next(.int, null: value == nil) else { return }
            payload.cells.storeBytes(of: value!, toByteOffset: slot * 8, as: Int64.self)
        }

        mutating func double(_ value: Double?) {
            guard let slot = next(.double, null: value == nil) else { return }
            payload.cells.storeBytes(of: value!, toByteOffset: slot * 8, as: Double.self)
        }

        mutating func text(_ value: String?) {
            guard let slot = next(.text, null: value == nil) else { return }
            payload.offsets[slot] = payload.arena.count
            payload.arena.append(contentsOf: value!.utf8)
            payload.lengths[slot] = UInt(payload.arena.count - payload.offsets[slot])
        }
    }

    deinit {
        indicators.deallocate()
        cells.deallocate()
        lengths.deallocate()
    }

    /// The binds of `presentColumns`, valid inside `body` (text cells point into the arena).
    func withBinds<R>(_ body: (inout [MYSQL_BIND]) throws -> R) rethrows -> R {
        try arena.withUnsafeMutableBufferPointer { arenaBuffer in
            let present = presentColumns
            var binds = [MYSQL_BIND](repeating: MYSQL_BIND(), count: present.count)
            for (index, column) in present.enumerated() {
                let base = column * rows
                let columnCells = cells.advanced(by: base * 8)
                switch types[column] {
                case .int: binds[index].buffer_type = MYSQL_TYPE_LONGLONG
                case .double: binds[index].buffer_type = MYSQL_TYPE_DOUBLE
                case .text:
                    binds[index].buffer_type = MYSQL_TYPE_STRING
                    binds[index].length = lengths.advanced(by: base)
                    let pointers = columnCells.bindMemory(to: UnsafeMutablePointer<UInt8>?.self, capacity: rows)
                    for row in 0..<rows {
                        pointers[row] = arenaBuffer.baseAddress.map { $0 + offsets[base + row] } ?? nil
                    }
                }
                binds[index].buffer = columnCells
                cmariadb_bind_set_indicator(&binds[index], indicators.advanced(by: base))
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
        // One statement per set of present columns: a handful in practice, bounded regardless.
        if statements.count >= 64 { dropStatements() }
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
