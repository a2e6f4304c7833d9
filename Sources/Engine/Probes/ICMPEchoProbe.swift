import CProbe
import ProbeModel
import Glibc

/// ICMP echo (ping), IPv4 and IPv6, over one ping or raw socket per family.
public enum ICMPEchoProbe: ProbeKind {
    public static let declaration = KindDeclaration.icmp

    public static func makeDriver(_ context: DriverContext) throws -> any ProbeDriver {
        try DatagramDriver(codec: ICMPCodec(preferred: context.settings.icmpSocket, payloadSize: context.settings.size),
                           context: context)
    }
}

/// Why an ICMP socket could not be opened, in words an operator can act on.
public struct ICMPUnavailableError: Error, CustomStringConvertible {
    public var description: String
}

struct ICMPCodec: DatagramCodec {
    let preferred: ICMPSocketKind?
    let payloadSize: Int
    /// The echo id used on raw sockets (ping sockets get theirs from the kernel).
    let identifier = UInt16.random(in: 1...UInt16.max)
    private(set) var kinds: [Int32: ICMPSocketKind] = [:]
    private(set) var reasons: [String] = []

    init(preferred: ICMPSocketKind?, payloadSize: Int) {
        self.preferred = preferred
        self.payloadSize = max(payloadSize, Int(CPROBE_TAG_SIZE))
    }

    var note: String? {
        let used = kinds.sorted { $0.key < $1.key }.map { "\($0.key == AF_INET ? "IPv4" : "IPv6"): \($0.value.rawValue) socket" }
        guard !used.isEmpty else { return nil }
        return "icmp: " + used.joined(separator: ", ") + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))")
    }

    mutating func openSocket(family: Int32) throws -> Int32 {
        let order: [ICMPSocketKind] = preferred.map { [$0] } ?? [.ping, .raw]
        var failures: [String] = []
        for kind in order {
            let fd = cprobe_icmp_socket(family, kind == .ping ? Int32(CPROBE_ICMP_SOCKET_PING) : Int32(CPROBE_ICMP_SOCKET_RAW))
            if fd >= 0 {
                if kind == .raw {
                    let rc = cprobe_icmp_attach_id_filter(fd, family, identifier)
                    if rc < 0 { closeDescriptor(fd); throw SystemError("ICMP id filter", errno: -rc) }
                }
                kinds[family] = kind
                reasons += failures
                return fd
            }
            failures.append(Self.explain(kind, errno: -fd))
        }
        throw ICMPUnavailableError(description: "cannot open an ICMP socket: " + failures.joined(separator: "; "))
    }

    static func explain(_ kind: ICMPSocketKind, errno e: Int32) -> String {
        let why = String(cString: strerror(e))
        switch (kind, e) {
        case (.ping, EACCES), (.ping, EPERM):
            return "ping socket not permitted (\(why)): the sysctl net.ipv4.ping_group_range does not include this process's group; e.g. sysctl -w net.ipv4.ping_group_range='0 2147483647'"
        case (.raw, EPERM), (.raw, EACCES):
            return "raw socket not permitted (\(why)): needs CAP_NET_RAW (run as root or setcap cap_net_raw+ep on the binary)"
        default:
            return "\(kind.rawValue) socket failed: \(why)"
        }
    }

    func buildRequest(into buffer: UnsafeMutablePointer<UInt8>, capacity: Int, family: Int32,
                      tag: cprobe_tag, icmpSequence: UInt16) -> Int {
        var tag = tag
        return Int(cprobe_icmp_build_echo(buffer, capacity, family == AF_INET6 ? 1 : 0, identifier,
                                          icmpSequence, &tag, payloadSize))
    }

    func parseReply(_ buffer: UnsafePointer<UInt8>, length: Int, family: Int32) -> DatagramReply {
        var info = cprobe_icmp_info()
        let raw = kinds[family] == .raw
        let v6: Int32 = family == AF_INET6 ? 1 : 0
        guard cprobe_icmp_parse(buffer, length, v6, raw && v6 == 0 ? 1 : 0, &info) == 0 else { return .ignore }
        // Raw sockets see every process's ICMP: keep only our echo id.
        if raw && info.id != identifier { return .ignore }
        if info.is_echo_reply != 0 {
            guard info.has_tag != 0 else { return .ignore }
            return .reply(info.tag, ttl: info.ttl)
        }
        // The quoted request carries our tag unless the router quoted only
        // 8 bytes (RFC 792's minimum); then the sequence is the slot.
        return .error(info.has_tag != 0 ? info.tag : nil, slotHint: raw ? UInt32(info.sequence) : nil,
                      .unreachable(type: info.type, code: info.code))
    }

    func outcome(ofQueuedError entry: UnsafePointer<cprobe_errqueue_entry>) -> ProbeOutcome {
        .unreachable(type: entry.pointee.type, code: entry.pointee.code)
    }
}
