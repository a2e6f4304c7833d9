import CProbe
import Glibc

/// Receives what happens on a connection. Called on the ring thread.
protocol HTTPConnectionOwner: AnyObject {
    /// The response is complete (`connection.parser` and the timings are
    /// valid until the next `begin`).
    func responseComplete(_ connection: HTTP1Connection, now: UInt64)
    /// The exchange failed; the connection is closing.
    func requestFailed(_ connection: HTTP1Connection, outcome: HTTPOutcome, phase: HTTPPhase,
                       message: String?, now: UInt64)
    /// The connection has closed and drained: it may be opened again.
    func connectionIdle(_ connection: HTTP1Connection, now: UInt64)
}

/// One HTTP/1.1 connection over the ring, plain or TLS: connect, handshake,
/// then requests one at a time (keep-alive). A receive stays posted while
/// the connection is open, so a server's close is seen even between requests.
///
/// Timings are CLOCK_MONOTONIC nanoseconds at completion harvest.
final class HTTP1Connection {
    enum State: Equatable {
        /// No socket (or one fully drained).
        case closed
        case connecting
        case handshaking
        /// Open, no request in progress.
        case ready
        /// A request is being sent or its response read.
        case exchanging
        /// Cancelling outstanding operations before the socket is closed.
        case draining
    }

    let slot: UInt32
    private let ring: Ring
    unowned let owner: HTTPConnectionOwner
    private(set) var state: State = .closed
    private var fd: Int32 = -1
    private var pendingOps = 0
    private var receivePosted = false
    private var sendPosted = false
    private var cancelPosted = false

