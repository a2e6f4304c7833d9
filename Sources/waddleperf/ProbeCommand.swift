import ArgumentParser
import Engine
import ProbeModel
import Reports
@preconcurrency import Foundation

struct ProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Probe targets and print per-target statistics.",
        discussion: """
        KIND is one of: \(ProbeRegistry.kinds.map { $0.name }.joined(separator: ", ")), http.
        For http, each TARGET is an http:// or https:// URL (--timeout defaults to 5s).
        TARGET is a host, an IP address, host:port, [v6]:port, or a CIDR network (127.0.0.0/22).
        """
    )

    @Argument(help: "Probe kind.")
    var kind: String

    @Argument(help: "Targets.")
    var targets: [String] = []

    @OptionGroup var options: ProbeOptions

    @OptionGroup(title: "HTTP options") var http: HTTPOptions

    @OptionGroup(title: "HTTP probe options") var httpProbe: HTTPProbeOptions

    @Option(name: .shortAndLong, help: "Output: table, json, ndjson (one line per probe, then per target) or csv.")
    var format: String = "table"

    @OptionGroup(title: "Upload") var upload: UploadOptions

    mutating func run() async throws {
        try upload.validate()
        let started = Int64(Date().timeIntervalSince1970 * 1000)
        if kind == "http" {
            guard let format = OutputFormat(rawValue: format) else {
                throw ConfigurationError(field: "format", "must be table, json, ndjson or csv, got '\(format)'")
            }
            let report = try await HTTPProbeCLI.run(urls: targets, options: options, http: http, probe: httpProbe, format: format)
            try await upload.upload(zip(report.targets, report.summaries).map { t, s in
                var d = ResultDocument(summary: s, target: t, as: "\(t.request.url)")
                d.createdAt = started
                return d
            })
            return
        }
        guard let kind = ProbeRegistry.kind(named: kind) else {
            throw ConfigurationError(field: "kind", "unknown probe kind '\(kind)' (known: \(ProbeRegistry.kinds.map { $0.name }.joined(separator: ", ")), http)")
        }
        guard let format = OutputFormat(rawValue: format) else {
            throw ConfigurationError(field: "format", "must be table, json, ndjson or csv, got '\(format)'")
        }
        var settings = try options.settings(kind: kind, continuous: false)
        let targets = try await parseTargets(self.targets, kind: kind, family: options.family)
        // Threads of their own choosing only when the in-flight bound is not the user's:
        // --concurrency is per thread, and more threads would multiply it.
        if options.threads == nil && options.concurrency == nil {
            settings.threads = ProbeSettings.automaticThreads(targets: targets.count)
        }
        let run = try ProbeRun(kind: kind, targets: targets, settings: settings)

        let output = OutputWriter()
        var observer: (@Sendable ([ProbeResult]) -> Void)? = nil
        if format == .ndjson {
            let kindType = kind
            observer = { batch in
                var text = ""
                for r in batch { text += ProbeReportFormatter.resultLine(r, kind: kindType, targets: targets) + "\n" }
                output.write(text)
            }
        }
        let progress = ProgressLine(run: run, total: UInt64(targets.count) * UInt64(settings.count ?? 0))
        progress.start()
        let signals = SignalCancellation(run: run)
        defer { signals.cancel() }
        let report = try await run.run(observer: observer)
        await progress.stop()
        // Rendering waits on its worker threads and writing blocks on stdout: on a thread of
        // its own, not the cooperative pool.
        let kindType = kind
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                ProbeReportFormatter.write(report, kind: kindType, format: format, to: output)
                done.resume()
            }.start()
        }
        try await upload.upload(zip(report.targets, report.summaries).map { t, s in
            // As a check names it: host, or host:port for the kinds with ports.
            let host = t.name.contains(":") ? "[\(t.name)]" : t.name
            var d = ResultDocument(summary: s, kind: kindType.declaration, target: t, as: kindType.defaultPort == nil ? t.name : "\(host):\(t.port)")
            d.createdAt = started
            return d
        })
    }
}


/// Stdout, safe from any thread: each write goes out whole.
final class OutputWriter: ReportOutput, @unchecked Sendable {
    private let lock = NSLock()

    /// Straight to fd 1, all of it (no Data copy of a large report).
    func write(_ buffer: UnsafeBufferPointer<UInt8>) {
        lock.lock()
        defer { lock.unlock() }
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(1, buffer.baseAddress! + offset, buffer.count - offset)
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN {  // stdout left non-blocking by whoever started us
                var p = pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)
                _ = poll(&p, 1, -1)
                continue
            }
            // Disk full, EIO, ...: a cut-short report must not exit 0.
            let reason = n < 0 ? String(cString: strerror(errno)) : "wrote nothing"
            FileHandle.standardError.write(Data("waddleperf: error: writing the output: \(reason)\n".utf8))
            exit(1)
        }
    }
}

/// Stops a run on SIGINT/SIGTERM so the summary of what was measured still prints.
final class SignalCancellation: @unchecked Sendable {
    private let sources: [DispatchSourceSignal]

    convenience init(run: ProbeRun) { self.init { run.cancel() } }

    init(_ cancel: @escaping @Sendable () -> Void) {
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { cancel() }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func cancel() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// A one-line progress display on a terminal, for runs longer than a second;
/// nothing when stderr is not a terminal. `text` is asked for the line (given
/// the seconds elapsed) every `every`.
final class ProgressLine: Sendable {
    private let text: @Sendable (Double) -> String
    private let every: Duration
    nonisolated(unsafe) private var handle: Task<Void, Never>? = nil

    init(every: Duration = .milliseconds(200), _ text: @escaping @Sendable (Double) -> String) {
        self.text = text
        self.every = every
    }

    /// Probes done and answered, of `total` (0: open-ended).
    convenience init(run: ProbeRun, total: UInt64) {
        self.init { elapsed in
            let sent = run.progress.sent.load(ordering: .relaxed)
            let received = run.progress.received.load(ordering: .relaxed)
            let of = total > 0 ? "/\(total)" : ""
            return String(format: "%llu%@ done, %llu answered, %.1fs", sent, of, received, elapsed)
        }
    }

    func start() {
        guard isatty(STDERR_FILENO) == 1 else { return }
        let text = self.text, every = self.every
        handle = Task.detached {
            let started = Date()
            try? await Task.sleep(for: .seconds(1))
            while !Task.isCancelled {
                let line = "\r\u{1B}[K" + text(Date().timeIntervalSince(started))
                FileHandle.standardError.write(Data(line.utf8))
                try? await Task.sleep(for: every)
            }
        }
    }

    func stop() async {
        guard let handle else { return }
        handle.cancel()
        await handle.value
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
