import ProbeModel
import COpenSSL
import Synchronization
import Glibc

/// TLS protocol versions a probe may pin.
public enum TLSVersion: String, Sendable, CaseIterable {
    case tls12 = "1.2"
    case tls13 = "1.3"

    var openSSL: Int32 { self == .tls12 ? TLS1_2_VERSION : TLS1_3_VERSION }
}

/// How a client verifies and negotiates TLS.
public struct TLSOptions: Sendable, Hashable {
    public var minimumVersion: TLSVersion? = nil
    public var maximumVersion: TLSVersion? = nil
    /// Verify the chain and the host name (on by default).
    public var verify = true
    /// PEM bundle of trusted CAs; nil: the system store.
    public var caFile: String? = nil
    /// SNI and the name verified; nil: the URL's host.
    public var serverName: String? = nil
    /// ALPN protocols offered, most preferred first.
    public var alpn: [String] = ["http/1.1"]

    public init() {}
}

/// What a TLS handshake negotiated and what the server presented.
public struct TLSDetails: Sendable, Equatable {
    public var version: String
    public var cipher: String
    public var alpn: String?
    public var subject: String
    public var issuer: String
    public var subjectAlternativeNames: String
    /// notAfter, seconds since the epoch.
    public var notAfter: Int64
    /// Whole days from now until notAfter (negative once expired).
    public var daysToExpiry: Int
    public var verified: Bool
}

/// Why a TLS handshake failed, named for people and for machines.
public struct TLSFailure: Sendable, Equatable, Error, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case nameMismatch = "name_mismatch"
        case expired
        case notYetValid = "not_yet_valid"
        case unknownCA = "unknown_ca"
        case selfSigned = "self_signed"
        case verification
        case protocolVersion = "protocol_version"
        case alert
        case handshake
    }
    public var kind: Kind
    public var message: String
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// An OpenSSL client context: configuration shared by every connection of a
/// run (one per ring thread; SSL_CTX is internally locked but nothing here
/// shares it across threads).
final class TLSContext: @unchecked Sendable {
    let pointer: OpaquePointer
    let options: TLSOptions
    /// Sessions give their record buffers back to malloc whenever they are
    /// empty (SSL_MODE_RELEASE_BUFFERS): what thousands of mostly idle probe
    /// connections want. A load run keeps them (two mallocs fewer per
    /// request on a busy connection, ~34 KiB per connection).
    var releasesBuffers = true

    init(_ options: TLSOptions) throws(ConfigurationError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw ConfigurationError(field: "tls", "OpenSSL could not create a context")
        }
        pointer = ctx
        self.options = options
        if cprobe_tls_set_versions(ctx, options.minimumVersion?.openSSL ?? TLS1_2_VERSION,
                                   options.maximumVersion?.openSSL ?? 0) != 0 {
            throw ConfigurationError(field: "tls-min/tls-max", "unsupported TLS version range")
        }
        if let file = options.caFile {
            guard SSL_CTX_load_verify_locations(ctx, file, nil) == 1 else {
                throw ConfigurationError(field: "ca-file", "cannot load '\(file)': \(openSSLError())")
            }
        } else {
            SSL_CTX_set_default_verify_paths(ctx)
        }
        if !options.alpn.isEmpty {
            var wire: [UInt8] = []
            for p in options.alpn {
                guard !p.isEmpty, p.utf8.count < 256 else { throw ConfigurationError(field: "alpn", "bad protocol '\(p)'") }
                wire.append(UInt8(p.utf8.count))
                wire += p.utf8
            }
            // Returns 0 on success (unlike the rest of OpenSSL).
            guard SSL_CTX_set_alpn_protos(ctx, wire, UInt32(wire.count)) == 0 else {
                throw ConfigurationError(field: "alpn", "OpenSSL rejected the ALPN list")
            }
        }
    }

    deinit { SSL_CTX_free(pointer) }

    /// Probe contexts, shared per options (`ClientContextCache`); probes keep `releasesBuffers`.
    static let shared = ClientContextCache { options throws(ConfigurationError) in try TLSContext(options) }
}

/// One TLS client session over memory BIOs: the ring moves ciphertext,
/// OpenSSL never touches the socket.
final class TLSSession {
    enum Progress: Equatable { case wantRead, done, failed(TLSFailure) }

    let ssl: OpaquePointer
    private let verifying: Bool
    /// Pinning the name to verify failed: the handshake must not proceed
    /// unverified.
    private var setupFailure: TLSFailure? = nil
    /// The library refused the SNI name (over 255 bytes): sent without it.
    private(set) var sniRefused = false
    private let input: OpaquePointer   // ciphertext from the network
    private let output: OpaquePointer  // ciphertext for the network

    init(context: TLSContext, host: String) {
        ssl = SSL_new(context.pointer)
        verifying = context.options.verify
        input = BIO_new(BIO_s_mem())
        output = BIO_new(BIO_s_mem())
        SSL_set_bio(ssl, input, output)  // the SSL owns both BIOs now
        SSL_set_connect_state(ssl)
        if context.releasesBuffers { cprobe_tls_release_buffers(ssl) }
        let name = context.options.serverName ?? host
        let isAddress = IPAddress(name) != nil
        // Fails only for a name over 255 bytes, which a URL's host cannot be: the handshake
        // then goes without SNI, and the name check still applies.
        if !isAddress && cprobe_tls_set_sni(ssl, name) != 0 { sniRefused = true }
        if context.options.verify {
            SSL_set_verify(ssl, SSL_VERIFY_PEER, nil)
            let pinned = isAddress ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                                   : SSL_set1_host(ssl, name)
            if pinned != 1 { setupFailure = TLSFailure(kind: .verification, message: "cannot verify the name '\(name)'") }
        } else {
            SSL_set_verify(ssl, SSL_VERIFY_NONE, nil)
        }
    }

