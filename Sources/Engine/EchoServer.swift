import CProbe
import Foundation
import Glibc
import Synchronization

/// TCP and UDP echo services (RFC 862): the responder UDP and TCP probes
/// measure against, for tests and deployment. TCP runs on an io_uring ring
/// thread (thousands of connections); UDP on a thread of its own that blocks
/// in recvfrom and answers with sendto, as sockperf's server does: a
/// datagram's echo then costs two system calls and nothing else, which is
/// what a round-trip measurement wants from its responder (on a CPU shared
/// with the prober, the ring version added ~0.8 µs to a 5 µs round trip).
public final class EchoServer: Sendable {
    public struct Configuration: Sendable {
        public var bind: IPAddress = IPAddress("127.0.0.1")!
        /// TCP echo port; nil: no TCP service; 0: any free port.
        public var tcpPort: UInt16? = 7
        /// UDP echo port; nil: no UDP service; 0: any free port.
        public var udpPort: UInt16? = 7
        /// Drop every Nth UDP datagram instead of echoing it (0: never), to
        /// give loss tests a known answer.
        public var udpDropEvery: Int = 0
        public var maximumConnections: Int = 16_384
        public init() {}
    }

    /// Live counters.
    public let udpEchoed = Atomic<UInt64>(0)
    public let udpDropped = Atomic<UInt64>(0)
    /// Receives and sends the UDP echo failed (counted, not fatal).
    public let udpErrors = Atomic<UInt64>(0)
    public let tcpAccepted = Atomic<UInt64>(0)
    private let stopping = Atomic<Bool>(false)
    private let state = Mutex<(tcpPort: UInt16?, udpPort: UInt16?, udpFD: Int32, running: Int)>((nil, nil, -1, 0))

    public let configuration: Configuration

    public init(_ configuration: Configuration) throws(ConfigurationError) {
        if configuration.tcpPort == nil && configuration.udpPort == nil {
            throw ConfigurationError(field: "port", "enable at least one of TCP and UDP")
        }
        if configuration.udpDropEvery < 0 {
            throw ConfigurationError(field: "udp-drop-every", "must not be negative")
        }
        self.configuration = configuration
    }

    /// Ports actually bound (after `start`).
    public var tcpPort: UInt16? { state.withLock { $0.tcpPort } }
    public var udpPort: UInt16? { state.withLock { $0.udpPort } }

    /// Binds the sockets and starts the TCP ring thread and the UDP thread;
    /// returns once bound.
    public func start() throws {
        var storage = sockaddr_storage()
        var tcpFD: Int32 = -1, udpFD: Int32 = -1
        do {
            if let port = configuration.tcpPort {
                configuration.bind.write(to: &storage, port: port)
                tcpFD = try cprobeCall("TCP listen on \(configuration.bind) port \(port)",
                                       cprobe_listen_socket(&storage, Int32(SOCK_STREAM.rawValue)))
            }
            if let port = configuration.udpPort {
                configuration.bind.write(to: &storage, port: port)
                udpFD = try cprobeCall("UDP bind on \(configuration.bind) port \(port)",
                                       cprobe_listen_socket(&storage, Int32(SOCK_DGRAM.rawValue)))
            }
        } catch {
            if tcpFD >= 0 { _ = cprobe_close(tcpFD) }
            throw error
        }
        state.withLock {
            $0.tcpPort = tcpFD >= 0 ? UInt16(cprobe_socket_local_port(tcpFD)) : nil
            $0.udpPort = udpFD >= 0 ? UInt16(cprobe_socket_local_port(udpFD)) : nil
        }
        let (tcp, udp) = (tcpFD, udpFD)
        state.withLock { $0.udpFD = udp; $0.running = (tcp >= 0 ? 1 : 0) + (udp >= 0 ? 1 : 0) }
        if tcp >= 0 {
            let ready = DispatchSemaphore(value: 0)
            let failure = Mutex<Error?>(nil)
            let thread = Thread { [self] in
                do {
                    let loop = try EchoLoop(server: self, tcp: tcp)
                    ready.signal()
                    try loop.run()
                } catch {
                    failure.withLock { $0 = error }
                    ready.signal()
                }
                _ = cprobe_close(tcp)
                state.withLock { $0.running -= 1 }
            }
            thread.name = "waddleperf-echo"
            thread.start()
            ready.wait()
            if let e = failure.withLock({ $0 }) {
                if udp >= 0 { closeUDP() }
                throw e
            }
        }
        if udp >= 0 {
            // Blocking from here on (cprobe_listen_socket made it non-blocking).
            _ = fcntl(udp, F_SETFL, fcntl(udp, F_GETFL) & ~O_NONBLOCK)
            let thread = Thread { [self] in
                echoDatagrams(udp)
                closeUDP()
            }
            thread.name = "waddleperf-echo-udp"
            thread.start()
        }
    }

