import CNghttp2
import CProbe
import CQUIC
import Glibc

/// One request/response on a connection, with its timings (CLOCK_MONOTONIC
/// nanoseconds). HTTP/1.1 carries one at a time; HTTP/2 one per stream.
struct HTTPExchange {
    var requestStarted: UInt64 = 0
    /// The last byte of the request was handed to the ring.
    var requestSent: UInt64 = 0
    var firstByte: UInt64 = 0
    var lastByte: UInt64 = 0
    /// 0: none. Swept by the worker.
    var deadline: UInt64 = 0
    /// Open loop: when the request should have been sent.
    var intendedStart: UInt64 = 0
    var status = 0
    /// Response header bytes as received (HTTP/2: HPACK-compressed).
    var headerBytesIn = 0
    /// Body bytes (HTTP/1.1: decoded from any chunked framing).
    var bodyBytesIn = 0
    /// Everything received for it (HTTP/1.1: head and body as framed;
    /// HTTP/2: its HEADERS and DATA frames, frame headers included).
    var wireBytesIn = 0
    /// HTTP/2: the HEADERS and DATA payloads sent (HPACK-compressed headers).
    var headerBytesOut = 0
    var bodyBytesOut = 0
    /// A 3xx response's Location.
    var location: String? = nil
    /// An Alt-Svc header advertising h3 (others are not kept).
    var altSvc: String? = nil
    /// Begun on a connection that was already open.
    var reused = false
    /// Its begin opened the connection (connect and handshake are its own).
    var openedConnection = false
    var active = false
    // HTTP/2 only.
    /// The stream carrying it (0: not submitted yet).
    var streamID: Int32 = 0
    var endStreamReceived = false
    /// Request body bytes handed to nghttp2 so far.
    var bodyOffset = 0
    /// Why the stream closed without a complete response.
    var closeFailure: HTTPOutcome? = nil
}

/// An HTTP/2 client session over nghttp2, without I/O: bytes from the
/// network go in through `receive`, frames for the network come out of
/// `fill`. nghttp2's callbacks only update the exchanges and queue what
/// ended; the connection reports those after `receive` returns, so the owner
/// never runs inside nghttp2.
///
/// Flow control and SETTINGS are nghttp2's: the session advertises a 1 GiB
/// stream and connection window (as h2load does) and no server push.
final class HTTP2Session {
    private var session: OpaquePointer? = nil
    /// The connection's exchange records (owned by the connection).
    let exchanges: UnsafeMutablePointer<HTTPExchange>
    let exchangeCount: Int
    /// The request each exchange sends (its body is read from here).
    private var requests: [HTTPRequestTemplate?]
    /// Exchanges whose streams closed, in order, not yet taken by `nextEnded`.
    private var ended: EndedExchanges
    /// Set while `receive` runs: the harvest time of the bytes.
    private var receivedAt: UInt64 = 0
    /// Set while `fill` runs: stamped as `requestSent` on a request's last frame.
    private var sendingAt: UInt64 = 0
    /// A frame nghttp2 produced that did not fit the last `fill` (valid
    /// until the next `nghttp2_session_mem_send`).
    private var leftover: UnsafePointer<UInt8>? = nil
    private var leftoverCount = 0
    /// The server sent GOAWAY: no new streams.
    private(set) var goaway: (code: UInt32, lastStreamID: Int32)? = nil

    static let windowSize: Int32 = (1 << 30) - 1

    /// nghttp2 allocates a stream, an outbound item, header buffers and
    /// HPACK entries per request: they come from CProbe's per-thread pool
    /// (warm LIFO free lists) instead of malloc. nghttp2 copies the struct.
    nonisolated(unsafe) private static let memory = nghttp2_mem(mem_user_data: nil, malloc: cprobe_pool_malloc, free: cprobe_pool_free,
                                            calloc: cprobe_pool_calloc, realloc: cprobe_pool_realloc)

