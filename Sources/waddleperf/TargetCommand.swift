import ArgumentParser
import Engine
@preconcurrency import Foundation

struct TargetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "target",
        abstract: "Run TCP and UDP echo services for probes to measure against."
    )

    @Option(help: "Address to bind.")
    var bind: String = "127.0.0.1"

    @Option(name: .customLong("tcp-port"), help: "TCP echo port (0: any free port, 'off': no TCP).")
    var tcpPort: String = "7"

    @Option(name: .customLong("udp-port"), help: "UDP echo port (0: any free port, 'off': no UDP).")
    var udpPort: String = "7"

    @Option(name: .customLong("udp-drop-every"), help: "Drop every Nth UDP datagram (0: never): a known loss for tests.")
    var udpDropEvery: Int = 0

    mutating func run() async throws {
        var c = EchoServer.Configuration()
        guard let address = IPAddress(bind) else { throw ConfigurationError(field: "bind", "'\(bind)' is not an IP address") }
        c.bind = address
        func port(_ text: String, _ field: String) throws -> UInt16? {
            if text == "off" { return nil }
            guard let v = Int(text), (0...65535).contains(v) else {
                throw ConfigurationError(field: field, "must be 0-65535 or 'off', got '\(text)'")
            }
            return UInt16(v)
        }
        c.tcpPort = try port(tcpPort, "tcp-port")
        c.udpPort = try port(udpPort, "udp-port")
        c.udpDropEvery = udpDropEvery
        let server = try EchoServer(c)
        try server.start()
        let tcp = server.tcpPort.map { "tcp \(address):\($0)" }
        let udp = server.udpPort.map { "udp \(address):\($0)" }
        print("waddleperf target: echo on " + [tcp, udp].compactMap { $0 }.joined(separator: ", "))
        FileHandle.standardOutput.synchronizeFile()
        await waitForTerminationSignal()
        server.stop()
        print("waddleperf target: stopped (udp echoed \(server.udpEchoed.load(ordering: .relaxed)), dropped \(server.udpDropped.load(ordering: .relaxed)), errors \(server.udpErrors.load(ordering: .relaxed)), tcp accepted \(server.tcpAccepted.load(ordering: .relaxed)))")
    }
}

/// Suspends until SIGINT or SIGTERM.
func waitForTerminationSignal() async {
    let signals = AsyncStream<Void> { continuation in
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { continuation.yield() }
            source.resume()
            sources.append(source)
        }
        let retained = SignalSources(sources)
        continuation.onTermination = { _ in retained.sources.forEach { $0.cancel() } }
    }
    for await _ in signals { break }
}

/// Dispatch sources kept alive for a signal stream and cancelled when it ends
/// (DispatchSource predates Sendable; cancelling one is thread-safe).
struct SignalSources: @unchecked Sendable {
    let sources: [DispatchSourceSignal]
    init(_ sources: [DispatchSourceSignal]) { self.sources = sources }
}