    deinit { SSL_free(ssl) }

    /// Ciphertext received from the server.
    func feed(_ bytes: UnsafeRawPointer, count: Int) {
        _ = BIO_write(input, bytes, Int32(count))
    }

    /// Ciphertext waiting to be sent.
    var pendingOutput: Int { cprobe_tls_pending_output(output) }

    /// Moves up to `capacity` bytes of pending ciphertext into `buffer`.
    func takeOutput(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        max(0, Int(BIO_read(output, buffer, Int32(capacity))))
    }

    /// Leaves the thread's OpenSSL error queue empty, so SSL_get_error reads
    /// only this call's failure (the queue is shared by every connection on
    /// the thread). Peeking first: ERR_clear_error on an empty queue still
    /// walks all its slots, ~2.5% of an HTTP/2-over-TLS load run's CPU.
    @inline(__always) private func clearErrors() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    func handshake() -> Progress {
        if let setupFailure { return .failed(setupFailure) }
        clearErrors()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 { return .done }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE { return .wantRead }
        return .failed(failure())
    }

    /// Encrypts `count` plaintext bytes (all of them: memory BIOs never block).
    func write(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        clearErrors()
        return count == 0 || SSL_write(ssl, bytes, Int32(count)) == Int32(count)
    }

    enum ReadResult { case bytes(Int), wantRead, closed, failed(TLSFailure) }

    func read(into buffer: UnsafeMutableRawPointer, capacity: Int) -> ReadResult {
        clearErrors()
        let n = SSL_read(ssl, buffer, Int32(capacity))
        if n > 0 { return .bytes(Int(n)) }
        switch SSL_get_error(ssl, n) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        case SSL_ERROR_ZERO_RETURN: return .closed
        default: return .failed(failure())
        }
    }

    /// Names what went wrong: a verification result when there is one, else
    /// the library's error (alerts, version mismatch).
    private func failure() -> TLSFailure {
        let library = openSSLError()
        let verify = Int32(SSL_get_verify_result(ssl))
        if verifying && verify != X509_V_OK {
            let message = String(cString: X509_verify_cert_error_string(Int(verify)))
            let kind: TLSFailure.Kind = switch verify {
            case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH: .nameMismatch
            case X509_V_ERR_CERT_HAS_EXPIRED: .expired
            case X509_V_ERR_CERT_NOT_YET_VALID: .notYetValid
            case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: .unknownCA
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: .selfSigned
            default: .verification
            }
            return TLSFailure(kind: kind, message: message)
        }
        let lower = library.lowercased()
        if lower.contains("protocol version") || lower.contains("unsupported protocol")
            || lower.contains("no protocols available") {
            return TLSFailure(kind: .protocolVersion, message: Self.reason(library))
        }
        if lower.contains("alert") { return TLSFailure(kind: .alert, message: Self.reason(library)) }
        return TLSFailure(kind: .handshake, message: library.isEmpty ? "handshake failed" : Self.reason(library))
    }

    /// "error:0A00042E:SSL routines::tlsv1 alert protocol version" → the reason.
    private static func reason(_ s: String) -> String {
        s.split(separator: ":", omittingEmptySubsequences: false).last.map(String.init) ?? s
    }

    /// The negotiated ALPN protocol (nil: none), without reading the certificate.
    var alpn: String? {
        var pointer: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &pointer, &length)
        return pointer.map { String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self) }
    }

    /// Negotiated parameters and the server certificate, after the handshake.
    func details(now: Int64 = Int64(time(nil))) -> TLSDetails {
        var d = TLSDetails(version: String(cString: SSL_get_version(ssl)),
                           cipher: SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? "",
                           alpn: alpn, subject: "", issuer: "", subjectAlternativeNames: "", notAfter: 0,
                           daysToExpiry: 0, verified: SSL_get_verify_result(ssl) == X509_V_OK)
        if let cert = SSL_get1_peer_certificate(ssl) {
            defer { X509_free(cert) }
            d.describeCertificate(cert, now: now)
        } else {
            d.verified = false
        }
        return d
    }
}

extension TLSDetails {
    /// Subject, issuer, SAN and expiry of a certificate (OpenSSL's X509,
    /// also for certificates GnuTLS received: QUIC).
    mutating func describeCertificate(_ cert: OpaquePointer, now: Int64) {
        // Each helper answers -1 when OpenSSL could not allocate its buffer: the field says so.
        var text = [CChar](repeating: 0, count: 2048)
        subject = cprobe_tls_name_text(X509_get_subject_name(cert), &text, text.count) < 0 ? "(unavailable)" : cString(text)
        issuer = cprobe_tls_name_text(X509_get_issuer_name(cert), &text, text.count) < 0 ? "(unavailable)" : cString(text)
        subjectAlternativeNames = cprobe_tls_san_text(cert, &text, text.count) < 0 ? "(unavailable)" : cString(text)
        var seconds: Int64 = 0
        if cprobe_tls_not_after(cert, &seconds) == 0 {
            notAfter = seconds
            daysToExpiry = Int((seconds - now) / 86_400) - (seconds < now && (seconds - now) % 86_400 != 0 ? 1 : 0)
        }
    }
}

/// A NUL-terminated C buffer as a String.
func cString(_ buffer: [CChar]) -> String {
    buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// OpenSSL's last error as text (and clears the queue); its code when it has no text.
func openSSLError() -> String {
    var text = [CChar](repeating: 0, count: 256)
    let code = cprobe_tls_last_error(&text, text.count)
    let message = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return message.isEmpty && code != 0 ? "OpenSSL error \(code)" : message
}
