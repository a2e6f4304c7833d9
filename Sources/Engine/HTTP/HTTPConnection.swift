import CProbe
import Glibc

/// Which HTTP a connection speaks.
public enum HTTPVersionChoice: String, Sendable, CaseIterable {
    /// HTTP/1.1 only.
    case http1 = "1.1"
    /// HTTP/2 only: ALPN h2 over TLS, prior knowledge (h2c) over plain TCP.
    case http2 = "2"
    /// HTTP/3 over QUIC (ngtcp2 + nghttp3, TLS 1.3 by GnuTLS); https only.
    case http3 = "3"
    /// Over TLS, ALPN picks h2 or HTTP/1.1; plain TCP is HTTP/1.1.
    case auto

    /// The ALPN protocols offered in the TLS handshake.
    public var alpn: [String] {
        switch self {
        case .http1: ["http/1.1"]
        case .http2: ["h2"]
        case .http3: ["h3"]
        case .auto: ["h2", "http/1.1"]
        }
    }

    /// Several requests at once on one connection (streams).
    public var multiplexed: Bool { self == .http2 || self == .http3 }
}

/// Receives what happens on a connection. Called on the ring thread.
protocol HTTPConnectionOwner: AnyObject {
    /// Exchange `exchange`'s response is complete (its record stays valid
    /// until it begins again).
    func responseComplete(_ connection: HTTPConnection, exchange: Int, now: UInt64)
    /// The exchange failed (on HTTP/1.1, or when the whole connection failed,
    /// the connection is closing).
    func requestFailed(_ connection: HTTPConnection, exchange: Int, outcome: HTTPOutcome, phase: HTTPPhase,
                       message: String?, now: UInt64)
    /// The connection has closed and drained: it may be opened again.
    func connectionIdle(_ connection: HTTPConnection, now: UInt64)
}

/// One HTTP connection over the ring, plain or TLS, speaking HTTP/1.1 (one
/// exchange at a time, keep-alive) or HTTP/2 (one exchange per stream, up to
/// `exchangeCapacity` at once, through nghttp2); or a QUIC connection over
/// UDP speaking HTTP/3 (ngtcp2 + nghttp3), exchanges on streams as for HTTP/2. A receive stays posted
/// while the connection is open, so a server's close is seen even between
/// requests.
///
/// Timings are CLOCK_MONOTONIC nanoseconds at completion harvest.
final class HTTPConnection {
    enum State: Equatable {
        /// No socket (or one fully drained).
        case closed
        case connecting
        case handshaking
        /// Open. HTTP/1.1: no request in progress; HTTP/2: the session is up.
        case ready
        /// HTTP/1.1: a request is being sent or its response read.
        case exchanging
        /// Cancelling outstanding operations before the socket is closed.
        case draining
    }

    let slot: UInt32
    /// The HTTP client's slots: this connection's is `slot`.
    private let ring: RingSlots
    /// Output is flushed once per loop turn, just before the ring submits:
    /// the requests and frames a batch of completions produced leave in one
    /// send (and one TLS record), as an event loop's write-on-writable does.
    private unowned(unsafe) let flushes: FlushQueue
    private var flushScheduled = false
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
    private(set) var version = HTTPVersionChoice.http1
    private(set) var tls: TLSSession? = nil
    /// The HTTP/2 session, once the connection speaks HTTP/2.
    private(set) var http2: HTTP2Session? = nil
    /// QUIC and HTTP/3 (from the first datagram on).
    private(set) var http3: HTTP3Session? = nil
    private var quicContext: QUICTLSContext? = nil
    /// QUIC: datagrams on their way out (one GSO send), and where received
    /// ones land (one buffer per posted receive).
    private var datagramOut: UnsafeMutableRawPointer? = nil
    private var datagramIn: UnsafeMutableRawPointer? = nil
    private var gsoMessage: UnsafeMutablePointer<cprobe_gso_message>? = nil
    private var receivesPosted: UInt8 = 0
    private static let datagramOutCapacity = 32 * 1024
    private static let datagramReceives = 4
    private static let quicReceiveOp = 16

    /// Received bytes (plaintext) awaiting the parser (HTTP/2: nghttp2
    /// takes them all at once).
    private let receiveBuffer: UnsafeMutableRawPointer
    private var received = 0
    static let receiveCapacity = 16 * 1024
    /// TLS: ciphertext from the socket, and ciphertext to it.
    private var cipherIn: UnsafeMutableRawPointer? = nil
    private var cipherOut: UnsafeMutableRawPointer? = nil
    private var cipherOutCount = 0
    private static let cipherCapacity = 17 * 1024 + 512
    /// HTTP/2 frames on their way out (plain: sent from here; TLS: handed
    /// to OpenSSL from here).
    private var frameOut: UnsafeMutableRawPointer? = nil
    private var frameOutCount = 0
    private static let frameCapacity = 16 * 1024
    private var sendOffset = 0

