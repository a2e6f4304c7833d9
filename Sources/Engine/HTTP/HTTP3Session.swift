import Synchronization
import ProbeModel
import COpenSSL
import CProbe
import CQUIC
import Glibc

/// Trust settings for QUIC's TLS (GnuTLS), loaded once per run and shared
/// by its connections.
final class QUICTLSContext: @unchecked Sendable {
    let credentials: gnutls_certificate_credentials_t
    let options: TLSOptions

    init(_ options: TLSOptions) throws(ConfigurationError) {
        var c: gnutls_certificate_credentials_t? = nil
        guard gnutls_certificate_allocate_credentials(&c) == 0, let c else {
            throw ConfigurationError(field: "tls", "GnuTLS: cannot allocate credentials")
        }
        credentials = c
        self.options = options
        if let file = options.caFile {
            let n = gnutls_certificate_set_x509_trust_file(c, file, GNUTLS_X509_FMT_PEM)
            if n <= 0 {
                gnutls_certificate_free_credentials(c)
                throw ConfigurationError(field: "ca-file", "no CA certificate loaded from '\(file)' (GnuTLS \(n))")
            }
        } else {
            _ = gnutls_certificate_set_x509_system_trust(c)
        }
    }

    deinit { gnutls_certificate_free_credentials(credentials) }

    /// Shared per options, as `TLSContext.shared`.
    static let shared = ClientContextCache { options throws(ConfigurationError) in try QUICTLSContext(options) }
}

/// An HTTP/3 client connection over ngtcp2 (QUIC, TLS by GnuTLS) and nghttp3,
/// without I/O: datagrams from the network go in through `receive`,
/// datagrams for the network come out of `fill`, timers are `expiry` and
/// `handleExpiry`. Callbacks only update the exchanges and queue what ended;
/// the connection reports those after the call returns.
///
/// The handshake is one phase, as QUIC defines it; HTTP/3 starts when the
/// 1-RTT keys are installed (requests go out with the client's Finished).
/// Certificates are verified (name and chain) unless the options opt out.
final class HTTP3Session {
    private var conn: OpaquePointer? = nil
    private var h3: OpaquePointer? = nil
    private var tls: gnutls_session_t? = nil
    private let context: QUICTLSContext
    private let connectionReference: UnsafeMutablePointer<ngtcp2_crypto_conn_ref>
    private let local: UnsafeMutablePointer<sockaddr_storage>
    private let remote: UnsafeMutablePointer<sockaddr_storage>
    /// GnuTLS keeps the pointer for the session's lifetime.
    private let verifyName: UnsafeMutablePointer<CChar>

    let exchanges: UnsafeMutablePointer<HTTPExchange>
    let exchangeCount: Int
    private var requests: [HTTPRequestTemplate?]
    /// Requests of cancelled streams, until nghttp3 closes them.
    private var cancelled: [Int64: HTTPRequestTemplate] = [:]
    /// Each exchange's QUIC stream (-1: not opened yet).
    private var streams: [Int64]
    private var ended: EndedExchanges
    private var receivedAt: UInt64 = 0
    /// The handshake completed (TLS done, certificate verified) at this time.
    private(set) var handshakeCompletedAt: UInt64 = 0
    /// The server sent GOAWAY: no new streams.
    private(set) var goaway = false
    /// Why we close (sent in CONNECTION_CLOSE).
    private var closeError = ngtcp2_connection_close_error()

    init(exchanges: UnsafeMutablePointer<HTTPExchange>, count: Int, fd: Int32, remote address: IPAddress, port: UInt16,
         host: String, context: QUICTLSContext, now: UInt64) throws(HTTP3Error) {
        self.exchanges = exchanges
        exchangeCount = count
        self.context = context
        requests = Array(repeating: nil, count: count)
        streams = Array(repeating: -1, count: count)
        ended = EndedExchanges(capacity: count)
        let serverName = context.options.serverName ?? host
        verifyName = strdup(serverName)
        connectionReference = .allocate(capacity: 1)
        local = .allocate(capacity: 1)
        remote = .allocate(capacity: 1)
        local.initialize(to: sockaddr_storage())
        address.write(to: remote, port: port)
        ngtcp2_connection_close_error_default(&closeError)

        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = local.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
        guard got == 0 else { throw HTTP3Error("getsockname: errno \(errno)") }
        let remoteLength = socklen_t(address.isIPv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)

        // TLS.
        var session: gnutls_session_t? = nil
        guard gnutls_init(&session, UInt32(GNUTLS_CLIENT.rawValue)) == 0, let session else {
            throw HTTP3Error("gnutls_init failed")
        }
        tls = session
        guard ngtcp2_crypto_gnutls_configure_client_session(session) == 0 else {
            throw HTTP3Error("ngtcp2_crypto_gnutls_configure_client_session failed")
        }
        guard let priority = Self.priority, gnutls_priority_set(session, priority) == 0 else {
            throw HTTP3Error("GnuTLS priority refused")
        }
        connectionReference.initialize(to: ngtcp2_crypto_conn_ref(
            get_conn: { ref in Unmanaged<HTTP3Session>.fromOpaque(ref!.pointee.user_data).takeUnretainedValue().conn },
            user_data: Unmanaged.passUnretained(self).toOpaque()))
        gnutls_session_set_ptr(session, connectionReference)
        gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, UnsafeMutableRawPointer(context.credentials))
        var h3 = Array("h3".utf8)
        h3.withUnsafeMutableBufferPointer { b in
            var alpn = gnutls_datum_t(data: b.baseAddress, size: 2)
            _ = gnutls_alpn_set_protocols(session, &alpn, 1, UInt32(GNUTLS_ALPN_MANDATORY.rawValue))
        }
        if IPAddress(serverName) == nil {
            _ = gnutls_server_name_set(session, GNUTLS_NAME_DNS, serverName, serverName.utf8.count)
        }
        if context.options.verify { gnutls_session_set_verify_cert(session, verifyName, 0) }