    /// The UDP echo loop: every datagram back to its sender (but every
    /// `udpDropEvery`th), until `stop` shuts the socket down.
    private func echoDatagrams(_ fd: Int32) {
        let capacity = 65_536
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        let peer = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 1)
        defer { buffer.deallocate(); peer.deallocate() }
        let every = configuration.udpDropEvery
        var count = 0
        while !isStopping {
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let n = peer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, buffer, capacity, 0, $0, &length) }
            if isStopping { break }  // woken by the shutdown (which reads as an empty datagram)
            if n < 0 {
                // EINTR; anything else is unexpected on an unconnected socket:
                // counted, and backed off rather than spun on until `stop`.
                if errno != EINTR {
                    udpErrors.add(1, ordering: .relaxed)
                    usleep(1000)
                }
                continue
            }
            count += 1
            if every > 0 && count % every == 0 {
                udpDropped.add(1, ordering: .relaxed)
                continue
            }
            let sent = peer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, buffer, n, 0, $0, length) }
            if sent >= 0 { udpEchoed.add(1, ordering: .relaxed) } else { udpErrors.add(1, ordering: .relaxed) }
        }
    }

    /// Closes the UDP socket under the lock `stop` shuts it down under, so
    /// `stop` never touches a descriptor number that was reused meanwhile.
    private func closeUDP() {
        state.withLock {
            if $0.udpFD >= 0 { _ = cprobe_close($0.udpFD) }
            $0.udpFD = -1
            $0.running -= 1
        }
    }

    /// Stops both threads and closes every socket; returns when done.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        state.withLock { if $0.udpFD >= 0 { _ = shutdown($0.udpFD, Int32(SHUT_RDWR)) } }  // wakes its recvfrom
        while state.withLock({ $0.running }) > 0 { usleep(1000) }
    }

    fileprivate var isStopping: Bool { stopping.load(ordering: .relaxed) }
}

/// The TCP echo's ring loop. Slot layout: 0: the accept; above: one slot per
/// connection.
private final class EchoLoop {
    private let server: EchoServer
    private let ring: Ring
    private let tcp: Int32
    private let acceptSlot: UInt32 = 0
    private var connectionFD: [Int32]
    private var freeConnections: [UInt32]
    private let bufferSize: UInt32 = 16_384

    init(server: EchoServer, tcp: Int32) throws {
        self.server = server
        self.tcp = tcp
        let connections = UInt32(server.configuration.maximumConnections)
        ring = try Ring(entries: 1024, slots: 1 + connections, bufferSize: bufferSize)
        connectionFD = Array(repeating: -1, count: Int(connections))
        freeConnections = (0..<connections).reversed().map { $0 + 1 }
    }

    func run() throws {
        _ = cprobe_ring_prep_accept(ring.pointer, acceptSlot, tcp)
        let capacity: UInt32 = 1024
        let completions = UnsafeMutablePointer<cprobe_completion>.allocate(capacity: Int(capacity))
        defer { completions.deallocate() }
        while !server.isStopping {
            let n = try ring.run(into: completions, capacity: capacity, waitNanoseconds: 50_000_000)
            for i in 0..<n { handle(completions[i]) }
        }
        // Pending requests hold the sockets open (and the ports bound) even
        // after close: cancel them and reap the cancellations first.
        for fd in [tcp] + connectionFD where fd >= 0 { _ = cprobe_ring_prep_cancel_fd(ring.pointer, 0, fd) }
        var quiet = 0
        while quiet < 2 {
            let n = try ring.run(into: completions, capacity: capacity, waitNanoseconds: 10_000_000)
            quiet = n == 0 ? quiet + 1 : 0
        }
        for fd in connectionFD where fd >= 0 { _ = cprobe_close(fd) }
    }

    private func handle(_ c: cprobe_completion) {
        switch Int(c.op) {
        case CPROBE_OP_ACCEPT:
            if c.result >= 0 {
                server.tcpAccepted.add(1, ordering: .relaxed)
                if let slot = freeConnections.popLast() {
                    connectionFD[Int(slot - acceptSlot - 1)] = c.result
                    _ = cprobe_ring_prep_recv(ring.pointer, slot, c.result, 0, bufferSize, 0)
                } else {
                    _ = cprobe_close(c.result)
                }
            }
            if c.result != -ECANCELED { _ = cprobe_ring_prep_accept(ring.pointer, acceptSlot, tcp) }
        case CPROBE_OP_RECV:
            let fd = connectionFD[Int(c.slot - acceptSlot - 1)]
            if c.result <= 0 { return closeConnection(c.slot) }
            _ = cprobe_ring_prep_send(ring.pointer, c.slot, fd, UInt32(c.result), 0)
        case CPROBE_OP_SEND:
            let fd = connectionFD[Int(c.slot - acceptSlot - 1)]
            if c.result < 0 { return closeConnection(c.slot) }
            _ = cprobe_ring_prep_recv(ring.pointer, c.slot, fd, 0, bufferSize, 0)
        default:
            break
        }
    }

    private func closeConnection(_ slot: UInt32) {
        let index = Int(slot - acceptSlot - 1)
        if connectionFD[index] >= 0 { _ = cprobe_close(connectionFD[index]) }
        connectionFD[index] = -1
        freeConnections.append(slot)
    }
}