    init(exchanges: UnsafeMutablePointer<HTTPExchange>, count: Int) throws(HTTP2Error) {
        self.exchanges = exchanges
        exchangeCount = count
        requests = Array(repeating: nil, count: count)
        ended = EndedExchanges(capacity: count)
        var s: OpaquePointer? = nil
        var memory = Self.memory
        let rc = nghttp2_session_client_new3(&s, HTTP2Session.callbacks, Unmanaged.passUnretained(self).toOpaque(),
                                             nil, &memory)
        guard rc == 0, let s else { throw HTTP2Error(code: rc) }
        session = s
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                                   value: UInt32(Self.windowSize)),
        ]
        var r = nghttp2_submit_settings(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        if r == 0 { r = nghttp2_session_set_local_window_size(s, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Self.windowSize) }
        guard r == 0 else { throw HTTP2Error(code: r) }
    }

    deinit { nghttp2_session_del(session) }

    /// Streams may still be opened.
    var acceptsStreams: Bool { goaway == nil }

    /// Nothing is active and nghttp2 has nothing left to say or hear.
    var isFinished: Bool {
        nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
    }

    /// Opens a stream for exchange `i` (its record must be reset and active).
    /// Returns a negative nghttp2 error when the request cannot be submitted.
    func submit(_ i: Int, request: HTTPRequestTemplate) -> Int32 {
        requests[i] = request
        let h2 = request.fields
        var provider = nghttp2_data_provider(source: nghttp2_data_source(fd: 0), read_callback: HTTP2Session.readBody)
        let tag = UnsafeMutableRawPointer(bitPattern: i + 1)
        let id = h2.hasBody
            ? nghttp2_submit_request(session, nil, h2.fields, h2.fieldCount, &provider, tag)
            : nghttp2_submit_request(session, nil, h2.fields, h2.fieldCount, nil, tag)
        if id > 0 { exchanges[i].streamID = id }
        return id
    }

    /// Gives up on exchange `i`'s stream (RST_STREAM CANCEL); later frames
    /// for it are ignored.
    func cancel(_ i: Int) {
        let id = exchanges[i].streamID
        exchanges[i].streamID = 0
        requests[i] = nil
        if id > 0 { _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, UInt32(NGHTTP2_CANCEL.rawValue)) }
    }

    /// Feeds received bytes. Returns 0, or a negative nghttp2 error (the
    /// connection is broken). Exchanges that ended are in `ended`.
    func receive(_ bytes: UnsafeRawPointer, count: Int, now: UInt64) -> Int {
        receivedAt = now
        let rc = nghttp2_session_mem_recv(session, bytes.assumingMemoryBound(to: UInt8.self), count)
        return rc < 0 ? rc : 0
    }

    /// Copies frames ready to send into `buffer`; returns the byte count, or
    /// a negative nghttp2 error.
    func fill(_ buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        sendingAt = cprobe_monotonic_ns()
        var n = 0
        while n < capacity {
            if leftoverCount == 0 {
                var data: UnsafePointer<UInt8>? = nil
                let produced = nghttp2_session_mem_send(session, &data)
                if produced < 0 { return produced }
                if produced == 0 { break }
                leftover = data
                leftoverCount = produced
            }
            let take = min(leftoverCount, capacity - n)
            (buffer + n).copyMemory(from: leftover!, byteCount: take)
            n += take
            leftover! += take
            leftoverCount -= take
        }
        return n
    }

    var hasEnded: Bool { !ended.isEmpty }
    func nextEnded() -> Int? { ended.next() }

    /// The last stream looked up (callbacks for one frame come in a row).
    private var lastStream: Int32 = 0
    private var lastExchange = 0

    /// The exchange a stream belongs to, if it still does.
    @inline(__always) private func exchange(_ stream: Int32) -> Int? {
        if stream == lastStream && stream != 0 && exchanges[lastExchange].streamID == stream && exchanges[lastExchange].active {
            return lastExchange
        }
        guard let tag = nghttp2_session_get_stream_user_data(session, stream) else { return nil }
        let i = Int(bitPattern: tag) - 1
        guard i >= 0, i < exchangeCount, exchanges[i].active, exchanges[i].streamID == stream else { return nil }
        lastStream = stream
        lastExchange = i
        return i
    }

    // MARK: nghttp2 callbacks

    /// Runs `body` with the session a callback's user data names, without
    /// retaining it (the session outlives every call into nghttp2).
    @inline(__always) private static func with<R>(_ user: UnsafeMutableRawPointer?, _ body: (HTTP2Session) -> R) -> R {
        Unmanaged<HTTP2Session>.fromOpaque(user!)._withUnsafeGuaranteedRef(body)
    }

    nonisolated(unsafe) static let callbacks: OpaquePointer = {
        var cbs: OpaquePointer? = nil
        precondition(nghttp2_session_callbacks_new(&cbs) == 0, "nghttp2: out of memory")
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs) { _, frame, user in
            with(user) { $0.beginHeaders(frame!.pointee) }
        }
        nghttp2_session_callbacks_set_on_header_callback(cbs) { _, frame, name, nameLength, value, valueLength, _, user in
            // Only :status, alt-svc and a redirect's location are kept.
            guard nameLength == 7 || nameLength == 8 else { return 0 }
            return with(user) { $0.header(frame!.pointee.hd.stream_id, name!, nameLength, value!, valueLength) }
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs) { _, _, stream, _, length, user in
            with(user) { s in
                if let i = s.exchange(stream) { s.exchanges[i].bodyBytesIn += length }
                return 0
            }
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs) { _, frame, user in
            with(user) { $0.frameReceived(frame!) }
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs) { _, frame, user in
            with(user) { $0.frameSent(frame!.pointee.hd) }
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs) { _, stream, code, user in
            with(user) { $0.streamClosed(stream, code: code) }
        }
        return cbs!
    }()

    private func beginHeaders(_ f: nghttp2_frame) -> Int32 {
        if f.headers.cat == NGHTTP2_HCAT_RESPONSE, let i = exchange(f.hd.stream_id), exchanges[i].firstByte == 0 {
            exchanges[i].firstByte = max(receivedAt, exchanges[i].requestSent)
        }
        return 0
    }

    private func header(_ stream: Int32, _ name: UnsafePointer<UInt8>, _ nameLength: Int,
                        _ value: UnsafePointer<UInt8>, _ valueLength: Int) -> Int32 {
        guard let i = exchange(stream) else { return 0 }
        if nameLength == 7, memcmp(name, ":status", 7) == 0 {
            var status = 0
            for k in 0..<valueLength { status = status * 10 + Int(value[k]) - 48 }
            exchanges[i].status = status
        } else if nameLength == 7, memcmp(name, "alt-svc", 7) == 0,
                  HTTP1ResponseParser.contains(UnsafeRawBufferPointer(start: value, count: valueLength), 0, valueLength, "h3=") {
            exchanges[i].altSvc = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
        } else if nameLength == 8, exchanges[i].status / 100 == 3, memcmp(name, "location", 8) == 0 {
            exchanges[i].location = String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self)
        }
        return 0
    }

    private func frameReceived(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let hd = frame.pointee.hd
        switch UInt32(hd.type) {
        case NGHTTP2_GOAWAY.rawValue:
            let g = frame.pointee.goaway
            goaway = (g.error_code, g.last_stream_id)
        case NGHTTP2_HEADERS.rawValue, NGHTTP2_DATA.rawValue:
            guard let i = exchange(hd.stream_id) else { break }
            if UInt32(hd.type) == NGHTTP2_HEADERS.rawValue { exchanges[i].headerBytesIn += hd.length }
            exchanges[i].wireBytesIn += hd.length + 9
            if hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
                exchanges[i].endStreamReceived = true
                exchanges[i].lastByte = receivedAt
            }
        default: break
        }
        return 0
    }

    private func frameSent(_ hd: nghttp2_frame_hd) -> Int32 {
        guard let i = exchange(hd.stream_id) else { return 0 }
        switch UInt32(hd.type) {
        case NGHTTP2_HEADERS.rawValue: exchanges[i].headerBytesOut += hd.length
        case NGHTTP2_DATA.rawValue: exchanges[i].bodyBytesOut += hd.length
        default: break
        }
        if hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 { exchanges[i].requestSent = sendingAt }
        return 0
    }

    private func streamClosed(_ stream: Int32, code: UInt32) -> Int32 {
        guard let i = exchange(stream) else { return 0 }
        if !exchanges[i].endStreamReceived {
            if let g = goaway, stream > g.lastStreamID {
                exchanges[i].closeFailure = .goaway(g.code)
            } else {
                exchanges[i].closeFailure = .streamReset(code)
            }
        }
        exchanges[i].streamID = 0
        requests[i] = nil
        ended.append(i)
        return 0
    }

    /// Request bodies: copied from the template as flow control allows.
    private static let readBody: nghttp2_data_source_read_callback = { _, stream, buffer, length, flags, _, user in
        with(user) { s in
            guard let i = s.exchange(stream), let request = s.requests[i] else {
                return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue)
            }
            let h2 = request.fields
            let n = min(h2.bodyCount - s.exchanges[i].bodyOffset, length)
            buffer!.update(from: h2.body.assumingMemoryBound(to: UInt8.self) + s.exchanges[i].bodyOffset, count: n)
            s.exchanges[i].bodyOffset += n
            if s.exchanges[i].bodyOffset == h2.bodyCount { flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue }
            return n
        }
    }

    static func describe(code: UInt32) -> String {
        String(cString: nghttp2_http2_strerror(code))
    }
}