        // QUIC.
        var dcid = ngtcp2_cid(), scid = ngtcp2_cid()
        var bytes = [UInt8](repeating: 0, count: 18)
        _ = gnutls_rnd(GNUTLS_RND_RANDOM, &bytes, 18)
        ngtcp2_cid_init(&dcid, bytes, 18)
        _ = gnutls_rnd(GNUTLS_RND_RANDOM, &bytes, 17)
        ngtcp2_cid_init(&scid, bytes, 17)
        var settings = ngtcp2_settings()
        ngtcp2_settings_default_versioned(NGTCP2_SETTINGS_VERSION, &settings)
        settings.initial_ts = now
        settings.max_window = 24 << 20
        settings.max_stream_window = 16 << 20
        var params = ngtcp2_transport_params()
        ngtcp2_transport_params_default_versioned(NGTCP2_TRANSPORT_PARAMS_VERSION, &params)
        params.initial_max_data = 15 << 20
        params.initial_max_stream_data_bidi_local = 6 << 20
        params.initial_max_stream_data_bidi_remote = 6 << 20
        params.initial_max_stream_data_uni = 6 << 20
        params.initial_max_streams_bidi = 0
        params.initial_max_streams_uni = 100
        params.max_idle_timeout = 30 * 1_000_000_000
        params.max_udp_payload_size = UInt64(Self.receiveCapacity)
        var path = ngtcp2_path(
            local: ngtcp2_addr(addr: UnsafeMutableRawPointer(local).assumingMemoryBound(to: sockaddr.self), addrlen: localLength),
            remote: ngtcp2_addr(addr: UnsafeMutableRawPointer(remote).assumingMemoryBound(to: sockaddr.self),
                                addrlen: remoteLength),
            user_data: nil)
        var callbacks = HTTP3Session.quicCallbacks
        let rc = ngtcp2_conn_client_new_versioned(&conn, &dcid, &scid, &path, UInt32(NGTCP2_PROTO_VER_V1),
                                                  NGTCP2_CALLBACKS_VERSION, &callbacks, NGTCP2_SETTINGS_VERSION,
                                                  &settings, NGTCP2_TRANSPORT_PARAMS_VERSION, &params, Self.quicMemory,
                                                  Unmanaged.passUnretained(self).toOpaque())
        guard rc == 0 else { throw HTTP3Error(quic: rc) }
        ngtcp2_conn_set_tls_native_handle(conn, UnsafeMutableRawPointer(session))
    }

    deinit {
        if let h3 { nghttp3_conn_del(h3) }
        if let conn { ngtcp2_conn_del(conn) }
        if let tls { gnutls_deinit(tls) }
        connectionReference.deallocate()
        free(verifyName)
        local.deallocate()
        remote.deallocate()
    }

    /// Largest datagram we accept (advertised as max_udp_payload_size).
    static let receiveCapacity = 2048

    /// QUIC's TLS 1.3 priorities, parsed once for every connection (GnuTLS shares a priority
    /// cache between sessions; parsing the string per handshake was measurable).
    nonisolated(unsafe) private static let priority: gnutls_priority_t? = {
        var priority: gnutls_priority_t? = nil
        let text = "%DISABLE_TLS13_COMPAT_MODE:NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
            + "+CHACHA20-POLY1305:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+GROUP-SECP521R1"
        return gnutls_priority_init(&priority, text, nil) == 0 ? priority : nil
    }()

    var acceptsStreams: Bool { !goaway && !failed }
    /// A datagram or a timer ended the connection: streams that ended with it are still
    /// reported, but nothing new may start on it meanwhile.
    private(set) var failed = false
    /// The server made us prove our address with a Retry first.
    var retried: Bool { ngtcp2_conn_after_retry(conn) != 0 }
    /// ngtcp2 and nghttp3 allocate per stream and per packet: from CProbe's
    /// per-thread pool, as nghttp2 does. Both keep the pointer, so the
    /// allocator records live for the process.
    nonisolated(unsafe) private static let quicMemory: UnsafePointer<ngtcp2_mem> = {
        let p = UnsafeMutablePointer<ngtcp2_mem>.allocate(capacity: 1)
        p.initialize(to: ngtcp2_mem(user_data: nil, malloc: cprobe_pool_malloc, free: cprobe_pool_free,
                                    calloc: cprobe_pool_calloc, realloc: cprobe_pool_realloc))
        return UnsafePointer(p)
    }()
    nonisolated(unsafe) private static let http3Memory: UnsafePointer<nghttp3_mem> = {
        let p = UnsafeMutablePointer<nghttp3_mem>.allocate(capacity: 1)
        p.initialize(to: nghttp3_mem(user_data: nil, malloc: cprobe_pool_malloc, free: cprobe_pool_free,
                                     calloc: cprobe_pool_calloc, realloc: cprobe_pool_realloc))
        return UnsafePointer(p)
    }()

    /// The versions a Version Negotiation packet listed (ngtcp2 speaks v1).
    private var offeredVersions: [UInt32] = []

    /// A QUIC version as RFC 9000/9369 and the drafts name it.
    static func describe(version v: UInt32) -> String {
        let hex = "0x" + String(v, radix: 16)
        switch v {
        case 0x0000_0001: return "\(hex) (QUIC v1)"
        case 0x6b33_43cf: return "\(hex) (QUIC v2)"
        case 0x709a_50c4: return "\(hex) (QUIC v2 draft)"
        case 0xff00_0000...0xff00_00ff: return "\(hex) (draft-\(v & 0xff))"
        case _ where v & 0x0f0f_0f0f == 0x0a0a_0a0a: return "\(hex) (greased)"
        default: return hex
        }
    }
    var isHandshakeComplete: Bool { handshakeCompletedAt != 0 }
    /// When `handleExpiry` is next due (UInt64.max: never).
    var expiry: UInt64 { ngtcp2_conn_get_expiry(conn) }

    /// Submits exchange `i` (reset and active): at once once HTTP/3 is up,
    /// else when it comes up. Returns a negative library error.
    func submit(_ i: Int, request: HTTPRequestTemplate) -> Int32 {
        requests[i] = request
        streams[i] = -1
        return h3 == nil ? 0 : open(i)
    }

    private func open(_ i: Int) -> Int32 {
        var sid: Int64 = -1
        let tag = UnsafeMutableRawPointer(bitPattern: i + 1)
        var rc = ngtcp2_conn_open_bidi_stream(conn, &sid, tag)
        if rc == NGTCP2_ERR_STREAM_ID_BLOCKED { return 0 }  // opened when the server allows more streams
        guard rc == 0 else { return rc }
        streams[i] = sid
        let fields = requests[i]!.fields
        if fields.hasBody {
            var reader = nghttp3_data_reader(read_data: HTTP3Session.readBody)
            rc = nghttp3_conn_submit_request(h3, sid, fields.http3Fields, fields.fieldCount, &reader, tag)
        } else {
            rc = nghttp3_conn_submit_request(h3, sid, fields.http3Fields, fields.fieldCount, nil, tag)
        }
        return rc
    }

    /// Opens the streams of exchanges waiting for HTTP/3 or for stream credit.
    private func openWaiting() -> Int32 {
        guard !goaway else { return 0 }
        for i in 0..<exchangeCount where exchanges[i].active && streams[i] < 0 && requests[i] != nil {
            let rc = open(i)
            if rc != 0 { return rc }
            if streams[i] < 0 { break }  // no stream credit yet
        }
        return 0
    }

    /// Gives up on exchange `i`'s stream (H3_REQUEST_CANCELLED both ways).
    func cancel(_ i: Int) {
        let sid = streams[i]
        streams[i] = -1
        let request = requests[i]
        requests[i] = nil
        guard sid >= 0 else { return }
        // nghttp3 reads the header list and body in place until the stream
        // closes: the request stays referenced until then.
        if let request { cancelled[sid] = request }
        if let h3 { nghttp3_conn_shutdown_stream_write(h3, sid) }
        _ = ngtcp2_conn_shutdown_stream(conn, sid, UInt64(NGHTTP3_H3_REQUEST_CANCELLED))
    }

    /// Feeds one datagram. Returns 0, or a negative ngtcp2 error: the
    /// connection is over (see `failure`).
    func receive(_ bytes: UnsafeRawPointer, count: Int, now: UInt64) -> Int32 {
        receivedAt = now
        var path = ngtcp2_path(
            local: ngtcp2_addr(addr: UnsafeMutableRawPointer(local).assumingMemoryBound(to: sockaddr.self),
                               addrlen: socklen_t(MemoryLayout<sockaddr_storage>.size)),
            remote: ngtcp2_addr(addr: UnsafeMutableRawPointer(remote).assumingMemoryBound(to: sockaddr.self),
                                addrlen: socklen_t(MemoryLayout<sockaddr_storage>.size)),
            user_data: nil)
        var info = ngtcp2_pkt_info(ecn: 0)
        let rc = ngtcp2_conn_read_pkt_versioned(conn, &path, NGTCP2_PKT_INFO_VERSION, &info,
                                                bytes.assumingMemoryBound(to: UInt8.self), count, now)
        if rc != 0 { failed = true }
        return rc
    }

    func handleExpiry(now: UInt64) -> Int32 {
        receivedAt = now
        let rc = ngtcp2_conn_handle_expiry(conn, now)
        if rc != 0 { failed = true }
        return rc
    }

    /// Writes datagrams into `buffer` for one GSO send: all of `segment`
    /// bytes but the last (segment 0: a single datagram). Returns (bytes,
    /// segment), or a negative error.
    func fill(_ buffer: UnsafeMutableRawPointer, capacity: Int, now: UInt64) -> (Int, Int) {
        // The path's datagram size (after shaping and PMTU discovery); a
        // batch continues only with datagrams of the first one's size, the
        // others are given no more room than that.
        var room = ngtcp2_conn_get_path_max_tx_udp_payload_size(conn)
        let quantum = max(room, ngtcp2_conn_get_send_quantum(conn))
        var used = 0
        var segment = 0
        var vectors = (nghttp3_vec(), nghttp3_vec(), nghttp3_vec(), nghttp3_vec(),
                       nghttp3_vec(), nghttp3_vec(), nghttp3_vec(), nghttp3_vec())
        while capacity - used >= room && used + room <= quantum {
            var sid: Int64 = -1
            var fin: Int32 = 0
            var count = 0
            let written: Int = withUnsafeMutableBytes(of: &vectors) { raw in
                let vec = raw.baseAddress!.assumingMemoryBound(to: nghttp3_vec.self)
                if let h3, ngtcp2_conn_get_max_data_left(conn) > 0 {
                    count = nghttp3_conn_writev_stream(h3, &sid, &fin, vec, 8)
                    if count < 0 { return count }
                }
                var offered = 0
                for k in 0..<max(0, count) { offered += vec[k].len }
                var datalen = 0
                let flags = UInt32(NGTCP2_WRITE_STREAM_FLAG_MORE) | (fin != 0 ? UInt32(NGTCP2_WRITE_STREAM_FLAG_FIN) : 0)
                let n = ngtcp2_conn_writev_stream_versioned(
                    conn, nil, NGTCP2_PKT_INFO_VERSION, nil, (buffer + used).assumingMemoryBound(to: UInt8.self),
                    room, &datalen, flags, sid, UnsafeRawPointer(vec).assumingMemoryBound(to: ngtcp2_vec.self),
                    count, now)
                if n < 0 {
                    switch Int32(n) {
                    case NGTCP2_ERR_STREAM_DATA_BLOCKED:
                        nghttp3_conn_block_stream(h3, sid); return Self.writeAgain
                    case NGTCP2_ERR_STREAM_SHUT_WR:
                        nghttp3_conn_shutdown_stream_write(h3, sid); return Self.writeAgain
                    case NGTCP2_ERR_WRITE_MORE:
                        _ = nghttp3_conn_add_write_offset(h3, sid, datalen)
                        self.streamWritten(sid, vec, count, datalen, finished: fin != 0 && datalen == offered, now: now)
                        return Self.writeAgain
                    default:
                        return n
                    }
                }
                if datalen >= 0, sid >= 0 {
                    _ = nghttp3_conn_add_write_offset(h3, sid, datalen)
                    self.streamWritten(sid, vec, count, datalen, finished: fin != 0 && datalen == offered, now: now)
                }
                return n
            }
            if written == Self.writeAgain { continue }
            if written < 0 {
                if count < 0 {
                    ngtcp2_connection_close_error_set_application_error(&closeError,
                        nghttp3_err_infer_quic_app_error_code(Int32(written)), nil, 0)
                    lastLibraryError = "HTTP/3: " + String(cString: nghttp3_strerror(Int32(written)))
                } else {
                    ngtcp2_connection_close_error_set_transport_error_liberr(&closeError, Int32(written), nil, 0)
                }
                return (written, 0)
            }
            if written == 0 { break }
            used += written
            if segment == 0 {
                segment = written
                room = written
            } else if written < segment {
                break
            }
        }
        // Pacing starts once the handshake is done. Paced from the first
        // Initial, the 1-RTT flight (Finished, SETTINGS, the requests) would
        // wait ~22 ms: the Initial's 1,200 bytes at cwnd / initial_rtt (333 ms)
        // before any RTT is known, while loopback's RTT is microseconds.
        if isHandshakeComplete { ngtcp2_conn_update_pkt_tx_time(conn, now) }
        return (used, used > segment ? segment : 0)
    }

    private static let writeAgain = Int.min
    /// An nghttp3 failure's text (its codes overlap ngtcp2's).
    private var lastLibraryError: String? = nil

    /// The first `count` bytes of the `vectors` nghttp3 offered for stream `sid` went into a
    /// datagram (`finished`: its last). Bytes from the request body's own memory are body; the
    /// rest (HEADERS, frame headers) head. Counted as they go, so an exchange that ends without
    /// its stream closing (a timeout, a failed connection) has its counts right too.
    private func streamWritten(_ sid: Int64, _ vectors: UnsafePointer<nghttp3_vec>, _ vectorCount: Int, _ count: Int,
                               finished: Bool, now: UInt64) {
        guard ngtcp2_is_bidi_stream(sid) != 0 else { return }  // control and QPACK streams
        for i in 0..<exchangeCount where streams[i] == sid && exchanges[i].active {
            let fields = requests[i]?.fields
            let bodyStart = UInt(bitPattern: fields?.body), bodyEnd = bodyStart + UInt(fields?.bodyCount ?? 0)
            var left = count
            for k in 0..<vectorCount where left > 0 {
                let n = min(left, vectors[k].len)
                let base = UInt(bitPattern: vectors[k].base)
                if bodyStart < bodyEnd && base >= bodyStart && base < bodyEnd {
                    exchanges[i].bodyBytesOut += n
                } else {
                    exchanges[i].headerBytesOut += n
                }
                left -= n
            }
            if finished { exchanges[i].requestSent = now }
            return
        }
    }

    /// A CONNECTION_CLOSE for our side (H3_NO_ERROR unless an error was
    /// recorded), or 0 bytes when the connection is already closing.
    func closeDatagram(_ buffer: UnsafeMutableRawPointer, capacity: Int, now: UInt64) -> Int {
        guard let conn, ngtcp2_conn_is_in_closing_period(conn) == 0, ngtcp2_conn_is_in_draining_period(conn) == 0,
              isHandshakeComplete || closeError.error_code != 0 else { return 0 }
        if closeError.error_code == 0 && closeError.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT {
            ngtcp2_connection_close_error_set_application_error(&closeError, UInt64(NGHTTP3_H3_NO_ERROR), nil, 0)
        }
        let n = ngtcp2_conn_write_connection_close_versioned(conn, nil, NGTCP2_PKT_INFO_VERSION, nil,
                                                             buffer.assumingMemoryBound(to: UInt8.self), capacity,
                                                             &closeError, now)
        return max(0, n)
    }

    /// What a negative `receive`/`handleExpiry`/`fill` result means.
    func failure(_ code: Int32) -> (HTTPOutcome, String) {
        switch code {
        case NGTCP2_ERR_DRAINING:
            var e = ngtcp2_connection_close_error()
            ngtcp2_conn_get_connection_close_error(conn, &e)
            let reason = e.reasonlen > 0 ? ": " + String(decoding: UnsafeBufferPointer(start: e.reason, count: e.reasonlen),
                                                          as: UTF8.self) : ""
            let application = e.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION
            let name = application ? Self.describe(http3: e.error_code) : "transport"
            return (.connectionClose(e.error_code),
                    "server closed the connection: CONNECTION_CLOSE \(application ? "application" : "transport") "
                    + "0x\(String(e.error_code, radix: 16)) (\(name))\(reason)")
        case NGTCP2_ERR_CRYPTO:
            ngtcp2_connection_close_error_set_transport_error_tls_alert(&closeError, ngtcp2_conn_get_tls_alert(conn), nil, 0)
            return tlsFailure()
        case NGTCP2_ERR_IDLE_CLOSE:
            return (.timeout, "QUIC idle timeout")
        case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
            return (.timeout, "QUIC handshake timeout")
        case NGTCP2_ERR_RECV_VERSION_NEGOTIATION:
            let offered = offeredVersions.map(Self.describe(version:)).joined(separator: ", ")
            return (.protocolError, "server does not speak QUIC version 1 (version negotiation; it offers "
                                    + (offered.isEmpty ? "nothing" : offered) + ")")
        default:
            if let text = lastLibraryError { return (.protocolError, text) }
            if closeError.error_code == 0 {
                ngtcp2_connection_close_error_set_transport_error_liberr(&closeError, code, nil, 0)
            }
            return (.protocolError, "QUIC: " + String(cString: ngtcp2_strerror(code)))
        }
    }

    private func tlsFailure() -> (HTTPOutcome, String) {
        let alert = ngtcp2_conn_get_tls_alert(conn)
        let status = gnutls_session_get_verify_cert_status(tls)
        if status != 0 {
            var text = gnutls_datum_t()
            _ = gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0)
            defer { free(text.data) }  // gnutls_free is free unless an application replaced it
            let message = text.data.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) } ?? ""
            let kind: TLSFailure.Kind =
                status & GNUTLS_CERT_UNEXPECTED_OWNER.rawValue != 0 ? .nameMismatch
                : status & GNUTLS_CERT_EXPIRED.rawValue != 0 ? .expired
                : status & GNUTLS_CERT_NOT_ACTIVATED.rawValue != 0 ? .notYetValid
                : status & GNUTLS_CERT_SIGNER_NOT_FOUND.rawValue != 0 ? .unknownCA
                : .verification
            return (.tls(kind), message)
        }
        let name = gnutls_alert_get_name(gnutls_alert_description_t(UInt32(alert))).map { String(cString: $0) } ?? "alert"
        return (.tls(alert == 70 ? .protocolVersion : .alert), "TLS alert \(alert) (\(name))")
    }

    /// The negotiated TLS parameters and the server's certificate.
    func details(now: Int64 = Int64(time(nil))) -> TLSDetails {
        var d = TLSDetails(version: "TLSv1.3", cipher: gnutls_ciphersuite_get(tls).map { String(cString: $0) } ?? "",
                           alpn: "h3", subject: "", issuer: "", subjectAlternativeNames: "", notAfter: 0, daysToExpiry: 0,
                           verified: context.options.verify && gnutls_session_get_verify_cert_status(tls) == 0)
        var count: UInt32 = 0
        if let list = gnutls_certificate_get_peers(tls, &count), count > 0, let der = list[0].data {
            var pointer: UnsafePointer<UInt8>? = UnsafePointer(der)
            if let cert = d2i_X509(nil, &pointer, Int(list[0].size)) {
                defer { X509_free(cert) }
                d.describeCertificate(cert, now: now)
            }
        }
        return d
    }

    var hasEnded: Bool { !ended.isEmpty }
    func nextEnded() -> Int? { ended.next() }

    private func exchange(_ sid: Int64, _ tag: UnsafeMutableRawPointer?) -> Int? {
        guard let tag else { return nil }
        let i = Int(bitPattern: tag) - 1
        guard i >= 0, i < exchangeCount, exchanges[i].active, streams[i] == sid else { return nil }
        return i
    }

    static func describe(http3 code: UInt64) -> String {
        switch code {
        case 0x100: "H3_NO_ERROR"
        case 0x101: "H3_GENERAL_PROTOCOL_ERROR"
        case 0x102: "H3_INTERNAL_ERROR"
        case 0x103: "H3_STREAM_CREATION_ERROR"
        case 0x104: "H3_CLOSED_CRITICAL_STREAM"
        case 0x105: "H3_FRAME_UNEXPECTED"
        case 0x106: "H3_FRAME_ERROR"
        case 0x107: "H3_EXCESSIVE_LOAD"
        case 0x108: "H3_ID_ERROR"
        case 0x109: "H3_SETTINGS_ERROR"
        case 0x10a: "H3_MISSING_SETTINGS"
        case 0x10b: "H3_REQUEST_REJECTED"
        case 0x10c: "H3_REQUEST_CANCELLED"
        case 0x10d: "H3_REQUEST_INCOMPLETE"
        case 0x10e: "H3_MESSAGE_ERROR"
        case 0x10f: "H3_CONNECT_ERROR"
        case 0x110: "H3_VERSION_FALLBACK"
        default: "0x\(String(code, radix: 16))"
        }
    }

    // MARK: Callbacks

    @inline(__always) private static func with<R>(_ user: UnsafeMutableRawPointer?, _ body: (HTTP3Session) -> R) -> R {
        Unmanaged<HTTP3Session>.fromOpaque(user!)._withUnsafeGuaranteedRef(body)
    }

    private static let failure = Int32(NGTCP2_ERR_CALLBACK_FAILURE)

    static let quicCallbacks: ngtcp2_callbacks = {
        var cb = ngtcp2_callbacks()
        cb.client_initial = ngtcp2_crypto_client_initial_cb
        cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb
        cb.encrypt = ngtcp2_crypto_encrypt_cb
        cb.decrypt = ngtcp2_crypto_decrypt_cb
        cb.hp_mask = ngtcp2_crypto_hp_mask_cb
        cb.recv_retry = ngtcp2_crypto_recv_retry_cb
        cb.update_key = ngtcp2_crypto_update_key_cb
        cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb
        cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb
        cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb
        cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb
        cb.recv_version_negotiation = { _, _, versions, count, user in
            with(user) { $0.offeredVersions = Array(UnsafeBufferPointer(start: versions, count: count)) }
            return 0
        }
        cb.rand = { dest, length, _ in _ = gnutls_rnd(GNUTLS_RND_RANDOM, dest, length) }
        cb.get_new_connection_id = { _, cid, token, length, _ in
            guard gnutls_rnd(GNUTLS_RND_RANDOM, &cid!.pointee.data, length) == 0,
                  gnutls_rnd(GNUTLS_RND_RANDOM, token, Int(NGTCP2_STATELESS_RESET_TOKENLEN)) == 0 else { return failure }
            cid!.pointee.datalen = length
            return 0
        }
        cb.recv_rx_key = { _, level, user in
            level == NGTCP2_CRYPTO_LEVEL_APPLICATION ? with(user) { $0.startHTTP3() } : 0
        }
        cb.handshake_completed = { _, user in
            // When it completed, not when its last datagram arrived: processing that datagram
            // (the server's certificate checked, HTTP/3 set up) is part of the handshake, and
            // was otherwise in no phase (2-5 ms on a first connection).
            with(user) { $0.handshakeCompletedAt = cprobe_monotonic_ns() }
            return 0
        }
        cb.recv_stream_data = { _, flags, sid, _, data, length, user, tag in
            with(user) { $0.streamData(sid, tag, data, length, fin: flags & UInt32(NGTCP2_STREAM_DATA_FLAG_FIN) != 0) }
        }
        cb.acked_stream_data_offset = { _, sid, _, length, user, _ in
            with(user) { s in
                guard let h3 = s.h3 else { return 0 }
                return nghttp3_conn_add_ack_offset(h3, sid, length) == 0 ? 0 : failure
            }
        }
        cb.stream_close = { _, flags, sid, code, user, _ in
            with(user) { s in
                guard let h3 = s.h3 else { return 0 }
                let c = flags & UInt32(NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET) != 0 ? code : UInt64(NGHTTP3_H3_NO_ERROR)
                let rc = nghttp3_conn_close_stream(h3, sid, c)
                if rc == NGHTTP3_ERR_STREAM_NOT_FOUND {
                    if ngtcp2_is_bidi_stream(sid) == 0 { ngtcp2_conn_extend_max_streams_uni(s.conn, 1) }
                    return 0
                }
                return rc == 0 ? 0 : failure
            }
        }
        cb.stream_reset = { _, sid, _, _, user, _ in
            with(user) { s in s.h3.map { nghttp3_conn_shutdown_stream_read($0, sid) == 0 ? 0 : failure } ?? 0 }
        }
        cb.stream_stop_sending = { _, sid, _, user, _ in
            with(user) { s in s.h3.map { nghttp3_conn_shutdown_stream_read($0, sid) == 0 ? 0 : failure } ?? 0 }
        }
        cb.extend_max_stream_data = { _, sid, _, user, _ in
            with(user) { s in s.h3.map { nghttp3_conn_unblock_stream($0, sid) == 0 ? 0 : failure } ?? 0 }
        }
        cb.extend_max_local_streams_bidi = { _, _, user in
            with(user) { s in s.h3 == nil ? 0 : (s.openWaiting() == 0 ? 0 : failure) }
        }
        return cb
    }()

    /// The server will not process streams from `id` on: they end as
    /// `goaway`, and no new ones open on this connection.
    private func receivedGoaway(_ id: Int64) {
        goaway = true
        for i in 0..<exchangeCount where exchanges[i].active && (streams[i] >= id || streams[i] < 0) {
            cancel(i)
            exchanges[i].closeFailure = .goaway(UInt32(NGHTTP3_H3_REQUEST_REJECTED))
            ended.append(i)
        }
    }

    /// 1-RTT keys are in: HTTP/3's control and QPACK streams, then the
    /// requests waiting for them.
    private func startHTTP3() -> Int32 {
        guard ngtcp2_conn_get_max_local_streams_uni(conn) >= 3 else { return HTTP3Session.failure }
        var cb = HTTP3Session.http3Callbacks
        var settings = nghttp3_settings()
        nghttp3_settings_default_versioned(NGHTTP3_SETTINGS_VERSION, &settings)
        settings.qpack_max_dtable_capacity = 4096
        settings.qpack_blocked_streams = 100
        guard nghttp3_conn_client_new_versioned(&h3, NGHTTP3_CALLBACKS_VERSION, &cb, NGHTTP3_SETTINGS_VERSION,
                                                &settings, Self.http3Memory, Unmanaged.passUnretained(self).toOpaque()) == 0 else {
            return HTTP3Session.failure
        }
        var control: Int64 = 0, encoder: Int64 = 0, decoder: Int64 = 0
        guard ngtcp2_conn_open_uni_stream(conn, &control, nil) == 0, nghttp3_conn_bind_control_stream(h3, control) == 0,
              ngtcp2_conn_open_uni_stream(conn, &encoder, nil) == 0, ngtcp2_conn_open_uni_stream(conn, &decoder, nil) == 0,
              nghttp3_conn_bind_qpack_streams(h3, encoder, decoder) == 0 else { return HTTP3Session.failure }
        return openWaiting() == 0 ? 0 : HTTP3Session.failure
    }

    private func streamData(_ sid: Int64, _ tag: UnsafeMutableRawPointer?, _ data: UnsafePointer<UInt8>?, _ length: Int,
                            fin: Bool) -> Int32 {
        guard let h3 else { return 0 }
        if let i = exchange(sid, tag) { exchanges[i].wireBytesIn += length }
        let n = nghttp3_conn_read_stream(h3, sid, data, length, fin ? 1 : 0)
        if n < 0 {
            ngtcp2_connection_close_error_set_application_error(&closeError,
                nghttp3_err_infer_quic_app_error_code(Int32(n)), nil, 0)
            return HTTP3Session.failure
        }
        ngtcp2_conn_extend_max_stream_offset(conn, sid, UInt64(n))
        ngtcp2_conn_extend_max_offset(conn, UInt64(n))
        return 0
    }

    static let http3Callbacks: nghttp3_callbacks = {
        var cb = nghttp3_callbacks()
        cb.begin_headers = { _, sid, user, tag in
            with(user) { s in
                if let i = s.exchange(sid, tag), s.exchanges[i].firstByte == 0 {
                    s.exchanges[i].firstByte = max(s.receivedAt, s.exchanges[i].requestSent)
                }
                return 0
            }
        }
        cb.recv_header = { _, sid, _, name, value, _, user, tag in
            with(user) { s in
                guard let i = s.exchange(sid, tag) else { return 0 }
                let n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value)
                if n.len == 7, memcmp(n.base, ":status", 7) == 0 {
                    var status = 0
                    for k in 0..<v.len { status = status * 10 + Int(v.base[k]) - 48 }
                    s.exchanges[i].status = status
                } else if n.len == 8, s.exchanges[i].status / 100 == 3, memcmp(n.base, "location", 8) == 0 {
                    s.exchanges[i].location = String(decoding: UnsafeBufferPointer(start: v.base, count: v.len), as: UTF8.self)
                }
                return 0
            }
        }
        cb.recv_data = { _, sid, _, length, user, tag in
            with(user) { s in
                if let i = s.exchange(sid, tag) { s.exchanges[i].bodyBytesIn += length }
                ngtcp2_conn_extend_max_stream_offset(s.conn, sid, UInt64(length))
                ngtcp2_conn_extend_max_offset(s.conn, UInt64(length))
                return 0
            }
        }
        cb.deferred_consume = { _, sid, consumed, user, _ in
            with(user) { s in
                ngtcp2_conn_extend_max_stream_offset(s.conn, sid, UInt64(consumed))
                ngtcp2_conn_extend_max_offset(s.conn, UInt64(consumed))
                return 0
            }
        }
        cb.end_stream = { _, sid, user, tag in
            with(user) { s in
                if let i = s.exchange(sid, tag) {
                    s.exchanges[i].endStreamReceived = true
                    s.exchanges[i].lastByte = s.receivedAt
                }
                return 0
            }
        }
        cb.stream_close = { _, sid, code, user, tag in
            with(user) { s in
                if !s.cancelled.isEmpty { s.cancelled[sid] = nil }
                guard let i = s.exchange(sid, tag) else { return 0 }
                if !s.exchanges[i].endStreamReceived {
                    s.exchanges[i].closeFailure = s.goaway && code == UInt64(NGHTTP3_H3_REQUEST_REJECTED)
                        ? .goaway(UInt32(truncatingIfNeeded: code)) : .streamReset(UInt32(truncatingIfNeeded: code))
                }
                // What is not body on the stream: HEADERS (QPACK) and frame headers.
                s.exchanges[i].headerBytesIn = max(0, s.exchanges[i].wireBytesIn - s.exchanges[i].bodyBytesIn)
                s.streams[i] = -1
                s.requests[i] = nil
                s.ended.append(i)
                return 0
            }
        }
        cb.stop_sending = { _, sid, code, user, _ in
            with(user) { s in ngtcp2_conn_shutdown_stream_read(s.conn, sid, code) == 0 ? 0 : Int32(NGHTTP3_ERR_CALLBACK_FAILURE) }
        }
        cb.reset_stream = { _, sid, code, user, _ in
            with(user) { s in ngtcp2_conn_shutdown_stream_write(s.conn, sid, code) == 0 ? 0 : Int32(NGHTTP3_ERR_CALLBACK_FAILURE) }
        }
        cb.shutdown = { _, id, user in
            with(user) { $0.receivedGoaway(id) }
            return 0
        }
        return cb
    }()

    /// Request bodies: handed to nghttp3 whole (the template outlives the stream).
    private static let readBody: nghttp3_read_data_callback = { _, sid, vec, _, flags, user, tag in
        with(user) { s in
            guard let i = s.exchange(sid, tag), let request = s.requests[i] else {
                // A cancelled stream: nothing more to send.
                flags!.pointee |= UInt32(NGHTTP3_DATA_FLAG_EOF)
                return 0
            }
            let fields = request.fields
            vec![0].base = UnsafeMutablePointer(mutating: fields.body.assumingMemoryBound(to: UInt8.self))
            vec![0].len = fields.bodyCount
            flags!.pointee |= UInt32(NGHTTP3_DATA_FLAG_EOF)
            return 1
        }
    }
}

/// A failure setting up QUIC or HTTP/3.
struct HTTP3Error: Error, CustomStringConvertible {
    var description: String
    init(_ text: String) { description = "HTTP/3: " + text }
    init(quic code: Int32) { description = "QUIC: " + String(cString: ngtcp2_strerror(code)) }
}
