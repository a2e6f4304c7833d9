import ArgumentParser
import Engine
import Foundation
import ProbeModel
import Reports
import Yams

/// Runs a list of checks from a file, which may mix kinds, each with its own
/// parameters, all at once on one ring thread (or `--threads`).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a list of checks (JSON or YAML) and print one result document per check.",
        discussion: """
            The file holds a list of checks, or an object with a `checks` list. Each check: kind (icmp, tcp, \
            udp, http), target, count, interval_ms, timeout_ms, and the kind's parameters under its name, e.g.

              - kind: http
                target: https://example.org/
                count: 3
                http: {method: HEAD, expect_status: [200, 299]}
              - kind: tcp
                target: example.org:443

            See docs/checks.md.
            """
    )

    @Argument(help: "Checks file: .json, .yaml or .yml ('-' reads JSON or YAML from stdin).")
    var file: String

    @Option(help: "Ring threads (default 1: every check on one thread).")
    var threads: Int = 1

    @Option(name: .shortAndLong, help: "Output: table, json, ndjson (one document per line) or csv.")
    var format: String = "table"

    @Flag(name: .customShort("4"), help: "IPv4 only.") var ipv4 = false
    @Flag(name: .customShort("6"), help: "IPv6 only.") var ipv6 = false

    @OptionGroup(title: "Upload") var upload: UploadOptions

    mutating func run() async throws {
        try upload.validate()
        guard let format = OutputFormat(rawValue: format) else {
            throw ConfigurationError(field: "format", "must be table, json, ndjson or csv, got '\(format)'")
        }
        let checks = try Self.load(file)
        let run = try CheckRun(checks, threads: threads)
        let signals = SignalCancellation { run.cancel() }
        defer { signals.cancel() }
        let report = try await run.run(family: ipv4 ? .ipv4 : ipv6 ? .ipv6 : .any)
        try CheckReportFormatter.write(report, format: format, to: OutputWriter())
        try await upload.upload(report.documents)
    }

    /// Reads and decodes a checks file; a bad one is a ConfigurationError naming the field by
    /// its path (`checks[1].http.method`).
    static func load(_ path: String) throws -> [ProbeSpec] {
        guard let handle = path == "-" ? FileHandle.standardInput : FileHandle(forReadingAtPath: path) else {
            throw ConfigurationError(field: "file", "cannot read '\(path)'")
        }
        let data = handle.readDataToEndOfFile()
        let text = String(decoding: data, as: UTF8.self)
        guard text.contains(where: { !$0.isWhitespace }) else { throw ConfigurationError(field: "file", "'\(path)' holds no checks") }
        let isJSON = path.hasSuffix(".json") || (path == "-" && text.drop { $0.isWhitespace }.first.map { "[{".contains($0) } == true)
        do {
            // A list, or (when the top level is not one) an object with a `checks` list.
            if isJSON {
                do { return try JSONDecoder().decode([ProbeSpec].self, from: data) } catch DecodingError.typeMismatch(_, let c)
                    where c.codingPath.isEmpty { return try JSONDecoder().decode(CheckFile.self, from: data).checks }
            }
            guard path == "-" || path.hasSuffix(".yaml") || path.hasSuffix(".yml") else {
                throw ConfigurationError(field: "file", "'\(path)' is neither .json nor .yaml/.yml")
            }
            do { return try YAMLDecoder().decode([ProbeSpec].self, from: text) } catch DecodingError.typeMismatch(_, let c)
                where c.codingPath.isEmpty { return try YAMLDecoder().decode(CheckFile.self, from: text).checks }
        } catch let error as DecodingError {
            throw ConfigurationError(decoding: error)
        } catch let error as YamlError {
            throw ConfigurationError(field: "file", "not valid YAML: \(error)")
        }
    }

    /// `{"checks": [...]}`: the shape an agent's configuration uses.
    struct CheckFile: Decodable {
        var checks: [ProbeSpec]
    }
}

extension ConfigurationError {
    /// A decoding failure, named by its path in the document (`checks[2].http.method`).
    init(decoding error: DecodingError) {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let i = key.intValue { out += "[\(i)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
            }
            return out.hasPrefix("[") ? "checks" + out : out
        }
        switch error {
        case .keyNotFound(let key, let context):
            self.init(field: path(context.codingPath + [key]), "is required")
        case .typeMismatch(let type, let context):
            self.init(field: path(context.codingPath), "must be \(type == Int.self ? "an integer" : type == String.self ? "a string" : "a \(type)")")
        case .valueNotFound(_, let context):
            self.init(field: path(context.codingPath), "must not be null")
        case .dataCorrupted(let context):
            self.init(field: context.codingPath.isEmpty ? "file" : path(context.codingPath), context.debugDescription)
        @unknown default:
            self.init(field: "file", "\(error)")
        }
    }
}