/// Exchanges whose streams closed, in order, each returned once by `next`,
/// also when reporting one leads to more streams closing meanwhile.
struct EndedExchanges {
    private var items: [Int] = []
    private var taken = 0

    init(capacity: Int) { items.reserveCapacity(capacity) }

    var isEmpty: Bool { taken >= items.count }
    mutating func append(_ i: Int) { items.append(i) }

    mutating func next() -> Int? {
        if taken < items.count {
            taken += 1
            return items[taken - 1]
        }
        items.removeAll(keepingCapacity: true)
        taken = 0
        return nil
    }
}

/// A failure inside nghttp2 (a negative library error code).
struct HTTP2Error: Error, CustomStringConvertible {
    var code: Int32
    var description: String { "HTTP/2: " + String(cString: nghttp2_strerror(code)) }
}

/// A request's HTTP/2 and HTTP/3 header list (pseudo-headers first, names in
/// lower case, HTTP/1-only fields dropped), built once per run; nghttp2 and
/// nghttp3 read the names and values from here.
final class HTTPRequestFields {
    let fields: UnsafeMutablePointer<nghttp2_nv>
    /// The same list in nghttp3's type (same layout, its own flags).
    let http3Fields: UnsafeMutablePointer<nghttp3_nv>
    let fieldCount: Int
    private let storage: UnsafeMutableRawPointer
    let body: UnsafeRawPointer
    let bodyCount: Int
    var hasBody: Bool { bodyCount > 0 }

