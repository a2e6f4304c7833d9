/// How a report is written: for people or for machines.
public enum OutputFormat: String, Sendable, CaseIterable {
    case table, json, ndjson, csv
}

/// Where rendered reports go (the CLI's stdout, a file, a buffer in a test).
/// Called from any thread; each call is written whole.
public protocol ReportOutput: Sendable {
    func write(_ bytes: UnsafeBufferPointer<UInt8>)
}

extension ReportOutput {
    public func write(_ text: String) {
        var text = text
        text.withUTF8 { write($0) }
    }

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { write($0) }
    }
}