    /// The exchanges this connection carries: one for HTTP/1.1, one per
    /// concurrent stream for HTTP/2.
    let exchanges: UnsafeMutablePointer<HTTPExchange>
    let exchangeCapacity: Int
    /// Each exchange's request while it is active.
    private var requests: [HTTPRequestTemplate?]
    /// HTTP/1.1's response parser (exchange 0).
    var parser = HTTP1ResponseParser()
    /// Exchanges completed on this socket.
    private(set) var requestsServed = 0

    // Timings of the connection's opening.
    private(set) var connectStarted: UInt64 = 0
    private(set) var connected: UInt64 = 0
    private(set) var handshaken: UInt64 = 0
    /// Owner's bookkeeping (target index, sequence, ...).
    var target: Int32 = 0
    var sequence: UInt32 = 0
    var retryFromPoll = false

    init(slot: UInt32, ring: RingSlots, flushes: FlushQueue, owner: HTTPConnectionOwner, exchanges: Int = 1) {
        self.slot = slot
        self.ring = ring
        self.flushes = flushes
        self.owner = owner
        exchangeCapacity = exchanges
        self.exchanges = .allocate(capacity: exchanges)
        self.exchanges.initialize(repeating: HTTPExchange(), count: exchanges)
        requests = Array(repeating: nil, count: exchanges)
        receiveBuffer = .allocate(byteCount: Self.receiveCapacity, alignment: 64)
    }

    deinit {
        if fd >= 0 { closeDescriptor(fd) }
        http2 = nil
        exchanges.deinitialize(count: exchangeCapacity)
        exchanges.deallocate()
        receiveBuffer.deallocate()
        address.deallocate()
        cipherIn?.deallocate()
        cipherOut?.deallocate()
        frameOut?.deallocate()
        datagramOut?.deallocate()
        datagramIn?.deallocate()
        gsoMessage?.deallocate()
    }

    var isQUIC: Bool { version == .http3 }

    var isIdle: Bool { pendingOps == 0 && state == .closed }
    var hasPendingOperations: Bool { pendingOps > 0 }
    /// The protocol in use (or last used): "h3", "h2" or "http/1.1".
    var protocolName: String {
        if isQUIC { return "h3" }
        return http2 != nil || (version == .http2 && state != .closed) ? "h2" : "http/1.1"
    }

    /// Exchange `i` could begin now: HTTP/1.1 on an idle connection; HTTP/2
    /// on any stream slot that is free, joining a connection being opened.
    func canBegin(_ i: Int) -> Bool {
        if exchanges[i].active { return false }
        switch state {
        case .closed: return pendingOps == 0 && (i == 0 || version.multiplexed)
        case .ready: return http2?.acceptsStreams ?? http3?.acceptsStreams ?? true
        case .connecting, .handshaking: return version.multiplexed
        case .exchanging, .draining: return false
        }
    }

    /// The phase exchange `i` is in (for a timeout or a failure).
    func phase(of i: Int) -> HTTPPhase { phase(of: i, in: state) }

    private func phase(of i: Int, in state: State) -> HTTPPhase {
        switch state {
        case .connecting: return isQUIC ? .quicHandshake : .connect
        case .handshaking: return .tls
        case .exchanging, .ready, .draining:
            let e = exchanges[i]
            return e.requestSent == 0 ? .request : e.firstByte == 0 ? .ttfb : .transfer
        case .closed: return .connect
        }
    }

    /// Where this connection goes; only while closed.
    func configure(address remote: IPAddress, port: UInt16, host: String, tls: TLSContext?,
                   quic: QUICTLSContext? = nil, version: HTTPVersionChoice = .http1) {
        precondition(state == .closed)
        self.remote = remote
        self.port = port
        self.host = host
        self.tlsContext = version == .http3 ? nil : tls
        self.quicContext = quic
        self.version = version
        precondition(version != .http3 || quic != nil, "HTTP/3 needs a QUIC TLS context")
        remote.write(to: address, port: port)
        if tls != nil && cipherIn == nil {
            cipherIn = .allocate(byteCount: Self.cipherCapacity, alignment: 64)
            cipherOut = .allocate(byteCount: Self.cipherCapacity, alignment: 64)
        }
    }

    func sameEndpoint(_ remote: IPAddress, _ port: UInt16, secure: Bool, host: String) -> Bool {
        self.remote == remote && self.port == port && (tlsContext != nil || isQUIC) == secure && self.host == host
    }

