import ProbeModel
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
            if tcpFD >= 0 { closeDescriptor(tcpFD) }
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
                nameCurrentThread("echo")
                do {
                    var plan = SlotPlan()
                    let request = try EchoClient.reserve(in: &plan, connections: UInt32(configuration.maximumConnections))
                    let runtime = try RingRuntime(plan)
                    let client = try EchoClient(server: self, tcp: tcp, slots: runtime.slots(request))
                    runtime.add(client, slots: request)
                    ready.signal()
                    try runtime.run { self.isStopping }
                    client.closeConnections()
                } catch {
                    failure.withLock { $0 = error }
                    ready.signal()
                }
                closeDescriptor(tcp)
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
                nameCurrentThread("echo-udp")
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
            if $0.udpFD >= 0 { closeDescriptor($0.udpFD) }
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

/// The TCP echo, a client of its ring thread's runtime. Slot layout: 0 is
/// the accept; above it, one slot per connection, whose buffer carries what
/// it echoes. Every operation it queues is counted until it completes, so it
/// knows when it is idle (pending requests hold the sockets open, and the
/// ports bound, even after close).
private final class EchoClient: RingClient {
    private let server: EchoServer
    private let ring: RingSlots
    private let tcp: Int32
    private let acceptSlot: UInt32 = 0
    private var connectionFD: [Int32]
    private var freeConnections: [UInt32]
    private static let bufferSize: UInt32 = 16_384
    private var pendingOps = 0
    private var cancelled = false
    /// An accept is queued (one that could not be queued is asked again on the next turn).
    private var acceptArmed = false

    static func reserve(in plan: inout SlotPlan, connections: UInt32) throws(ConfigurationError) -> Int {
        try plan.reserve(1 + connections, buffered: true, bufferSize: bufferSize, entries: 1024)
    }

    init(server: EchoServer, tcp: Int32, slots: RingSlots) throws(SystemError) {
        self.server = server
        self.tcp = tcp
        ring = slots
        let connections = slots.count - 1
        connectionFD = Array(repeating: -1, count: Int(connections))
        freeConnections = (0..<connections).reversed().map { $0 + 1 }
        try ring.prepareAccept(acceptSlot, fd: tcp)
        pendingOps += 1
        acceptArmed = true
    }

    /// Queues an operation; one the ring cannot take ends its connection (or, for the accept,
    /// is asked again on the next turn: `poll`).
    @discardableResult
    private func queue(_ prepare: () throws(SystemError) -> Int32) -> Bool {
        do {
            pendingOps += Int(try prepare())
            return true
        } catch {
            return false
        }
    }

    func poll(now: UInt64) -> UInt64? {
        guard !acceptArmed && !cancelled else { return nil }
        acceptArmed = queue { () throws(SystemError) in try ring.prepareAccept(acceptSlot, fd: tcp) }
        return acceptArmed ? nil : now + 1_000_000
    }

    func complete(_ c: cprobe_completion) {
        pendingOps -= 1
        switch Int(c.op) {
        case CPROBE_OP_ACCEPT:
            acceptArmed = false
            if c.result >= 0 {
                server.tcpAccepted.add(1, ordering: .relaxed)
                if !cancelled, let slot = freeConnections.popLast() {
                    connectionFD[Int(slot - acceptSlot - 1)] = c.result
                    if !queue({ () throws(SystemError) in try ring.prepareReceive(slot, fd: c.result, offset: 0, length: Self.bufferSize, timeout: 0) }) {
                        closeConnection(slot)
                    }
                } else {
                    closeDescriptor(c.result)
                }
            }
            if c.result != -ECANCELED && !cancelled {
                acceptArmed = queue { () throws(SystemError) in try ring.prepareAccept(acceptSlot, fd: tcp) }
            }
        case CPROBE_OP_RECV:
            let fd = connectionFD[Int(c.slot - acceptSlot - 1)]
            if c.result <= 0 || cancelled { return closeConnection(c.slot) }
            if !queue({ () throws(SystemError) in try ring.prepareSend(c.slot, fd: fd, length: UInt32(c.result), timeout: 0) }) {
                closeConnection(c.slot)
            }
        case CPROBE_OP_SEND:
            let fd = connectionFD[Int(c.slot - acceptSlot - 1)]
            if c.result < 0 || cancelled { return closeConnection(c.slot) }
            if !queue({ () throws(SystemError) in try ring.prepareReceive(c.slot, fd: fd, offset: 0, length: Self.bufferSize, timeout: 0) }) {
                closeConnection(c.slot)
            }
        default:
            break
        }
    }

    var isFinished: Bool { cancelled }
    func cancel(now: UInt64) { cancelled = true }

    /// Cancels whatever is pending on the listening socket and the connections (again on later
    /// turns, until idle: a cancel only reaches what the kernel has armed).
    func shutdown(now: UInt64) {
        guard !isIdle else { return }
        for fd in [tcp] + connectionFD where fd >= 0 {
            queue { () throws(SystemError) in try ring.prepareCancel(0, fd: fd) }
        }
    }

    var isIdle: Bool { pendingOps == 0 }

    /// Once the runtime has ended: nothing is pending on them any more.
    func closeConnections() {
        for (i, fd) in connectionFD.enumerated() where fd >= 0 {
            closeDescriptor(fd)
            connectionFD[i] = -1
        }
    }

    private func closeConnection(_ slot: UInt32) {
        let index = Int(slot - acceptSlot - 1)
        if connectionFD[index] >= 0 { closeDescriptor(connectionFD[index]) }
        connectionFD[index] = -1
        freeConnections.append(slot)
    }
}
