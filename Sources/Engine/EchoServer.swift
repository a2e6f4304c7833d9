import CProbe
import Foundation
import Glibc
import Synchronization

/// TCP and UDP echo services (RFC 862) on one io_uring ring thread: the
/// responder UDP and TCP probes measure against, for tests and deployment.
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
    public let tcpAccepted = Atomic<UInt64>(0)
    private let stopping = Atomic<Bool>(false)
    private let state = Mutex<(tcpPort: UInt16?, udpPort: UInt16?, done: Bool)>((nil, nil, false))

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

    /// Binds the sockets and starts the ring thread; returns once bound.
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
        let ready = DispatchSemaphore(value: 0)
        let failure = Mutex<Error?>(nil)
        let thread = Thread { [self] in
            do {
                let loop = try EchoLoop(server: self, tcp: tcp, udp: udp)
                ready.signal()
                try loop.run()
            } catch {
                failure.withLock { $0 = error }
                ready.signal()
            }
            if tcp >= 0 { _ = cprobe_close(tcp) }
            if udp >= 0 { _ = cprobe_close(udp) }
            state.withLock { $0.done = true }
        }
        thread.name = "waddleperf-echo"
        thread.start()
        ready.wait()
        if let e = failure.withLock({ $0 }) { throw e }
    }

    /// Stops the ring thread and closes every socket; returns when done.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        while !state.withLock({ $0.done }) { usleep(1000) }
    }

    fileprivate var isStopping: Bool { stopping.load(ordering: .relaxed) }
}

/// The echo server's ring loop. Slot layout: [0, udpSlots) UDP receive/echo
/// cycles; udpSlots: the accept; above: one slot per TCP connection.
private final class EchoLoop {
    private let server: EchoServer
    private let ring: Ring
    private let tcp: Int32
    private let udp: Int32
    private let udpSlots: UInt32 = 64
    private var acceptSlot: UInt32 { udpSlots }
    private var connectionFD: [Int32]
    private var freeConnections: [UInt32]
    private var udpCount = 0
    /// UDP receive slots not posted (a stack), how many are posted, and how
    /// many should be. Every posted receive is a waiter the kernel wakes for
    /// each datagram, in the sender's context: 64 posted for one ping-pong
    /// probe added ~3 µs to its round trip on a shared CPU. So the server
    /// keeps two posted and doubles that (up to 64) whenever one harvest
    /// used them all, and lets it fall back by one when a harvest used a
    /// quarter or less.
    private var idleUDP: [UInt32] = []
    private var udpPosted: UInt32 = 0
    private var udpWanted: UInt32 = 2
    private var udpReceived: UInt32 = 0
    private let bufferSize: UInt32 = 16_384

    init(server: EchoServer, tcp: Int32, udp: Int32) throws {
        self.server = server
        self.tcp = tcp
        self.udp = udp
        let connections = UInt32(server.configuration.maximumConnections)
        ring = try Ring(entries: 1024, slots: 64 + 1 + connections, bufferSize: bufferSize)
        connectionFD = Array(repeating: -1, count: Int(connections))
        freeConnections = (0..<connections).reversed().map { $0 + 64 + 1 }
    }

    func run() throws {
        idleUDP = (0..<udpSlots).reversed().map { $0 }
        postUDPReceives()
        if tcp >= 0 { _ = cprobe_ring_prep_accept(ring.pointer, acceptSlot, tcp) }
        let capacity: UInt32 = 1024
        let completions = UnsafeMutablePointer<cprobe_completion>.allocate(capacity: Int(capacity))
        defer { completions.deallocate() }
        while !server.isStopping {
            let n = try ring.run(into: completions, capacity: capacity, waitNanoseconds: 50_000_000)
            udpReceived = 0
            for i in 0..<n { handle(completions[i]) }
            if udpReceived >= udpWanted {
                udpWanted = min(udpSlots, udpWanted * 2)
            } else if udpReceived > 0 && udpReceived * 4 <= udpWanted && udpWanted > 2 {
                udpWanted -= 1
            }
            postUDPReceives()
        }
        // Pending requests hold the sockets open (and the ports bound) even
        // after close: cancel them and reap the cancellations first.
        for fd in [udp, tcp] + connectionFD where fd >= 0 { _ = cprobe_ring_prep_cancel_fd(ring.pointer, 0, fd) }
        var quiet = 0
        while quiet < 2 {
            let n = try ring.run(into: completions, capacity: capacity, waitNanoseconds: 10_000_000)
            quiet = n == 0 ? quiet + 1 : 0
        }
        for fd in connectionFD where fd >= 0 { _ = cprobe_close(fd) }
    }

    private func postUDPReceives() {
        guard udp >= 0, !server.isStopping else { return }
        while udpPosted < udpWanted, let slot = idleUDP.popLast() {
            guard cprobe_ring_prep_recvmsg(ring.pointer, slot, udp) > 0 else { idleUDP.append(slot); return }
            udpPosted += 1
        }
    }

    private func handle(_ c: cprobe_completion) {
        switch Int(c.op) {
        case CPROBE_OP_RECVMSG:
            udpPosted -= 1
            udpReceived += 1
            guard c.result >= 0 else {
                idleUDP.append(c.slot)
                return
            }
            udpCount += 1
            let every = server.configuration.udpDropEvery
            if every > 0 && udpCount % every == 0 {
                server.udpDropped.add(1, ordering: .relaxed)
                idleUDP.append(c.slot)
            } else {
                // The slot's address now holds the sender: echo straight back.
                _ = cprobe_ring_prep_sendmsg(ring.pointer, c.slot, udp, UInt32(c.result), 0)
            }
        case CPROBE_OP_SENDMSG:
            if c.result >= 0 { server.udpEchoed.add(1, ordering: .relaxed) }
            idleUDP.append(c.slot)
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