    /// Starts `request` as exchange `i`: on the open connection when there
    /// is one, else after connecting (and handshaking). `deadline` (0: none)
    /// is swept by the worker.
    func begin(_ request: HTTPRequestTemplate, exchange i: Int = 0, deadline: UInt64, intendedStart: UInt64 = 0,
               now: UInt64) {
        precondition(canBegin(i), "begin on a busy exchange (\(state))")
        exchanges[i] = HTTPExchange(requestStarted: now, deadline: deadline, intendedStart: intendedStart, active: true)
        requests[i] = request
        switch state {
        case .ready where http2 != nil || http3 != nil:
            exchanges[i].reused = true
            submitStream(i, now: now)
            scheduleFlush()
        case .ready:
            exchanges[0].reused = requestsServed > 0
            parser.reset(expectBody: request.expectBody)
            state = .exchanging
            sendRequest(now: now)
        case .closed:
            exchanges[i].openedConnection = true
            parser.reset(expectBody: request.expectBody)
            open(now: now)
        case .connecting where http3 != nil:
            submitStream(i, now: now)  // held by the session until HTTP/3 is up
        default:
            break  // HTTP/2 being opened: submitted once the session is up.
        }
    }

    private func open(now: UInt64) {
        requestsServed = 0
        received = 0
        connectStarted = now
        connected = 0; handshaken = 0
        state = .connecting
        if isQUIC { return openQUIC(now: now) }
        let s = cprobe_tcp_stream_socket(remote!.family, 1)
        guard s >= 0 else { return fail(Self.outcome(errno: -s), .connect, nil, now: now) }
        fd = s
        submitted(queued { () throws(SystemError) in try ring.prepareConnect(slot, op: UInt8(CPROBE_OP_CONNECT), fd: fd, to: address) },
                  now: now)
    }

    /// A completion for this slot.
    func complete(op: UInt8, result: Int32, now: UInt64) {
        pendingOps -= 1
        switch Int(op) {
        case CPROBE_OP_CONNECT: connectCompleted(result, now: now)
        case CPROBE_OP_SEND: sendPosted = false; sendCompleted(result, now: now)
        case CPROBE_OP_RECV: receivePosted = false; receiveCompleted(result, now: now)
        case CPROBE_OP_SENDMSG: sendPosted = false; datagramsSent(result, now: now)
        case CPROBE_OP_CANCEL where state == .draining && pendingOps > 0:
            // A receive that was between its wake-up and re-arming when the
            // cancel ran escapes it (several receives on one UDP socket make
            // that likely): cancel again until nothing is left.
            cancelPosted = false
            drain(now: now)
        case Self.quicReceiveOp..<(Self.quicReceiveOp + Self.datagramReceives):
            let k = Int(op) - Self.quicReceiveOp
            receivesPosted &= ~(1 << k)
            datagramReceived(k, result, now: now)
        default: break
        }
        if state == .draining && pendingOps == 0 { finishClose(now: now) }
    }

    /// Times out exchanges past their deadline (called by the worker's sweep).
    func sweep(now: UInt64) {
        for i in 0..<exchangeCapacity where exchanges[i].deadline != 0 && now >= exchanges[i].deadline {
            timeOut(i, now: now)
        }
    }