    // Where to connect.
    /// Heap memory: the kernel reads it when the connect is submitted.
    private let address = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: 1)
    private(set) var remote: IPAddress? = nil
    private(set) var port: UInt16 = 0
    private var tlsContext: TLSContext? = nil
    private var host = ""
    private(set) var tls: TLSSession? = nil

    /// Received bytes (plaintext) awaiting the parser.
    private let receiveBuffer: UnsafeMutableRawPointer
    private var received = 0
    static let receiveCapacity = 16 * 1024
    /// TLS: ciphertext from the socket, and ciphertext to it.
    private var cipherIn: UnsafeMutableRawPointer? = nil
    private var cipherOut: UnsafeMutableRawPointer? = nil
    private var cipherOutCount = 0
    private static let cipherCapacity = 17 * 1024 + 512

    // The request in progress.
    private(set) var request: HTTPRequestTemplate? = nil
    private var sendOffset = 0
    var parser = HTTP1ResponseParser()
    /// The Location of a 3xx response, copied when its head is parsed (the
    /// buffer is reused for the body).
    private(set) var location: String? = nil
    /// Requests completed on this socket.
    private(set) var requestsServed = 0
    /// The current request runs on a connection that served one before.
    private(set) var reused = false

    // Timings of the current exchange.
    private(set) var connectStarted: UInt64 = 0
    private(set) var connected: UInt64 = 0
    private(set) var handshaken: UInt64 = 0
    private(set) var requestStarted: UInt64 = 0
    private(set) var requestSent: UInt64 = 0
    private(set) var firstByte: UInt64 = 0
    private(set) var lastByte: UInt64 = 0
    /// 0: none. Swept by the owner.
    var deadline: UInt64 = 0
    /// Owner's bookkeeping (target index, intended start, ...).
    var target: Int32 = 0
    var sequence: UInt32 = 0
    var intendedStart: UInt64 = 0
    var retryFromPoll = false

    init(slot: UInt32, ring: Ring, owner: HTTPConnectionOwner) {
        self.slot = slot
        self.ring = ring
        self.owner = owner
        receiveBuffer = .allocate(byteCount: Self.receiveCapacity, alignment: 64)
    }

    deinit {
        if fd >= 0 { _ = cprobe_close(fd) }
        receiveBuffer.deallocate()
        address.deallocate()
        cipherIn?.deallocate()
        cipherOut?.deallocate()
    }

    var isOpen: Bool { state == .ready || state == .exchanging || state == .handshaking }
    var isIdle: Bool { pendingOps == 0 && state == .closed }
    var hasPendingOperations: Bool { pendingOps > 0 }

    /// The phase the current exchange is in (for a timeout).
    var currentPhase: HTTPPhase {
        switch state {
        case .connecting: .connect
        case .handshaking: .tls
        case .exchanging:
            if requestSent == 0 { .request } else if firstByte == 0 { .ttfb } else { .transfer }
        default: .connect
        }
    }

    /// Where this connection goes; only while closed.
    func configure(address remote: IPAddress, port: UInt16, host: String, tls: TLSContext?) {
        precondition(state == .closed)
        self.remote = remote
        self.port = port
        self.host = host
        self.tlsContext = tls
        remote.write(to: address, port: port)
        if tls != nil && cipherIn == nil {
            cipherIn = .allocate(byteCount: Self.cipherCapacity, alignment: 64)
            cipherOut = .allocate(byteCount: Self.cipherCapacity, alignment: 64)
        }
    }

    func sameEndpoint(_ remote: IPAddress, _ port: UInt16, secure: Bool, host: String) -> Bool {
        self.remote == remote && self.port == port && (tlsContext != nil) == secure && self.host == host
    }

    /// Starts `request`: on the open connection when there is one, else after
    /// connecting (and handshaking).
    func begin(_ request: HTTPRequestTemplate, now: UInt64) {
        self.request = request
        sendOffset = 0
        parser.reset(expectBody: request.expectBody)
        location = nil
        requestSent = 0
        firstByte = 0
        lastByte = 0
        requestStarted = now
        switch state {
        case .ready:
            reused = requestsServed > 0
            connectStarted = 0; connected = 0; handshaken = 0
            state = .exchanging
            sendRequest(now: now)
        case .closed where pendingOps == 0:
            reused = false
            open(now: now)
        default:
            preconditionFailure("begin on a busy connection (\(state))")
        }
    }

    private func open(now: UInt64) {
        requestsServed = 0
        received = 0
        connectStarted = now
        connected = 0; handshaken = 0
        state = .connecting
        let s = cprobe_tcp_stream_socket(remote!.family, 1)
        guard s >= 0 else { return fail(Self.outcome(errno: -s), .connect, nil, now: now) }
        fd = s
        submitted(cprobe_ring_prep_connect_address(ring.pointer, slot, UInt8(CPROBE_OP_CONNECT), fd, address), now: now)
    }

    /// A completion for this slot.
    func complete(op: UInt8, result: Int32, now: UInt64) {
        pendingOps -= 1
        switch Int(op) {
        case CPROBE_OP_CONNECT: connectCompleted(result, now: now)
        case CPROBE_OP_SEND: sendPosted = false; sendCompleted(result, now: now)
        case CPROBE_OP_RECV: receivePosted = false; receiveCompleted(result, now: now)
        default: break
        }
        if state == .draining && pendingOps == 0 { finishClose(now: now) }
    }

    // MARK: Connect and handshake

    private func connectCompleted(_ result: Int32, now: UInt64) {
        guard state == .connecting else { return }
        if result < 0 { return fail(Self.outcome(errno: -result), .connect, nil, now: now) }
        connected = now
        postReceive(now: now)
        if let context = tlsContext {
            state = .handshaking
            tls = TLSSession(context: context, host: host)
            advanceHandshake(now: now)
        } else {
            state = .exchanging
            sendRequest(now: now)
        }
    }

    private func advanceHandshake(now: UInt64) {
        guard let tls else { return }
        switch tls.handshake() {
        case .wantRead:
            flushCipher(now: now)
        case .done:
            handshaken = now
            state = .exchanging
            sendRequest(now: now)  // flushes the client Finished with the request
        case .failed(let failure):
            flushCipher(now: now)  // the alert, best effort
            fail(.tls(failure.kind), .tls, failure.message, now: now)
        }
    }

    // MARK: Send

    private func sendRequest(now: UInt64) {
        guard let request else { return }
        if let tls {
            guard tls.write(request.pointer, count: request.count) else {
                return fail(.tls(.handshake), .request, "TLS write failed", now: now)
            }
            flushCipher(now: now)
        } else {
            postSend(request.pointer, request.count, now: now)
            // The ring sends at the next submit, within this loop iteration:
            // the request counts as sent from here unless the send comes back
            // short (then from the completion of its last part).
            requestSent = cprobe_monotonic_ns()
        }
    }

    /// Sends whatever ciphertext OpenSSL has produced (one send in flight).
    private func flushCipher(now: UInt64) {
        guard let tls, !sendPosted, let out = cipherOut else { return }
        if cipherOutCount == 0 {
            cipherOutCount = tls.takeOutput(into: out, capacity: Self.cipherCapacity)
            sendOffset = 0
        }
        if cipherOutCount > 0 {
            postSend(out, cipherOutCount, now: now)
            // This send carries the end of the request when OpenSSL has nothing
            // more: it counts as sent from here (see sendRequest).
            if state == .exchanging && requestSent == 0 && tls.pendingOutput == 0 { requestSent = cprobe_monotonic_ns() }
        }
    }

    private func postSend(_ base: UnsafeMutableRawPointer, _ count: Int, now: UInt64) {
        let rc = cprobe_ring_prep_send_buffer(ring.pointer, slot, UInt8(CPROBE_OP_SEND), fd,
                                              base + sendOffset, UInt32(count - sendOffset))
        if rc >= 0 { sendPosted = true }
        submitted(rc, now: now)
    }

    private func sendCompleted(_ result: Int32, now: UInt64) {
        guard state == .exchanging || state == .handshaking else { return }
        if result < 0 { return fail(Self.outcome(errno: -result), currentPhase == .tls ? .tls : .request, nil, now: now) }
        sendOffset += Int(result)
        if tls != nil {
            if sendOffset < cipherOutCount {
                let movable = state == .exchanging && firstByte == 0
                if movable { requestSent = 0 }
                postSend(cipherOut!, cipherOutCount, now: now)
                if movable && tls!.pendingOutput == 0 { requestSent = now }
                return
            }
            cipherOutCount = 0
            sendOffset = 0
            flushCipher(now: now)
        } else if let request {
            if sendOffset < request.count {
                postSend(request.pointer, request.count, now: now)
                if firstByte == 0 { requestSent = now }
            }
        }
    }

    // MARK: Receive

    private func postReceive(now: UInt64) {
        guard !receivePosted, fd >= 0 else { return }
        let rc = tlsContext != nil
            ? cprobe_ring_prep_recv_buffer(ring.pointer, slot, UInt8(CPROBE_OP_RECV), fd,
                                           cipherIn!, UInt32(Self.cipherCapacity))
            : cprobe_ring_prep_recv_buffer(ring.pointer, slot, UInt8(CPROBE_OP_RECV), fd,
                                           receiveBuffer + received, UInt32(Self.receiveCapacity - received))
        if rc >= 0 { receivePosted = true }
        submitted(rc, now: now)
    }

    private func receiveCompleted(_ result: Int32, now: UInt64) {
        switch state {
        case .handshaking, .exchanging, .ready: break
        default: return
        }
        if result < 0 {
            if state == .ready { return close(now: now) }
            return fail(Self.outcome(errno: -result), currentPhase, nil, now: now)
        }
        if result == 0 { return endOfStream(now: now) }
        if let tls {
            tls.feed(cipherIn!, count: Int(result))
            if state == .handshaking {
                advanceHandshake(now: now)
                if state != .exchanging { if state == .handshaking { postReceive(now: now) }; return }
            }
            while state == .exchanging || state == .ready {
                let space = Self.receiveCapacity - received
                guard space > 0 else { return fail(.protocolError, currentPhase, "response head too large", now: now) }
                switch tls.read(into: receiveBuffer + received, capacity: space) {
                case .bytes(let n):
                    received += n
                    if !consume(now: now) { return }
                case .wantRead:
                    flushCipher(now: now)
                    postReceive(now: now)
                    return
                case .closed:
                    return endOfStream(now: now)
                case .failed(let f):
                    return fail(.tls(f.kind), currentPhase, f.message, now: now)
                }
            }
        } else {
            received += Int(result)
            if consume(now: now) { postReceive(now: now) }
        }
    }

    /// Feeds received plaintext to the parser. Returns false when the
    /// connection stopped (failed or closed) and nothing more should be read.
    private func consume(now: UInt64) -> Bool {
        guard state == .exchanging else {
            // Bytes while no request is outstanding: the server is out of step.
            received = 0
            if state == .ready { close(now: now) }
            return false
        }
        if firstByte == 0 && received > 0 { firstByte = max(now, requestSent) }
        do {
            // Loops only over interim (1xx) heads, which the parser consumes
            // and skips.
            while received > 0 {
                let headWasComplete = parser.headComplete
                let used = try parser.parse(UnsafeRawBufferPointer(start: receiveBuffer, count: received))
                if !headWasComplete, parser.headComplete, parser.head.status / 100 == 3, let r = parser.head.location {
                    location = String(decoding: UnsafeRawBufferPointer(start: receiveBuffer + r.lowerBound, count: r.count),
                                      as: UTF8.self)
                }
                if used == received {
                    received = 0
                } else if parser.isComplete {
                    // Bytes beyond the response: we never pipeline, so this is garbage.
                    received = 0
                    lastByte = now
                    finishResponse(now: now, reusable: false)
                    return false
                } else if used > 0 {
                    received -= used
                    receiveBuffer.copyMemory(from: receiveBuffer + used, byteCount: received)
                    continue
                } else if received == Self.receiveCapacity {
                    fail(.protocolError, .ttfb, "response head larger than \(Self.receiveCapacity) bytes", now: now)
                    return false
                }
                break
            }
        } catch {
            fail(.protocolError, parser.headComplete ? .transfer : .ttfb, "malformed response: \(error)", now: now)
            return false
        }
        if parser.isComplete {
            lastByte = now
            finishResponse(now: now, reusable: !parser.head.close)
            return state != .closed && state != .draining
        }
        return true
    }

    private func endOfStream(now: UInt64) {
        if state == .exchanging && parser.endOfStream() {
            lastByte = now
            finishResponse(now: now, reusable: false)
            return
        }
        if state == .exchanging {
            let phase: HTTPPhase = parser.headComplete ? .transfer : (requestSent == 0 ? .request : .ttfb)
            return fail(.closed, phase, reused ? "server closed the kept-alive connection" : nil, now: now)
        }
        if state == .handshaking { return fail(.tls(.handshake), .tls, "server closed during the handshake", now: now) }
        close(now: now)
    }

    private func finishResponse(now: UInt64, reusable: Bool) {
        requestsServed += 1
        deadline = 0
        if reusable && requestSent != 0 && !sendPosted && cipherOutCount == 0 {
            state = .ready
            owner.responseComplete(self, now: now)
        } else {
            // Reported while draining (begin is refused), then closed; the
            // owner reopens on `connectionIdle`.
            state = .draining
            owner.responseComplete(self, now: now)
            drain(now: now)
        }
    }

    // MARK: Close

    /// Reports a failure, then closes. The owner always hears of the request
    /// (complete or failed) before it hears `connectionIdle`.
    private func fail(_ outcome: HTTPOutcome, _ phase: HTTPPhase, _ message: String?, now: UInt64) {
        guard state != .closed && state != .draining else { return }
        // No request outstanding: nothing to report.
        if state == .ready { return close(now: now) }
        deadline = 0
        state = .draining
        owner.requestFailed(self, outcome: outcome, phase: phase, message: message, now: now)
        drain(now: now)
    }

    /// Times out the current exchange (called by the owner's sweep).
    func timeOut(now: UInt64) {
        fail(.timeout, currentPhase, nil, now: now)
    }

    /// Closes the socket once its operations are cancelled and drained; the
    /// owner hears `connectionIdle` then.
    func close(now: UInt64) {
        guard state != .closed && state != .draining else { return }
        state = .draining
        drain(now: now)
    }

    private func drain(now: UInt64) {
        if pendingOps == 0 { return finishClose(now: now) }
        if !cancelPosted && fd >= 0 {
            cancelPosted = true
            let rc = cprobe_ring_prep_cancel_fd(ring.pointer, slot, fd)
            // Without a cancel, shutting the socket down ends a posted receive.
            if rc < 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            submitted(rc, now: now)
        }
    }

    private func finishClose(now: UInt64) {
        if fd >= 0 { _ = cprobe_close(fd); fd = -1 }
        tls = nil
        received = 0
        cipherOutCount = 0
        sendOffset = 0
        cancelPosted = false
        sendPosted = false
        receivePosted = false
        state = .closed
        owner.connectionIdle(self, now: now)
    }

    private func submitted(_ count: Int32, now: UInt64) {
        if count < 0 {
            // The ring refused the SQE: nothing was queued.
            if state != .draining { fail(.error(errno: -count), currentPhase, "io_uring: \(count)", now: now) }
            return
        }
        pendingOps += Int(count)
    }

    static func outcome(errno e: Int32) -> HTTPOutcome {
        switch e {
        case ECONNREFUSED: .refused
        case ECANCELED, ETIMEDOUT, ETIME: .timeout
        case EHOSTUNREACH, ENETUNREACH: .unreachable
        case ECONNRESET, EPIPE: .closed
        default: .error(errno: e)
        }
    }
}
