import Agent
import Control
import Foundation
import Logging
import ProbeModel
import ServiceLifecycle

/// `waddleperf serve`'s own agent: once the server listens, it provisions the local device
/// (`ControlPlane.provisionLocalDevice`) and runs an `Agent` against the server over HTTP, like
/// any remote one. Its default checks: the echo responder over TCP and UDP, ICMP to 127.0.0.1
/// and the server's /health, every 10 s.
struct EmbeddedAgent: Service {
    let plane: ControlPlane
    let port: AsyncStream<Int>
    let host: String
    let echoPort: UInt16?
    let stateDirectory: String

    func run() async throws {
        var logger = Logger(label: "waddleperf.agent")
        logger.logLevel = .info
        let listening = self.port
        let bound: Int? = await cancelWhenGracefulShutdown {
            for await port in listening { return port }
            return nil
        }
        guard let port = bound else { return }
        // The server as a client reaches it: a wildcard bind answers on loopback.
        let address = ["0.0.0.0", "::", ""].contains(host) ? "127.0.0.1" : host
        let base = address.contains(":") ? "http://[\(address)]:\(port)" : "http://\(address):\(port)"
        let device = try await plane.services.provisionLocalDevice(serial: "local-\(ProcessInfo.processInfo.hostName)",
                                                          hostname: ProcessInfo.processInfo.hostName,
                                                          defaultChecks: Self.defaultChecks(base: base, echoHost: address, echoPort: echoPort))
        guard device.active else {
            logger.info("the local device \(device.deviceID) is deactivated: the embedded agent stays off")
            return
        }
        var options = AgentOptions(server: URL(string: base), stateDirectory: stateDirectory,
                                   identity: AgentIdentity(serial: "local", name: "local", os: "", osVersion: ""))
        options.token = device.token
        options.pollInterval = .seconds(10)
        options.heartbeatInterval = .seconds(30)
        options.grace = .seconds(3)
        logger.info("embedded agent: device \(device.deviceID) in OU 'local' (\(device.ouID)); its checks are that OU's config")
        try await Agent(options: options, logger: logger).run()
    }

    static func defaultChecks(base: String, echoHost: String, echoPort: UInt16?) -> [ScheduledCheck] {
        var checks = [
            ScheduledCheck(ProbeSpec(kind: "icmp", target: "127.0.0.1", name: "loopback icmp", count: 3, intervalMilliseconds: 200), everySeconds: 10),
            ScheduledCheck(ProbeSpec(kind: "http", target: base + "/health", name: "server health"), everySeconds: 10),
        ]
        if let echoPort {
            let echo = echoHost.contains(":") ? "[\(echoHost)]:\(echoPort)" : "\(echoHost):\(echoPort)"
            checks += [
                ScheduledCheck(ProbeSpec(kind: "tcp", target: echo, name: "echo tcp"), everySeconds: 10),
                ScheduledCheck(ProbeSpec(kind: "udp", target: echo, name: "echo udp", count: 3, intervalMilliseconds: 200), everySeconds: 10),
            ]
        }
        return checks
    }
}