    /// Times out exchange `i`: an HTTP/2 stream is reset (the connection
    /// stays); otherwise the connection fails.
    func timeOut(_ i: Int, now: UInt64) {
        guard http2 != nil || http3 != nil, state == .ready else { return fail(.timeout, phase(of: i), nil, now: now) }
        let phase = phase(of: i)
        http2?.cancel(i)
        http3?.cancel(i)
        endExchange(i, failure: (.timeout, phase, nil), now: now)
        scheduleFlush()
        closeIfSpent(now: now)
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
            established(now: now)
        }
    }

    private func advanceHandshake(now: UInt64) {
        guard let tls else { return }
        switch tls.handshake() {
        case .wantRead:
            scheduleFlush()
        case .done:
            handshaken = now
            established(now: now)  // flushes the client Finished with the request
        case .failed(let failure):
            flushOutput(now: now)  // the alert, best effort
            fail(.tls(failure.kind), .tls, failure.message, now: now)
        }
    }

    /// Connected (and handshaken): HTTP/2 when asked for (over TLS: when ALPN
    /// agreed on h2), else HTTP/1.1.
    private func established(now: UInt64) {
        let alpn = tls?.alpn
        let useHTTP2 = tls == nil ? version == .http2 : alpn == "h2"
        if version == .http2 && !useHTTP2 {
            return fail(.protocolError, .tls, "server did not agree on h2 (ALPN: \(alpn ?? "none"))", now: now)
        }
        guard useHTTP2 else {
            state = .exchanging
            return sendRequest(now: now)
        }
        do {
            http2 = try HTTP2Session(exchanges: exchanges, count: exchangeCapacity)
        } catch {
            return fail(.protocolError, .request, error.description, now: now)
        }
        if frameOut == nil { frameOut = .allocate(byteCount: Self.frameCapacity, alignment: 64) }
        state = .ready
        for i in 0..<exchangeCapacity where exchanges[i].active && exchanges[i].streamID == 0 {
            submitStream(i, now: now)
        }
        scheduleFlush()
    }

    // MARK: Send

    /// HTTP/1.1: sends the request of exchange 0.
    private func sendRequest(now: UInt64) {
        guard let request = requests[0] else { return }
        if let tls {
            guard tls.write(request.pointer, count: request.count) else {
                return fail(.tls(.handshake), .request, "TLS write failed", now: now)
            }
            scheduleFlush()
        } else {
            sendOffset = 0
            postSend(request.pointer, request.count, now: now)
            // The ring sends at the next submit, within this loop iteration:
            // the request counts as sent from here unless the send comes back
            // short (then from the completion of its last part).
            exchanges[0].requestSent = cprobe_monotonic_ns()
        }
    }

    private func submitStream(_ i: Int, now: UInt64) {
        if let http3 {
            let rc = http3.submit(i, request: requests[i]!)
            if rc < 0 { endExchange(i, failure: (.protocolError, .request, HTTP3Error(quic: rc).description), now: now) }
            return
        }
        let rc = http2!.submit(i, request: requests[i]!)
        if rc < 0 { endExchange(i, failure: (.protocolError, .request, HTTP2Error(code: rc).description), now: now) }
    }

    /// Asks for `flushOutput` at the end of this loop turn.
    @inline(__always) private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        flushes.append(slot)
    }

    /// The worker's end-of-turn flush.
    func runScheduledFlush(now: UInt64) {
        flushScheduled = false
        flushOutput(now: now)
    }

    /// Sends what is ready, one send in flight: over TLS whatever ciphertext
    /// OpenSSL has (fed with HTTP/2 frames once it has none), over plain
    /// TCP the HTTP/2 frames nghttp2 has.
    private func flushOutput(now: UInt64) {
        guard !sendPosted, fd >= 0 else { return }
        if let tls, let out = cipherOut {
            if cipherOutCount == 0 {
                // Frames join what OpenSSL still holds (the handshake's
                // Finished goes out with the connection preface).
                if let http2, tls.pendingOutput < Self.frameCapacity, state == .ready {
                    let n = http2.fill(frameOut!, capacity: Self.frameCapacity)
                    if n < 0 { return fail(.protocolError, nil, HTTP2Error(code: Int32(n)).description, now: now) }
                    if n > 0 && !tls.write(frameOut!, count: n) {
                        return fail(.tls(.handshake), nil, "TLS write failed", now: now)
                    }
                }
                cipherOutCount = tls.takeOutput(into: out, capacity: Self.cipherCapacity)
                sendOffset = 0
            }
            if cipherOutCount > 0 {
                postSend(out, cipherOutCount, now: now)
                // HTTP/1.1: this send carries the end of the request when
                // OpenSSL has nothing more: it counts as sent from here.
                if http2 == nil && state == .exchanging && exchanges[0].requestSent == 0 && tls.pendingOutput == 0 {
                    exchanges[0].requestSent = cprobe_monotonic_ns()
                }
            }
        } else if let http3, state == .ready || state == .connecting {
            let (n, segment) = http3.fill(datagramOut!, capacity: Self.datagramOutCapacity, now: now)
            if n < 0 { return failQUIC(Int32(n), now: now) }
            if n > 0 {
                let (fd, message, out) = (fd, gsoMessage!, datagramOut!)
                let rc = queued { () throws(SystemError) in
                    try ring.prepareSendSegments(slot, op: UInt8(CPROBE_OP_SENDMSG), fd: fd, message: message, from: out,
                                                 length: UInt32(n), segment: UInt16(segment))
                }
                if rc >= 0 { sendPosted = true }
                submitted(rc, now: now)
            }
        } else if let http2, state == .ready {
            let n = http2.fill(frameOut!, capacity: Self.frameCapacity)
            if n < 0 { return fail(.protocolError, nil, HTTP2Error(code: Int32(n)).description, now: now) }
            if n > 0 {
                frameOutCount = n
                sendOffset = 0
                postSend(frameOut!, n, now: now)
            }
        }
        // Streams nghttp2 closed while producing frames (a reset, or the
        // server's response complete before our request was).
        if http2?.hasEnded ?? http3?.hasEnded ?? false { reportEnded(now: now) }
    }

    private func postSend(_ base: UnsafeMutableRawPointer, _ count: Int, now: UInt64) {
        let (fd, offset) = (fd, sendOffset)
        let rc = queued { () throws(SystemError) in
            try ring.prepareSend(slot, op: UInt8(CPROBE_OP_SEND), fd: fd, from: base + offset, length: UInt32(count - offset))
        }
        if rc >= 0 { sendPosted = true }
        submitted(rc, now: now)
    }

    private func sendCompleted(_ result: Int32, now: UInt64) {
        guard state == .exchanging || state == .handshaking || state == .ready else { return }
        if result < 0 {
            return fail(Self.outcome(errno: -result), state == .handshaking ? .tls : http2 == nil ? .request : nil,
                        nil, now: now)
        }
        sendOffset += Int(result)
        if tls != nil {
            if sendOffset < cipherOutCount {
                let movable = http2 == nil && state == .exchanging && exchanges[0].firstByte == 0
                if movable { exchanges[0].requestSent = 0 }
                postSend(cipherOut!, cipherOutCount, now: now)
                if movable && tls!.pendingOutput == 0 { exchanges[0].requestSent = now }
                return
            }
            cipherOutCount = 0
            sendOffset = 0
            scheduleFlush()
        } else if http2 != nil {
            if sendOffset < frameOutCount { return postSend(frameOut!, frameOutCount, now: now) }
            frameOutCount = 0
            sendOffset = 0
            scheduleFlush()
        } else if let request = requests[0] {
            if sendOffset < request.count {
                postSend(request.pointer, request.count, now: now)
                if exchanges[0].firstByte == 0 { exchanges[0].requestSent = now }
            }
        }
    }

    // MARK: Receive

    private func postReceive(now: UInt64) {
        guard !receivePosted, fd >= 0 else { return }
        let (buffer, length) = tlsContext != nil ? (cipherIn!, Self.cipherCapacity)
            : (receiveBuffer + received, Self.receiveCapacity - received)
        let fd = fd
        let rc = queued { () throws(SystemError) in
            try ring.prepareReceive(slot, op: UInt8(CPROBE_OP_RECV), fd: fd, into: buffer, length: UInt32(length))
        }
        if rc >= 0 { receivePosted = true }
        submitted(rc, now: now)
    }

    private func receiveCompleted(_ result: Int32, now: UInt64) {
        switch state {
        case .handshaking, .exchanging, .ready: break
        default: return
        }
        if result < 0 {
            if state == .ready && !hasActiveExchange { return close(now: now) }
            return fail(Self.outcome(errno: -result), nil, nil, now: now)
        }
        if result == 0 { return endOfStream(now: now) }
        if let tls {
            tls.feed(cipherIn!, count: Int(result))
            if state == .handshaking {
                advanceHandshake(now: now)
                if state == .handshaking { postReceive(now: now) }
                // Application data may have come with the handshake's end.
                if state != .exchanging && state != .ready { return }
            }
            while state == .exchanging || state == .ready {
                let space = Self.receiveCapacity - received
                guard space > 0 else { return fail(.protocolError, nil, "response head too large", now: now) }
                switch tls.read(into: receiveBuffer + received, capacity: space) {
                case .bytes(let n):
                    if http2 != nil {
                        if !receiveFrames(n, now: now) { return }
                    } else {
                        received += n
                        if !consume(now: now) { return }
                    }
                case .wantRead:
                    scheduleFlush()
                    postReceive(now: now)
                    return
                case .closed:
                    return endOfStream(now: now)
                case .failed(let f):
                    return fail(.tls(f.kind), nil, f.message, now: now)
                }
            }
        } else if http2 != nil {
            if receiveFrames(Int(result), now: now) { postReceive(now: now) }
        } else {
            received += Int(result)
            if consume(now: now) { postReceive(now: now) }
        }
    }

    private var hasActiveExchange: Bool {
        for i in 0..<exchangeCapacity where exchanges[i].active { return true }
        return false
    }

    /// HTTP/2: hands `count` received bytes (at the start of the receive
    /// buffer) to nghttp2 and reports the exchanges that ended. Returns false
    /// when the connection stopped.
    private func receiveFrames(_ count: Int, now: UInt64) -> Bool {
        guard let http2 else { return false }
        let rc = http2.receive(receiveBuffer, count: count, now: now)
        if rc < 0 {
            fail(.protocolError, nil, HTTP2Error(code: Int32(rc)).description, now: now)
            return false
        }
        reportEnded(now: now)
        guard state == .ready else { return false }
        // Over TLS the receive loop flushes once it has read every record:
        // requests the responses released go out in one send and one record.
        if tls == nil { scheduleFlush() }
        closeIfSpent(now: now)
        return state == .ready
    }

    /// HTTP/2: GOAWAY with nothing left in flight, or a session with nothing
    /// more to say: close (the owner reopens on connectionIdle).
    private func closeIfSpent(now: UInt64) {
        guard state == .ready else { return }
        if let http2, (!http2.acceptsStreams && !hasActiveExchange) || http2.isFinished { close(now: now) }
        if let http3, !http3.acceptsStreams && !hasActiveExchange { close(now: now) }
    }

    /// Reports the HTTP/2 or HTTP/3 exchanges whose streams closed.
    private func reportEnded(now: UInt64) {
        // The owner may begin new exchanges meanwhile (never a re-entrant receive).
        while let i = http2?.nextEnded() ?? http3?.nextEnded() {
            guard exchanges[i].active else { continue }
            if let failure = exchanges[i].closeFailure {
                let quic = isQUIC
                let message: String = switch failure {
                case .goaway(let code) where quic: "GOAWAY: request rejected (\(HTTP3Session.describe(http3: UInt64(code))))"
                case .goaway(let code): "GOAWAY \(HTTP2Session.describe(code: code)) (\(code)): stream not processed"
                case .streamReset(let code) where quic: "stream reset: \(HTTP3Session.describe(http3: UInt64(code)))"
                case .streamReset(let code): "RST_STREAM \(HTTP2Session.describe(code: code)) (\(code))"
                default: failure.name
                }
                endExchange(i, failure: (failure, phase(of: i), message), now: now)
            } else {
                requestsServed += 1
                endExchange(i, failure: nil, now: now)
            }
        }
    }

    /// Exchange `i` is over: reported complete, or failed.
    private func endExchange(_ i: Int, failure: (HTTPOutcome, HTTPPhase, String?)?, now: UInt64) {
        // Reported once: a stream that ended may also be caught by a failure
        // of the whole connection before its turn in `reportEnded`.
        guard exchanges[i].active else { return }
        exchanges[i].active = false
        exchanges[i].deadline = 0
        requests[i] = nil
        if http2 == nil && !isQUIC {
            // HTTP/1.1: what the parser saw, also of a response cut short.
            if parser.headComplete { exchanges[0].status = parser.head.status }
            exchanges[0].headerBytesIn = parser.head.bytes
            exchanges[0].bodyBytesIn = parser.bodyBytes
            exchanges[0].wireBytesIn = parser.wireBytes
        }
        if let (outcome, phase, message) = failure {
            owner.requestFailed(self, exchange: i, outcome: outcome, phase: phase, message: message, now: now)
        } else {
            owner.responseComplete(self, exchange: i, now: now)
        }
    }

    /// HTTP/1.1: feeds received plaintext to the parser. Returns false when
    /// the connection stopped (failed or closed) and nothing more should be read.
    private func consume(now: UInt64) -> Bool {
        guard state == .exchanging else {
            // Bytes while no request is outstanding: the server is out of step.
            received = 0
            if state == .ready { close(now: now) }
            return false
        }
        if exchanges[0].firstByte == 0 && received > 0 { exchanges[0].firstByte = max(now, exchanges[0].requestSent) }
        do {
            // Loops only over interim (1xx) heads, which the parser consumes
            // and skips.
            while received > 0 {
                let headWasComplete = parser.headComplete
                let used = try parser.parse(UnsafeRawBufferPointer(start: receiveBuffer, count: received))
                if !headWasComplete, parser.headComplete, parser.head.status / 100 == 3, let r = parser.head.location {
                    exchanges[0].location = String(decoding: UnsafeRawBufferPointer(start: receiveBuffer + r.lowerBound,
                                                                                     count: r.count), as: UTF8.self)
                }
                if !headWasComplete, parser.headComplete, parser.head.alternativeH3, let r = parser.head.altSvc {
                    exchanges[0].altSvc = String(decoding: UnsafeRawBufferPointer(start: receiveBuffer + r.lowerBound,
                                                                                   count: r.count), as: UTF8.self)
                }
                if used == received {
                    received = 0
                } else if parser.isComplete {
                    // Bytes beyond the response: we never pipeline, so this is garbage.
                    received = 0
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
            finishResponse(now: now, reusable: !parser.head.close)
            return state != .closed && state != .draining
        }
        return true
    }

    private func endOfStream(now: UInt64) {
        if http2 != nil {
            guard hasActiveExchange else { return close(now: now) }
            if let g = http2?.goaway {
                return fail(.goaway(g.code), nil, "GOAWAY \(HTTP2Session.describe(code: g.code)) (\(g.code)), then closed",
                            now: now)
            }
            return fail(.closed, nil, "server closed the connection", now: now)
        }
        if state == .exchanging && parser.endOfStream() {
            return finishResponse(now: now, reusable: false)
        }
        if state == .exchanging {
            let phase: HTTPPhase = parser.headComplete ? .transfer : exchanges[0].requestSent == 0 ? .request : .ttfb
            return fail(.closed, phase, exchanges[0].reused ? "server closed the kept-alive connection" : nil, now: now)
        }
        if state == .handshaking { return fail(.tls(.handshake), .tls, "server closed during the handshake", now: now) }
        close(now: now)
    }

    /// HTTP/1.1: the response of exchange 0 is complete.
    private func finishResponse(now: UInt64, reusable: Bool) {
        requestsServed += 1
        exchanges[0].lastByte = now
        if reusable && exchanges[0].requestSent != 0 && !sendPosted && cipherOutCount == 0 {
            state = .ready
            endExchange(0, failure: nil, now: now)
        } else {
            // Reported while draining (begin is refused), then closed; the
            // owner reopens on `connectionIdle`.
            state = .draining
            endExchange(0, failure: nil, now: now)
            drain(now: now)
        }
    }

    // MARK: Close

    /// Reports a failure of the connection to every exchange on it, then
    /// closes. `phase` nil: each exchange's own. The owner always hears of
    /// each request (complete or failed) before it hears `connectionIdle`.
    private func fail(_ outcome: HTTPOutcome, _ phase: HTTPPhase?, _ message: String?, now: UInt64) {
        guard state != .closed && state != .draining else { return }
        // No request outstanding: nothing to report.
        if !hasActiveExchange { return close(now: now) }
        let failedIn = state
        sendConnectionClose(now: now)
        state = .draining
        for i in 0..<exchangeCapacity where exchanges[i].active {
            // A stream whose response was complete before the connection
            // broke (its end and the failure in one read) succeeded.
            if exchanges[i].endStreamReceived && exchanges[i].closeFailure == nil {
                requestsServed += 1
                endExchange(i, failure: nil, now: now)
            } else {
                endExchange(i, failure: (outcome, phase ?? self.phase(of: i, in: failedIn), message), now: now)
            }
        }
        drain(now: now)
    }

    /// Closes the socket once its operations are cancelled and drained; the
    /// owner hears `connectionIdle` then. Exchanges still active are dropped
    /// unreported (the owner is closing).
    func close(now: UInt64) {
        guard state != .closed && state != .draining else { return }
        sendConnectionClose(now: now)
        state = .draining
        drain(now: now)
    }

    private func drain(now: UInt64) {
        if pendingOps == 0 { return finishClose(now: now) }
        if !cancelPosted && fd >= 0 {
            cancelPosted = true
            // UDP: a shut-down socket ends its posted receives by itself.
            if isQUIC { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            let fd = fd
            let rc = queued { () throws(SystemError) in try ring.prepareCancel(slot, fd: fd) }
            // Without a cancel, shutting the socket down ends a posted receive.
            if rc < 0 { _ = shutdown(fd, Int32(SHUT_RDWR)) }
            submitted(rc, now: now)
        }
    }

    private func finishClose(now: UInt64) {
        if fd >= 0 { closeDescriptor(fd); fd = -1 }
        tls = nil
        http2 = nil
        http3 = nil
        receivesPosted = 0
        for i in 0..<exchangeCapacity where exchanges[i].active {
            exchanges[i].active = false
            exchanges[i].deadline = 0
            requests[i] = nil
        }
        received = 0
        cipherOutCount = 0
        frameOutCount = 0
        sendOffset = 0
        cancelPosted = false
        sendPosted = false
        receivePosted = false
        state = .closed
        owner.connectionIdle(self, now: now)
    }

    /// Runs a prepare and answers what `submitted` takes: the SQEs queued, or `-errno`.
    @inline(__always) private func queued(_ prepare: () throws(SystemError) -> Int32) -> Int32 {
        do { return try prepare() } catch { return -error.errno }
    }

    private func submitted(_ count: Int32, now: UInt64) {
        if count < 0 {
            // The ring refused the SQE: nothing was queued.
            if state != .draining { fail(.error(errno: -count), nil, "io_uring: \(count)", now: now) }
            return
        }
        pendingOps += Int(count)
    }

    // MARK: QUIC (HTTP/3)

    private func openQUIC(now: UInt64) {
        let s = socket(remote!.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return fail(Self.outcome(errno: errno), .quicHandshake, nil, now: now) }
        fd = s
        let length = socklen_t(remote!.isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        let rc = address.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, length) }
        guard rc == 0 else { return fail(Self.outcome(errno: errno), .quicHandshake, nil, now: now) }
        if datagramOut == nil {
            datagramOut = .allocate(byteCount: Self.datagramOutCapacity, alignment: 64)
            datagramIn = .allocate(byteCount: Self.datagramReceives * HTTP3Session.receiveCapacity, alignment: 64)
            gsoMessage = .allocate(capacity: 1)
        }
        do {
            http3 = try HTTP3Session(exchanges: exchanges, count: exchangeCapacity, fd: s, remote: remote!, port: port,
                                     host: host, context: quicContext!, now: now)
        } catch {
            return fail(.protocolError, .quicHandshake, error.description, now: now)
        }
        for i in 0..<exchangeCapacity where exchanges[i].active { _ = http3!.submit(i, request: requests[i]!) }
        for k in 0..<Self.datagramReceives { postDatagramReceive(k, now: now) }
        scheduleFlush()
    }

    private func postDatagramReceive(_ k: Int, now: UInt64) {
        guard fd >= 0, receivesPosted & (1 << k) == 0 else { return }
        let (fd, buffer) = (fd, datagramIn! + k * HTTP3Session.receiveCapacity)
        let rc = queued { () throws(SystemError) in
            try ring.prepareReceive(slot, op: UInt8(Self.quicReceiveOp + k), fd: fd, into: buffer,
                                    length: UInt32(HTTP3Session.receiveCapacity))
        }
        if rc >= 0 { receivesPosted |= 1 << k }
        submitted(rc, now: now)
    }

    private func datagramReceived(_ k: Int, _ result: Int32, now: UInt64) {
        guard let http3, state == .connecting || state == .ready else { return }
        if result < 0 {
            // A connected UDP socket hears ICMP errors: port unreachable is ECONNREFUSED.
            return fail(Self.outcome(errno: -result), nil, nil, now: now)
        }
        if result > 0 {
            let rc = http3.receive(datagramIn! + k * HTTP3Session.receiveCapacity, count: Int(result), now: now)
            if rc != 0 {
                reportEnded(now: now)  // streams that ended in the same datagram
                return failQUIC(rc, now: now)
            }
            if state == .connecting && http3.isHandshakeComplete {
                connected = http3.handshakeCompletedAt
                state = .ready
            }
            reportEnded(now: now)
            guard state == .connecting || state == .ready else { return }
            scheduleFlush()
            closeIfSpent(now: now)
        }
        if state == .connecting || state == .ready { postDatagramReceive(k, now: now) }
    }

    private func datagramsSent(_ result: Int32, now: UInt64) {
        guard state == .connecting || state == .ready else { return }
        if result < 0 { return fail(Self.outcome(errno: -result), nil, nil, now: now) }
        scheduleFlush()
    }

    /// When QUIC's next timer (loss recovery, delayed ACK, pacing, idle) is
    /// due; UInt64.max when there is none.
    var quicTimer: UInt64 {
        guard let http3, state == .connecting || state == .ready else { return .max }
        return http3.expiry
    }

    /// Runs QUIC's timer when it is due (the worker's loop checks every
    /// QUIC connection each turn and wakes for the earliest).
    func runQUICTimer(now: UInt64) {
        guard let http3, state == .connecting || state == .ready, now >= http3.expiry else { return }
        let rc = http3.handleExpiry(now: now)
        if rc != 0 { return failQUIC(rc, now: now) }
        scheduleFlush()
    }

    /// The QUIC connection ended (peer's CONNECTION_CLOSE, TLS failure,
    /// idle or handshake timeout): every exchange on it fails.
    private func failQUIC(_ code: Int32, now: UInt64) {
        guard let http3 else { return }
        let (outcome, message) = http3.failure(code)
        fail(outcome, nil, message, now: now)
    }

    /// QUIC: tells the server we are closing (best effort, not on the ring:
    /// one small non-blocking datagram, sent before the socket is closed).
    private func sendConnectionClose(now: UInt64) {
        guard let http3, fd >= 0 else { return }
        var packet = [UInt8](repeating: 0, count: 1500)
        let n = packet.withUnsafeMutableBytes { http3.closeDatagram($0.baseAddress!, capacity: $0.count, now: now) }
        if n > 0 { _ = packet.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, n, Int32(MSG_DONTWAIT)) } }
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