    /// HTTP/1.1 connection-specific fields: forbidden in HTTP/2 (RFC 9113 §8.2.2).
    static let dropped: Set<String> = ["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]

    /// `head`: pseudo-headers, then fields (names in lower case).
    init(head: [(String, String)], body: UnsafeRawPointer, bodyCount: Int) {
        let list = head.filter { !Self.dropped.contains($0.0) }
        let bytes = list.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count }
        let storage = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 1)
        let fields = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: list.count)
        let http3Fields = UnsafeMutablePointer<nghttp3_nv>.allocate(capacity: list.count)
        self.storage = storage
        self.fields = fields
        self.http3Fields = http3Fields
        fieldCount = list.count
        self.body = body
        self.bodyCount = bodyCount
        var offset = 0
        let flags = UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue)
        func put(_ text: String) -> UnsafeMutablePointer<UInt8> {
            let at = storage + offset
            let utf8 = Array(text.utf8)
            utf8.withUnsafeBytes { if $0.count > 0 { at.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
            offset += utf8.count
            return at.assumingMemoryBound(to: UInt8.self)
        }
        for (k, (name, value)) in list.enumerated() {
            let n = put(name), v = put(value)
            fields[k] = nghttp2_nv(name: n, value: v, namelen: name.utf8.count, valuelen: value.utf8.count, flags: flags)
            http3Fields[k] = nghttp3_nv(name: n, value: v, namelen: name.utf8.count, valuelen: value.utf8.count,
                                        flags: UInt8(NGHTTP3_NV_FLAG_NO_COPY_NAME | NGHTTP3_NV_FLAG_NO_COPY_VALUE))
        }
    }

    deinit {
        fields.deallocate()
        http3Fields.deallocate()
        storage.deallocate()
    }
}
